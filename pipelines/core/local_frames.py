"""DataFrames of rows the driver already holds (a stage's outputs computed in Python).

``spark.createDataFrame(rows, ddl)`` makes an RDD-backed relation whose size Spark cannot estimate, so a
writer cannot tell it is small; built from an Arrow table it is a local relation of known size, and the table
is kept with the DataFrame (:func:`held_arrow`) so that :func:`pipelines.core.lakehouse.write_commit` commits
it by delta-rs without collecting the rows back from the JVM (1 M rows: 2.6 s).

Where the session has not been started (:class:`pipelines.core.session.DeferredSession`), a table of the driver's
rows, or an input that is plain Parquet files, is a :class:`DeferredFrame`: its schema, its rows (Arrow) or its
files without a JVM, made into a Spark DataFrame only when something asks for one.
"""
from __future__ import annotations

import functools
import logging
import re
from typing import Sequence

log = logging.getLogger("lakesieve.local_frames")
_ARROW_ATTRIBUTE = "_lakesieve_arrow"


class DeferredFrame:
    """A table whose Spark DataFrame is made on first use: rows the driver holds as Arrow (:attr:`arrow`), or the
    Parquet files that hold exactly its rows (:attr:`files`), with its Spark schema. ``schema``, ``columns``,
    ``sparkSession`` (the session it will be made in, still unstarted) and :func:`held_arrow` /
    :func:`pipelines.core.lakehouse.plain_scan_files` need no JVM; any other attribute makes the DataFrame (starting
    the session if it was not) and is the DataFrame's, so Spark code takes it as it is."""

    def __init__(self, session, schema, *, arrow=None, files=None) -> None:
        self._session, self._schema, self._arrow, self._files, self._frame = session, schema, arrow, files, None

    @property
    def schema(self):
        return self._schema

    @property
    def columns(self) -> list[str]:
        return list(self._schema.names)

    @property
    def sparkSession(self):  # noqa: N802 - DataFrame's name
        return self._session

    @property
    def arrow(self):
        return self._arrow

    @property
    def files(self) -> list[str] | None:
        return None if self._files is None else list(self._files)

    def frame(self):
        """The Spark DataFrame (made, and the session started, on the first call)."""
        if self._frame is None:
            from pipelines.core.session import DeferredSession

            spark = self._session.get() if isinstance(self._session, DeferredSession) else self._session
            if self._arrow is not None:
                self._frame = _spark_frame(spark, self._arrow, self._schema)
            else:
                self._frame = spark.read.schema(self._schema).parquet(*self._files)
        return self._frame

    def __getattr__(self, name: str):
        if name.startswith("__") or name in _OWN:  # (an own attribute is missing only before __init__: a copy)
            raise AttributeError(name)
        return getattr(self.frame(), name)

    def __getitem__(self, item):
        return self.frame()[item]


_OWN = frozenset({"_session", "_schema", "_arrow", "_files", "_frame"})


def made_frame(df):
    """``df`` itself, or the Spark DataFrame of a :class:`DeferredFrame`."""
    return df.frame() if isinstance(df, DeferredFrame) else df


def from_arrow(spark, table, schema, *, defer: bool = False):
    """``spark.createDataFrame(table, schema)``, with ``table`` (cast to the frame's Arrow types) kept for
    :func:`held_arrow`; a :class:`DeferredFrame` of ``table`` where ``spark`` has not been started, or with
    ``defer`` (the rows go to the JVM only if Spark code asks for the frame: a run whose writes, metrics and
    checks read the Arrow rows runs no Spark job for them)."""
    from pipelines.core.session import not_started

    if defer or not_started(spark):
        import pyarrow as pa
        from pyspark.sql.pandas.types import to_arrow_schema

        return DeferredFrame(spark, schema, arrow=table.cast(pa.schema(to_arrow_schema(schema))))
    return _spark_frame(spark, table, schema)


def _spark_frame(spark, table, schema):
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
    if isinstance(df, DeferredFrame):
        return df.arrow
    return getattr(df, _ARROW_ATTRIBUTE, None)


_PRIMITIVES = {"string": "StringType", "bigint": "LongType", "long": "LongType", "int": "IntegerType",
               "integer": "IntegerType", "smallint": "ShortType", "tinyint": "ByteType", "double": "DoubleType",
               "float": "FloatType", "boolean": "BooleanType", "date": "DateType", "timestamp": "TimestampType",
               "timestamp_ntz": "TimestampNTZType", "binary": "BinaryType"}


@functools.lru_cache(maxsize=None)
def ddl_schema(ddl: str):
    """The StructType of a DDL text (``name type, ...``; types: the primitives, ``decimal(p,s)``, ``array<t>``,
    ``map<k,v>``, ``struct<name:t,...>``), parsed in Python: Spark's own parser is a JVM call (the first one of
    a run costs seconds). A text outside that grammar is parsed by Spark."""
    from pyspark.sql import types as T

    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\d+|[<>(),:]", ddl)
    if "".join(tokens) != re.sub(r"\s+", "", ddl):
        raise ValueError(f"not a DDL text this parser reads: {ddl[:60]}")
    pos = 0

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = tokens[pos]
        if expected is not None and tok.lower() != expected:
            raise ValueError(f"expected '{expected}' at '{tok}' in {ddl[:60]}")
        pos += 1
        return tok

    def data_type():
        name = take().lower()
        if name in _PRIMITIVES:
            return getattr(T, _PRIMITIVES[name])()
        if name == "decimal":
            take("(")
            precision = int(take())
            take(",")
            scale = int(take())
            take(")")
            return T.DecimalType(precision, scale)
        take("<")
        if name == "array":
            out = T.ArrayType(data_type(), True)
        elif name == "map":
            key = data_type()
            take(",")
            out = T.MapType(key, data_type(), True)
        elif name == "struct":
            fields = [field(":")]
            while tokens[pos] == ",":
                take(",")
                fields.append(field(":"))
            out = T.StructType(fields)
        else:
            raise ValueError(f"type '{name}' in {ddl[:60]}")
        take(">")
        return out

    def field(separator: str | None = None):
        name = take()
        if separator is not None:
            take(separator)
        return T.StructField(name, data_type(), True)

    fields = [field()]
    while pos < len(tokens):
        take(",")
        fields.append(field())
    return T.StructType(fields)


def local_frame(spark, rows: Sequence[Sequence], ddl: str, *, defer: bool = False):
    """``rows`` (tuples in the order of ``ddl``'s columns; structs as tuples) as a DataFrame of schema ``ddl``
    made by :func:`from_arrow` (``defer``: see there); Spark's row conversion where Arrow cannot take them."""
    try:
        schema = ddl_schema(ddl)
    except (ValueError, IndexError):
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
    return from_arrow(spark, table, schema, defer=defer)
