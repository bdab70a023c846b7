"""Column statistics for the containment profile (R2D2 §4.1, "profile"), from whatever a table offers:
Delta log file statistics and partition values, Parquet footer statistics, or one Spark aggregate pass.

Pure: these functions turn statistics already read (by :mod:`jobs.containment_lake`, which reads the
logs and footers) or a DataFrame into :class:`~pipelines.containment.profile.ColumnProfile` values; they
read no storage themselves.

* Delta: strings longer than Delta's 32-character statistics prefix and timestamps (stored to the
  millisecond) are bounds, not exact values.
* Parquet: row-group statistics; columns without them (INT96 timestamps, hive partition columns) are
  aggregated.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import weakref
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipelines.containment.profile import ColumnProfile, TableProfile
from pipelines.containment.types import family, unsupported_reason

DELTA_STRING_PREFIX = 32  # Delta's dataSkippingStringPrefixLength default
_EPOCH = dt.date(1970, 1, 1)


def stat_number(value: Any, type_name: str) -> float | None:
    """A statistic as a double (monotone rounding), or None when it is not a finite value."""
    import numpy as np

    t = type_name.lower()
    fam = family(t)
    try:
        if value is None:
            return None
        if isinstance(value, bool) or t == "boolean":
            out = 1.0 if value in (True, "true") else 0.0
        elif fam == "int":
            out = float(int(value))
        elif fam == "float":
            out = float(np.float32(float(value))) if t in ("float", "real") else float(value)
        elif fam == "decimal":
            out = float(Decimal(str(value)))
        elif fam == "date":
            d = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
            out = float((d - _EPOCH).days)
        elif fam in ("timestamp", "timestamp_ntz"):
            if isinstance(value, dt.datetime):
                ts = value
            else:
                ts = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=dt.timezone.utc)
            delta = ts - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
            out = float(delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds)
        else:
            return None
    except (TypeError, ValueError, ArithmeticError):
        return None
    return out if math.isfinite(out) else None


def set_bounds(col: ColumnProfile, lo: Any, hi: Any, *, min_exact: bool, max_exact: bool, source: str) -> None:
    """Store min/max in the column's numeric or string slots."""
    if family(col.data_type) == "string":
        col.min_str = None if lo is None else str(lo)
        col.max_str = None if hi is None else str(hi)
    else:
        col.min_num, col.max_num = stat_number(lo, col.data_type), stat_number(hi, col.data_type)
    col.min_exact, col.max_exact = min_exact and lo is not None, max_exact and hi is not None
    col.stats_source = source


def fields_of(schema) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def check_types(prof: TableProfile, fields: list[tuple[str, str]]) -> bool:
    if not fields:
        prof.skip("table has no columns")
        return False
    for name, type_name in fields:
        why = unsupported_reason(type_name)
        if why is not None:
            prof.skip(f"column '{name}' has type {type_name}: {why}")
            return False
    seen: dict[str, str] = {}
    for name, _ in fields:
        if name.lower() in seen:
            prof.skip(f"columns '{seen[name.lower()]}' and '{name}' differ only in case")
            return False
        seen[name.lower()] = name
    return True


def aggregate_stats(df, prof: TableProfile, columns: list[ColumnProfile], need_rows: bool) -> None:
    """One aggregate pass over ``df`` for the row count and the given columns' min / max / null count."""
    from pyspark.sql import functions as F

    exprs = [F.count(F.lit(1)).alias("_rows")]
    for i, c in enumerate(columns):
        col = F.col("`" + c.name.replace("`", "``") + "`")
        if family(c.data_type) == "float":  # Spark orders NaN above everything: keep min/max finite
            finite = F.when(~F.isnan(col), col)
            exprs += [F.count(col).alias(f"n{i}"), F.min(finite).alias(f"lo{i}"), F.max(finite).alias(f"hi{i}"),
                      F.sum(F.when(F.isnan(col), 1).otherwise(0)).alias(f"nan{i}")]
        else:
            exprs += [F.count(col).alias(f"n{i}"), F.min(col).alias(f"lo{i}"), F.max(col).alias(f"hi{i}"),
                      F.lit(0).alias(f"nan{i}")]
    row = df.agg(*exprs).collect()[0]  # one row: the table's summary
    if need_rows:
        prof.num_rows = int(row["_rows"])
    for i, c in enumerate(columns):
        c.null_count = int(row["_rows"]) - int(row[f"n{i}"])
        has_nan = int(row[f"nan{i}"] or 0) > 0
        # A NaN is above every number in Spark's order: the max is then unknown (no max bound).
        set_bounds(c, row[f"lo{i}"], None if has_nan else row[f"hi{i}"], min_exact=True, max_exact=not has_nan,
                   source="aggregate")


