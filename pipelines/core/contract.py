"""Schema contracts: the columns a stage needs and adds, checked before any Spark action.

Following pyspark.ml's ``transformSchema`` and NeMo-Curator's declared ``inputs()``: a stage states
the columns it reads by name and kind, and :func:`check_columns` raises
:class:`SchemaContractError` naming the first missing or mistyped column and the table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.core.errors import DataError, SchemaContractError

_INTEGER = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
_FLOAT = (T.FloatType, T.DoubleType, T.DecimalType)


def _is_kind(dtype: T.DataType, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "string":
        return isinstance(dtype, (T.StringType, T.VarcharType, T.CharType))
    if kind == "integer":
        return isinstance(dtype, _INTEGER)
    if kind == "numeric":
        return isinstance(dtype, _INTEGER + _FLOAT)
    if kind == "binary":
        return isinstance(dtype, T.BinaryType)
    if kind == "boolean":
        return isinstance(dtype, T.BooleanType)
    if kind == "id":  # ids may be strings or integers
        return isinstance(dtype, (T.StringType,) + _INTEGER)
    if kind == "vector":
        return isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, (T.FloatType, T.DoubleType))
    if kind == "timestamp":
        return isinstance(dtype, (T.TimestampType, T.TimestampNTZType, T.DateType))
    if kind == "float":
        return isinstance(dtype, (T.FloatType, T.DoubleType))
    if kind == "array":
        return isinstance(dtype, T.ArrayType)
    if kind == "map":
        return isinstance(dtype, T.MapType)
    if kind == "struct":
        return isinstance(dtype, T.StructType)
    raise ValueError(f"unknown column kind {kind!r}")


KINDS = ("any", "string", "integer", "numeric", "float", "binary", "boolean", "id", "vector", "timestamp",
         "array", "map", "struct")


@dataclass(frozen=True)
class Column:
    """A column a stage reads or writes: its name and kind (one of :data:`KINDS`)."""

    name: str
    kind: str = "any"
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column kind {self.kind!r} is not one of {KINDS}")


def check_columns(df: DataFrame, columns: Iterable[Column], table: str) -> None:
    """Raise :class:`SchemaContractError` for the first column of ``columns`` that ``df`` lacks or mistypes."""
    fields = {f.name: f.dataType for f in df.schema.fields}
    lower = {name.lower(): name for name in fields}
    for col in columns:
        if col.name not in fields:
            hint = f" (did you mean '{lower[col.name.lower()]}'?)" if col.name.lower() in lower else ""
            raise SchemaContractError(
                f"table '{table}' has no column '{col.name}'{hint}; it has: {', '.join(fields) or '(none)'}"
            )
        dtype = fields[col.name]
        if not _is_kind(dtype, col.kind):
            raise SchemaContractError(
                f"table '{table}' column '{col.name}' has type {dtype.simpleString()}, but {col.kind} is needed"
            )


def check_output(df: DataFrame, columns: Sequence[Column], table: str, *, passthrough: bool = False) -> None:
    """Check a stage's output against its declaration before it is committed (no Spark action).

    Every declared column must be there with its kind; unless ``passthrough`` (the input's own columns
    follow the declared ones), a column the declaration does not list is an error too. Raises
    :class:`SchemaContractError` naming the table and the column.
    """
    check_columns(df, columns, table)
    if passthrough:
        return
    declared = {c.name for c in columns}
    extra = [f.name for f in df.schema.fields if f.name not in declared]
    if extra:
        raise SchemaContractError(
            f"table '{table}' has column '{extra[0]}' that its declaration does not list; "
            f"declared: {', '.join(c.name for c in columns)}")


NULL_ID = "null_id"


def null_id_first(reason):
    """``reason`` (a Column) with a null id named first: a row without an id cannot be kept, matched or
    joined, so every stage sets it aside with this reason instead of letting it vanish in a join."""
    return F.when(F.col("id").isNull(), F.lit(NULL_ID)).otherwise(reason)


def check_unique_ids(df: DataFrame, table: str, examples: int = 5) -> None:
    """Raise :class:`DataError` showing example ids when an id occurs more than once (an action, run
    before any output is written; it collects at most ``examples`` ids). Null ids are not duplicates:
    they are set aside (:func:`null_id_first`)."""
    dupes = (df.where(F.col("id").isNotNull()).groupBy("id").count().where(F.col("count") > 1)
             .orderBy("id").limit(examples).collect())
    if dupes:
        raise duplicate_ids_error(table, [(r["id"], r["count"]) for r in dupes])


def duplicate_ids_error(table: str, examples) -> DataError:
    """The error of :func:`check_unique_ids` for ``examples``: (id, times) pairs, smallest id first."""
    shown = ", ".join(f"{i!r} (x{n})" for i, n in examples)
    return DataError(f"table '{table}' column 'id' has duplicate values, e.g. {shown}; ids must be unique")


# A transformation may return, beside its outputs, a dict of measurements of its own run under this
# key (e.g. seconds per step); the runner adds them to the run's metrics (ledger, CLI summary).
STAGE_METRICS = "_metrics"
