"""Reading a lake table into the driver as Arrow, with the values Spark reads (the containment driver engine).

Local Parquet files (a Parquet table, or a Delta snapshot's data files) are read with pyarrow, with hive
partition values taken from the folder names as Spark takes them, and every column cast to the Arrow
type of its Spark type (a strict cast: a value that would change raises, and the table is then read by
Spark instead). Anything else (CSV, catalog tables, Delta tables with deletion vectors or column
mapping, Spark expressions) is one Spark job, ``DataFrame.toArrow``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import pyarrow as pa

log = logging.getLogger("lakesieve.containment")


def _files(base: str) -> list[Path]:
    root = Path(base)
    if root.is_file():
        return [root]
    return sorted(f for f in root.rglob("*.parquet")
                  if not any(part.startswith(("_", ".")) for part in f.relative_to(root).parts))


def read_local(schema, columns: Sequence[str], files: Sequence[str] | None, base: str) -> pa.Table | None:
    """``columns`` of the Parquet ``files`` (default: every Parquet file under ``base``) with hive partitions under
    ``base``, cast to the Arrow types of ``schema``'s (a Spark StructType) fields; None when pyarrow cannot give
    exactly what Spark reads (a missing column, a cast that would change a value, an unreadable file)."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import to_arrow_type

    try:
        paths = [Path(f) for f in files] if files is not None else _files(base)
        if not paths:
            return None
        fields = {f.name: f for f in schema.fields}
        stored = set(pq.read_schema(paths[0]).names)
        parts = [name for name in fields if name not in stored]
        partitioning = (ds.partitioning(pa.schema([(n, pa.string()) for n in parts]), flavor="hive")
                        if parts else None)
        base_dir = base if Path(base).is_dir() else str(Path(base).parent)
        dataset = ds.dataset([str(p) for p in paths], format="parquet", partitioning=partitioning,
                             partition_base_dir=base_dir)
        table = dataset.to_table(columns=list(columns))
        out = []
        for name in columns:
            want = to_arrow_type(fields[name].dataType)
            col = table.column(name)
            out.append(col if col.type == want else col.cast(want, safe=True))
        return pa.table(out, names=list(columns))
    except Exception as exc:  # noqa: BLE001 - any doubt: Spark reads it
        log.debug("read in Spark instead of pyarrow: %s", exc)
        return None


def spark_arrow(df, columns: Sequence[str], expressions: Mapping[str, str]) -> pa.Table:
    """``columns`` and ``expressions`` (alias -> SQL) of ``df``, computed by Spark, as one Arrow table."""
    quote = lambda n: "`" + n.replace("`", "``") + "`"  # noqa: E731
    exprs = [quote(c) for c in columns] + [f"{sql} AS {quote(alias)}" for alias, sql in expressions.items()]
    return df.selectExpr(*exprs).toArrow()