def arrow_stats(table, prof: TableProfile, columns: list[ColumnProfile]) -> None:
    """The row count and the given columns' min / max / null count from ``table`` (pyarrow), as
    :func:`aggregate_stats` computes them in Spark: NaN is not null, min and max skip NaN, and a NaN leaves
    the column without a max bound (Spark orders NaN above every number); strings in byte order."""
    import pyarrow.compute as pc

    prof.num_rows = table.num_rows
    for c in columns:
        values = table.column(c.name)
        c.null_count = values.null_count
        has_nan = False
        if family(c.data_type) == "float":
            nan = pc.is_nan(values)
            has_nan = bool(pc.any(nan).as_py())
            values = values.filter(pc.invert(pc.fill_null(nan, False)))
        lo, hi = (None, None) if values.null_count == len(values) else (
            pc.min(values).as_py(), pc.max(values).as_py())
        set_bounds(c, lo, None if has_nan else hi, min_exact=True, max_exact=not has_nan, source="aggregate")


def partition_stats(col: ColumnProfile, stats) -> None:
    nulls, values = 0, []
    for a, s in stats:
        raw = (a.get("partitionValues") or {}).get(col.name)
        n = int(s["numRecords"]) if s and "numRecords" in s else None
        if raw is None or raw == "":
            nulls += n if n is not None else 1
        elif n != 0:
            values.append(raw)
    col.null_count = nulls
    if family(col.data_type) == "string":
        lo, hi = (min(values), max(values)) if values else (None, None)
    else:
        nums = [(stat_number(v, col.data_type), v) for v in values]
        lo = min(nums)[1] if nums else None
        hi = max(nums)[1] if nums else None
    set_bounds(col, lo, hi, min_exact=True, max_exact=True, source="delta_log")


def file_stats(col: ColumnProfile, key: str, stats) -> bool:
    """Combine one column's per-file statistics; False when some file lacks them."""
    fam = family(col.data_type)
    nulls, lows, highs = 0, [], []
    for _, s in stats:
        n_null = (s.get("nullCount") or {}).get(key)
        if n_null is None:
            return False
        nulls += int(n_null)
        if int(n_null) == int(s["numRecords"]):
            continue  # all null in this file: no min/max, none needed
        lo, hi = (s.get("minValues") or {}).get(key), (s.get("maxValues") or {}).get(key)
        if lo is None or hi is None:
            return False
        lows.append(lo)
        highs.append(hi)
    col.null_count = nulls
    if not lows:
        set_bounds(col, None, None, min_exact=False, max_exact=False, source="delta_log")
        return True
    if fam == "string":
        lo, hi = min(lows), max(highs)
        set_bounds(col, lo, hi, min_exact=len(lo) < DELTA_STRING_PREFIX, max_exact=len(hi) < DELTA_STRING_PREFIX,
                   source="delta_log")
        return True
    lo_n = [stat_number(v, col.data_type) for v in lows]
    hi_n = [stat_number(v, col.data_type) for v in highs]
    if any(v is None for v in lo_n + hi_n):
        return False  # NaN / infinite statistics: aggregate instead
    exact = fam not in ("timestamp", "timestamp_ntz")
    col.null_count = nulls
    col.min_num, col.max_num = min(lo_n), max(hi_n)
    if not exact:  # millisecond statistics: widen the max to the end of its millisecond
        col.max_num += 999.0
    col.min_exact = col.max_exact = exact
    col.stats_source = "delta_log"
    return True


