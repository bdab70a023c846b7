"""Canonical, typed, null-aware 64-bit row hashes (R2D2 content pruning, Shah et al. SIGMOD 2024, §4.3).

The kernel (:func:`row_hashes`) works on Arrow arrays with numpy and no Spark. Equal rows always get
equal hashes, so a sampled child row whose hash is missing from the parent's projected hashes is
proof that the child is not contained. A collision can only let an edge through to exact
verification, never drop a true containment.

Canonical encoding, per column, by *type family* so that a value and its widened cast hash alike
(int -> bigint, float -> double, decimal(p,s) -> decimal(p',s')):

* integers (byte, short, int, long) and booleans: the int64 value;
* floating point (float, double): the float64 value with every NaN made one NaN and -0.0 made 0.0
  (the same normalisation Spark applies when it groups rows, so it matches except-all);
* decimals: the normalised decimal text (trailing zeros dropped), hashed as a string;
* strings: SipHash of the UTF-8 bytes (``pandas.util.hash_array`` with a fixed key);
* dates: days since the epoch; timestamps: microseconds since the epoch;
* null: a fixed constant distinct from every value's hash position (the column index is mixed in).

Each family carries its own tag, so the int 1 and the string "1" differ. Columns are combined in the
order given; callers pass them in a canonical order (:func:`canonical_order`).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Iterable, Iterator, Sequence

import numpy as np

SEED = 0x5EED_2D2D_0000_0001
_STRING_KEY = "lakesieve-r2d2-k"  # 16 bytes: pandas' SipHash key
_NULL = np.uint64(0x6E75_6C6C_6E75_6C6C)
_TAGS = {"int": 1, "float": 2, "decimal": 3, "string": 4, "date": 5, "timestamp": 6}
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_CANON_NAN = np.uint64(0x7FF8000000000000)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective avalanche on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        return x ^ (x >> np.uint64(31))


def canonical_order(names: Iterable[str]) -> list[str]:
    """Column names in the order hashes combine them: case-insensitive name order."""
    return sorted(names, key=lambda n: (n.lower(), n))


def _family(pa, typ) -> str:
    t = pa.types
    if t.is_integer(typ) or t.is_boolean(typ):
        return "int"
    if t.is_floating(typ):
        return "float"
    if t.is_decimal(typ):
        return "decimal"
    if t.is_string(typ) or t.is_large_string(typ):
        return "string"
    if t.is_date(typ):
        return "date"
    if t.is_timestamp(typ):
        return "timestamp"
    raise TypeError(f"row hashing does not support the Arrow type {typ}")


def _string_hashes(values: list) -> np.ndarray:
    import pandas as pd

    arr = np.array(["" if v is None else v for v in values], dtype=object)
    return pd.util.hash_array(arr, encoding="utf8", hash_key=_STRING_KEY, categorize=False).astype(np.uint64)


def column_hashes(array) -> np.ndarray:
    """The canonical uint64 hash of each value of one Arrow array (nulls -> a constant)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    family = _family(pa, array.type)
    n = len(array)
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if family == "int":
        bits = np.asarray(pc.fill_null(array.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)).view(np.uint64)
    elif family == "float":
        vals = np.array(pc.fill_null(array.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False), dtype=np.float64)
        vals[vals == 0.0] = 0.0  # -0.0 == 0.0, so this writes +0.0 over both
        bits = vals.view(np.uint64).copy()
        bits[np.isnan(vals)] = _CANON_NAN
    elif family == "decimal":
        texts = [None if v is None else format(Decimal(v).normalize(), "f") for v in array.to_pylist()]
        bits = _string_hashes(texts)
    elif family == "string":
        bits = _string_hashes(array.to_pylist())
    elif family == "date":
        bits = np.asarray(pc.fill_null(array.cast(pa.int32()), 0).to_numpy(zero_copy_only=False)).astype(np.int64).view(np.uint64)
    else:  # timestamp: microseconds since the epoch whatever the unit or zone
        micros = array.cast(pa.timestamp("us", tz=array.type.tz)).cast(pa.int64())
        bits = np.asarray(pc.fill_null(micros, 0).to_numpy(zero_copy_only=False)).view(np.uint64)
    with np.errstate(over="ignore"):
        hashed = _mix(bits ^ (np.uint64(_TAGS[family]) * _GOLDEN))
    out = np.where(valid, hashed, _NULL) if n else hashed
    return out.astype(np.uint64)


