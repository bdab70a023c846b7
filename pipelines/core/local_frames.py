"""DataFrames of rows the driver already holds (a stage's outputs computed in Python).

``spark.createDataFrame(rows, ddl)`` makes an RDD-backed relation whose size Spark cannot estimate, so a
writer cannot tell it is small; built from an Arrow table it is a local relation of known size, and the table
is kept with the DataFrame (:func:`held_arrow`) so that :func:`pipelines.core.lakehouse.write_commit` commits
it by delta-rs without collecting the rows back from the JVM (1 M rows: 2.6 s).
"""
from __future__ import annotations

import logging
from typing import Sequence

log = logging.getLogger("lakesieve.local_frames")
_ARROW_ATTRIBUTE = "_lakesieve_arrow"


def from_arrow(spark, table, schema):
    """``spark.createDataFrame(table, schema)``, with ``table`` (cast to the frame's Arrow types) kept for
    :func:`held_arrow`."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    frame = spark.createDataFrame(table, schema)
    try:
        setattr(frame, _ARROW_ATTRIBUTE, table.cast(pa.schema(to_arrow_schema(frame.schema))))
    except Exception as exc:  # noqa: BLE001 - only a shortcut: without it the rows are collected
        log.debug("Arrow rows not kept with the frame (%s)", exc)
    return frame


def held_arrow(df):
    """The Arrow table ``df`` was made from by :func:`from_arrow` (None for any other DataFrame, including
    one derived from it)."""
    return getattr(df, _ARROW_ATTRIBUTE, None)


def local_frame(spark, rows: Sequence[Sequence], ddl: str):
    """``rows`` (tuples in the order of ``ddl``'s columns; structs as tuples) as a DataFrame of schema ``ddl``
    made by :func:`from_arrow`; Spark's row conversion where Arrow cannot take them."""
    schema = spark.createDataFrame([], ddl).schema
    try:
        import pyarrow as pa
        from pyspark.sql.pandas.types import to_arrow_schema

        arrow_schema = to_arrow_schema(schema)
        columns = list(zip(*rows)) if rows else [[] for _ in schema.names]
        table = pa.Table.from_arrays([pa.array(list(c), type=f.type) for c, f in zip(columns, arrow_schema)],
                                     schema=arrow_schema)
    except Exception as exc:  # noqa: BLE001 - a value Arrow's conversion refuses: Spark's own conversion
        log.debug("rows for '%s' built by Spark's row conversion (%s)", ddl[:60], exc)
        return spark.createDataFrame(list(rows), ddl)
    return from_arrow(spark, table, schema)