def spark_schema_from_footer(metas, path: Path, files):
    """The Spark schema Spark wrote into the footers (saves a schema-inference job), or None."""
    from pyspark.sql import types as T

    if any(f.parent != (path if path.is_dir() else path.parent) for f in files):
        return None  # hive partition folders: let Spark infer the partition columns
    texts = {(m.metadata or {}).get(b"org.apache.spark.sql.parquet.row.metadata") for m in metas}
    if len(texts) == 1 and None not in texts:
        return T.StructType.fromJson(json.loads(next(iter(texts)).decode("utf-8")))
    arrow = {str(m.schema.to_arrow_schema()) for m in metas}
    if len(arrow) != 1:
        return None
    fields = []
    simple = {"int8": T.ByteType(), "int16": T.ShortType(), "int32": T.IntegerType(), "int64": T.LongType(),
              "float": T.FloatType(), "double": T.DoubleType(), "string": T.StringType(),
              "large_string": T.StringType(), "bool": T.BooleanType(), "date32[day]": T.DateType(),
              "timestamp[us, tz=UTC]": T.TimestampType(), "binary": T.BinaryType()}
    for f in metas[0].schema.to_arrow_schema():
        dtype = simple.get(str(f.type))
        if dtype is None and str(f.type).startswith("decimal128("):
            precision, scale = (int(x) for x in str(f.type)[len("decimal128("):-1].split(","))
            dtype = T.DecimalType(precision, scale)
        if dtype is None:
            return None  # anything unusual: let Spark read the schema
        fields.append(T.StructField(f.name, dtype, True))
    return T.StructType(fields)


_INDEXES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _column_index(meta) -> dict[str, int]:
    """A footer's column path -> index, computed once per footer (not once per column)."""
    try:
        return _INDEXES[meta]
    except (KeyError, TypeError):
        index = {}
        for i in range(meta.num_columns):
            index.setdefault(meta.schema.column(i).path, i)
        try:
            _INDEXES[meta] = index
        except TypeError:
            pass
        return index


def footer_stats(col: ColumnProfile, metas) -> bool:
    nulls, lows, highs, exact_lo, exact_hi = 0, [], [], True, True
    for m in metas:
        idx = _column_index(m).get(col.name)
        if idx is None:
            return False
        for g in range(m.num_row_groups):
            cc = m.row_group(g).column(idx)
            st = cc.statistics
            if st is None or not st.has_null_count:
                return False
            nulls += st.null_count
            if st.null_count == cc.num_values:
                continue
            if not st.has_min_max:
                return False
            lows.append(st.min)
            highs.append(st.max)
            exact_lo &= bool(getattr(st, "is_min_value_exact", True))
            exact_hi &= bool(getattr(st, "is_max_value_exact", True))
    col.null_count = nulls
    if not lows:
        set_bounds(col, None, None, min_exact=False, max_exact=False, source="parquet_footer")
        return True
    if family(col.data_type) == "string":
        if any(isinstance(v, bytes) for v in lows + highs):
            return False
        set_bounds(col, min(lows), max(highs), min_exact=exact_lo, max_exact=exact_hi, source="parquet_footer")
        return True
    lo_n = [stat_number(v, col.data_type) for v in lows]
    hi_n = [stat_number(v, col.data_type) for v in highs]
    if any(v is None for v in lo_n + hi_n):
        return False
    col.min_num, col.max_num = min(lo_n), max(hi_n)
    col.min_exact = col.max_exact = True
    col.stats_source = "parquet_footer"
    return True


def profile_by_aggregate(df, prof: TableProfile):
    """Fill ``prof`` from one aggregate pass over ``df``; return its schema (None when skipped)."""
    schema = df.schema
    fields = fields_of(schema)
    if not check_types(prof, fields):
        return None
    prof.columns = [ColumnProfile(n, t) for n, t in fields]
    aggregate_stats(df, prof, prof.columns, need_rows=True)
    prof.stats_source = "aggregate"
    return schema