def row_hashes(columns: Sequence, seed: int = SEED) -> np.ndarray:
    """The int64 hash of each row of ``columns`` (Arrow arrays of equal length), in the given order."""
    n = len(columns[0]) if columns else 0
    h = np.full(n, np.uint64(seed), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for position, array in enumerate(columns):
            h = _mix(h ^ (column_hashes(array) + np.uint64(position + 1) * _GOLDEN))
    return h.view(np.int64)


def checksum_parts(hashes: np.ndarray) -> tuple[int, int, int]:
    """(rows, sum of high 32 bits, sum of low 32 bits): an order-independent multiset checksum."""
    u = hashes.view(np.uint64)
    return len(u), int((u >> np.uint64(32)).sum(dtype=np.uint64)), int((u & np.uint64(0xFFFFFFFF)).sum(dtype=np.uint64))


# ---- Spark wrapper ------------------------------------------------------------------------------

def _batches(seed: int) :
    def fn(batches: Iterator) -> Iterator:
        import pyarrow as pa

        for batch in batches:
            hashes = row_hashes(batch.columns, seed)
            yield pa.RecordBatch.from_arrays([pa.array(hashes, type=pa.int64())], names=["row_hash"])

    return fn


def hash_rows(df, columns: Sequence[str] | None = None, *, seed: int = SEED):
    """A DataFrame with one column ``row_hash`` (long): the canonical hash of each row of ``df``.

    ``columns`` (default: all, in :func:`canonical_order`) picks and orders the hashed columns.
    """
    cols = list(columns) if columns is not None else canonical_order(df.columns)
    return df.select(*[df[c] for c in cols]).mapInArrow(_batches(seed), "row_hash long")


def checksum_columns():
    """Aggregate columns over ``row_hash`` giving the order-independent checksum parts."""
    from pyspark.sql import functions as F

    h = F.col("row_hash")
    high = F.shiftrightunsigned(h, 32)
    low = F.col("row_hash").bitwiseAND(F.lit(0xFFFFFFFF))
    return [F.count(F.lit(1)).alias("rows"), F.sum(high).alias("sum_high"), F.sum(low).alias("sum_low")]


def format_checksum(rows: int, sum_high: int | None, sum_low: int | None) -> str:
    """The checksum text stored in recipes: ``rows:sum_high:sum_low`` (sums of the hash halves)."""
    return f"{int(rows)}:{int(sum_high or 0)}:{int(sum_low or 0)}"


def _append_batches(positions: Sequence[int], seed: int):
    def fn(batches: Iterator) -> Iterator:
        import pyarrow as pa

        for batch in batches:
            hashes = row_hashes([batch.column(i) for i in positions], seed)
            yield pa.RecordBatch.from_arrays(list(batch.columns) + [pa.array(hashes, type=pa.int64())],
                                             names=list(batch.schema.names) + ["row_hash"])

    return fn


def with_row_hash(df, columns: Sequence[str] | None = None, *, seed: int = SEED):
    """``df`` with a ``row_hash`` (long) column appended: the canonical hash of ``columns``."""
    from pyspark.sql import types as T

    cols = list(columns) if columns is not None else canonical_order(df.columns)
    positions = [df.columns.index(c) for c in cols]
    schema = T.StructType(list(df.schema.fields) + [T.StructField("row_hash", T.LongType(), False)])
    return df.mapInArrow(_append_batches(positions, seed), schema)
