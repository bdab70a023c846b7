"""DataFrames of rows the driver already holds (a stage's small outputs computed in Python).

``spark.createDataFrame(rows, ddl)`` makes an RDD-backed relation whose size Spark cannot estimate, so a
writer cannot tell it is small (:func:`pipelines.core.lakehouse.write_commit` commits a small local output
with delta-rs, a large one with Spark); built from an Arrow table it is a local relation of known size.
"""
from __future__ import annotations

import logging
from typing import Sequence

log = logging.getLogger("lakesieve.local_frames")


def local_frame(spark, rows: Sequence[Sequence], ddl: str):
    """``rows`` (tuples in the order of ``ddl``'s columns; structs as tuples) as a DataFrame of schema ``ddl``
    backed by an Arrow table; Spark's row conversion where Arrow cannot take them (Spark Connect sends
    either the same way)."""
    schema = spark.createDataFrame([], ddl).schema
    try:
        import pyarrow as pa
        from pyspark.sql.pandas.types import to_arrow_schema

        arrow_schema = to_arrow_schema(schema)
        columns = list(zip(*rows)) if rows else [[] for _ in schema.names]
        table = pa.Table.from_arrays([pa.array(list(c), type=f.type) for c, f in zip(columns, arrow_schema)],
                                     schema=arrow_schema)
        return spark.createDataFrame(table, schema)
    except Exception as exc:  # noqa: BLE001 - a value Arrow's conversion refuses: Spark's own conversion
        log.debug("rows for '%s' built by Spark's row conversion (%s)", ddl[:60], exc)
        return spark.createDataFrame(list(rows), ddl)
