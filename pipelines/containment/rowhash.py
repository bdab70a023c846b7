"""Canonical, typed, null-aware 64-bit row hashes (R2D2 content pruning, Shah et al. SIGMOD 2024, §4.3).

Equal rows always get equal hashes, so a sampled child row whose hash is missing from the parent's
projected hashes is proof that the child is not contained; a collision can only let an edge
through to exact verification, never drop a true containment. Recipes use the same hash for row
keys and for the order-independent checksum.

The hash is a native Spark expression (``xxhash64`` over canonical values), not a Python UDF: on
the 2-core machines this project targets, a Python worker round trip per partition costs more than
the rest of content pruning together. Canonical encoding, per column, by *type family* so that a
value and its widened cast hash alike (int -> bigint, float -> double, decimal(p,s) -> decimal(p',s')):

* integers (byte, short, int, long) and booleans: the value as a long;
* floating point: the value widened to a double (a float hashes like the double it widens to), hashed
  as Spark's ``xxhash64`` hashes a double (its bits, every NaN one value, -0.0 as 0.0), followed by a
  negative-zero flag, so -0.0 and 0.0 hash apart: a checksum must see every bit a restore could
  change. This is checksum version 2 (:data:`CHECKSUM_VERSION`, ``v2:`` in the checksum text). Version
  1 (a checksum text without a prefix, written before 2026-12-08) hashed the double's text instead
  (Java's ``Double.toString``, which changed in JDK 19, so a version 1 checksum is only portable
  between JVMs of one side of that change); recipes of either version are verified by their own;
* decimals: the decimal text without trailing zeros (``1.50`` and ``1.500`` hash alike);
* strings: the UTF-8 string; dates: days since the epoch; timestamps: microseconds since the epoch;
* every column also contributes an is-null flag, so ``(null, 1)`` and ``(1, null)`` differ (Spark's
  ``xxhash64`` alone skips nulls).

Columns combine in the order given; callers pass them in :func:`canonical_order`.
"""
from __future__ import annotations

from typing import Iterable, Sequence

SEED = 0x2D2D  # xxhash64's seed is an int; fixed so hashes are stable across runs and machines
CHECKSUM_VERSION = 2  # how floating point is hashed (see the module docstring); recipes record it


def checksum_version(checksum: str | None) -> int:
    """The hash version a recipe's checksum text was computed with (``v2:...``; no prefix: version 1)."""
    return int(checksum.split(":", 1)[0][1:]) if checksum and checksum.startswith("v") else 1


def canonical_order(names: Iterable[str]) -> list[str]:
    """Column names in the order hashes combine them: case-insensitive name order."""
    return sorted(names, key=lambda n: (n.lower(), n))


def exact_float(col):
    """A float or double Column as the exact text of its double value: injective on doubles (Java's
    ``Double.toString``), so -0.0 and 0.0 differ, and all NaNs are 'NaN'. Shared by the row hash and
    the exact verification (:mod:`pipelines.containment.verify`), so both are bit-exact alike."""
    return col.cast("double").cast("string")


def canonical_value(col, dtype):
    """The canonical Spark Column for one value of type ``dtype`` (see the module docstring)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(dtype, (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.BooleanType)):
        return col.cast("bigint")
    if isinstance(dtype, (T.FloatType, T.DoubleType)):
        return exact_float(col)
    if isinstance(dtype, T.DecimalType):
        text = col.cast("string")
        trimmed = F.regexp_replace(F.regexp_replace(text, r"(\.[0-9]*?)0+$", "$1"), r"\.$", "")
        return F.when(trimmed == "-0", F.lit("0")).otherwise(trimmed)
    if isinstance(dtype, T.DateType):
        return F.unix_date(col).cast("bigint")
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        return F.unix_micros(col.cast("timestamp"))
    if isinstance(dtype, (T.StringType, T.VarcharType, T.CharType)):
        return col.cast("string")
    raise TypeError(f"row hashing does not support the type {dtype.simpleString()}")


def canonical_parts(col, dtype, version: int = CHECKSUM_VERSION) -> list:
    """The Columns one value of type ``dtype`` contributes to the hash, before its is-null flag: a double
    and its negative-zero flag (version 2 floating point), else :func:`canonical_value`."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if version >= 2 and isinstance(dtype, (T.FloatType, T.DoubleType)):
        d = col.cast("double")
        negative_zero = (F.when(d.isNull(), F.lit(None)).when(d == 0.0, d.cast("string") == F.lit("-0.0"))
                         .otherwise(F.lit(False)))
        return [d, negative_zero]
    return [canonical_value(col, dtype)]


def hash_of(typed_columns, *, seed: int = SEED, version: int = CHECKSUM_VERSION):
    """A long Column: the canonical hash of ``(Column, DataType)`` pairs, in the order given."""
    from pyspark.sql import functions as F

    parts = []
    for ref, dtype in typed_columns:
        parts += [*canonical_parts(ref, dtype, version), ref.isNull()]
    return F.xxhash64(F.lit(seed), *parts) if parts else F.lit(seed).cast("bigint")


def row_hash(df, columns: Sequence[str] | None = None, *, seed: int = SEED, version: int = CHECKSUM_VERSION):
    """A long Column: the canonical hash of ``columns`` of ``df`` (default all, canonical order)."""
    from pyspark.sql import functions as F

    cols = list(columns) if columns is not None else canonical_order(df.columns)
    types = {f.name: f.dataType for f in df.schema.fields}
    return hash_of([(F.col("`" + c.replace("`", "``") + "`"), types[c]) for c in cols], seed=seed, version=version)


def hash_rows(df, columns: Sequence[str] | None = None, *, seed: int = SEED, version: int = CHECKSUM_VERSION):
    """A DataFrame with one column ``row_hash`` (long): the canonical hash of each row of ``df``."""
    return df.select(row_hash(df, columns, seed=seed, version=version).alias("row_hash"))


def with_row_hash(df, columns: Sequence[str] | None = None, *, seed: int = SEED, version: int = CHECKSUM_VERSION):
    """``df`` with a ``row_hash`` (long) column appended: the canonical hash of ``columns``."""
    return df.withColumn("row_hash", row_hash(df, columns, seed=seed, version=version))


def checksum_columns():
    """Aggregate columns over ``row_hash`` giving the order-independent checksum parts.

    The sums of the high and the low 32 bits of each hash (each sum fits a long below 2^31 rows):
    order-independent and sensitive to every row's multiplicity.
    """
    from pyspark.sql import functions as F

    h = F.col("row_hash")
    return [F.count(F.lit(1)).alias("rows"), F.sum(F.shiftrightunsigned(h, 32)).alias("sum_high"),
            F.sum(h.bitwiseAND(F.lit(0xFFFFFFFF))).alias("sum_low")]


def format_checksum(rows: int, sum_high: int | None, sum_low: int | None, version: int = CHECKSUM_VERSION) -> str:
    """The checksum text stored in recipes: ``v<version>:rows:sum_high:sum_low`` (version 1: no prefix)."""
    text = f"{int(rows)}:{int(sum_high or 0)}:{int(sum_low or 0)}"
    return text if version == 1 else f"v{version}:{text}"
