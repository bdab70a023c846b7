"""``lakesieve demo``: write the demo datasets, then run every finished stage on them.

Datasets go under ``<lakehouse>/demo/<dataset>/``; a dataset already written by the same
generator version is left as it is, so a second ``make demo`` only re-runs stages (which the
ledger skips when nothing changed).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from pipelines import demo_data
from pipelines.core import lakehouse
from pipelines.core.tables import TableRef

DEMO_SEED = 0


def dataset_root(root: str | Path, dataset: str) -> Path:
    return Path(root) / "demo" / dataset


def _one_chunk_strings(frame):
    """The frame with each pandas string column rebuilt as one Arrow chunk.

    A ``pd.concat`` of pandas 3 string columns keeps several Arrow chunks; pyspark's Arrow path cannot
    convert those ("Cannot convert pyarrow.lib.ChunkedArray to pyarrow.lib.Array") and falls back to
    the slow row-by-row path with a warning.
    """
    import pandas as pd

    strings = [c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)]
    if not strings:
        return frame
    frame = frame.copy()
    for c in strings:
        frame[c] = frame[c].astype(object).astype(frame[c].dtype)
    return frame


def write_dataset(spark, root: str | Path, dataset: str, *, seed: int = DEMO_SEED, regenerate: bool = False) -> list[str]:
    """Write one dataset's tables; return their paths. Skips a dataset already complete."""
    base = dataset_root(root, dataset)
    marker = base / "_demo_complete.json"
    if marker.exists() and not regenerate:
        return json.loads(marker.read_text())["tables"]
    if base.exists():
        shutil.rmtree(base)  # demo data only: generated, never user data
    written = []
    for table in demo_data.generate(dataset, seed=seed):
        path = base / table.name
        frame = _one_chunk_strings(table.frame)
        df = spark.createDataFrame(frame, schema=table.schema) if table.schema else spark.createDataFrame(frame)
        if table.format == "delta":
            lakehouse.write_table(df, TableRef(path=str(path)), f"demo-{dataset}-seed{seed}", partition_by=table.partition_by)
        elif table.format == "parquet":
            df.write.mode("overwrite").partitionBy(*table.partition_by).parquet(lakehouse.spark_path(str(path)))
        elif table.format == "csv":
            path.parent.mkdir(parents=True, exist_ok=True)
            table.frame.to_csv(path.with_suffix(".csv") if not str(path).endswith(".csv") else path, index=False)
            path = path if str(path).endswith(".csv") else path.with_suffix(".csv")
        else:
            raise ValueError(f"demo table {table.name}: unknown format {table.format}")
        written.append(str(path))
    marker.write_text(json.dumps({"seed": seed, "tables": written}, indent=1))
    return written


def write_all(spark, root: str | Path, *, regenerate: bool = False) -> dict[str, list[str]]:
    return {name: write_dataset(spark, root, name, regenerate=regenerate) for name in demo_data.available()}
