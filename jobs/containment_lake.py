"""The containment stage's I/O: find the lake's tables and profile them (R2D2 §4.1, "profile").

* Delta: schema, row count, size and per-column min / max / null count from the transaction log's
  file statistics (checkpoint + JSON commits), without reading data. Only columns some file has no
  statistics for are aggregated. Strings longer than Delta's 32-character statistics prefix and
  timestamps (stored to the millisecond) are bounds, not exact values.
* Parquet: the same from the files' footers (row-group statistics); columns without them (INT96
  timestamps, hive partition columns) in one aggregate pass.
* CSV and catalog tables: one aggregate pass.

Unreadable or corrupt tables, empty tables and unsupported column types are profiled as
``skipped`` with a reason, never a crash. Nothing outside the lake root is read: ``..`` and
symlinks that lead out of it are refused.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from pipelines.containment.profile import ColumnProfile, TableProfile
from pipelines.containment.types import family, unsupported_reason
from pipelines.core import lakehouse
from pipelines.core.errors import ConfigError, SafetyError
from pipelines.core.tables import TableRef

DELTA_STRING_PREFIX = 32  # Delta's dataSkippingStringPrefixLength default
_EPOCH = dt.date(1970, 1, 1)


# ---- where tables are -----------------------------------------------------------------------------

def inside(root: Path, path: Path) -> bool:
    """True when ``path`` (after resolving symlinks and ``..``) lies under ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def check_inside(root: Path, path: Path, what: str) -> Path:
    """``path`` if it is under ``root``; else :class:`SafetyError` naming ``what``."""
    if ".." in Path(path).parts:
        raise SafetyError(f"{what} '{path}' contains '..'; paths must stay under the lake root '{root}'")
    if not inside(root, path):
        raise SafetyError(f"{what} '{path}' is outside the lake root '{root}' (symlinks out of it are refused)")
    return path


def table_id(root: Path, path: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def scan(root: Path) -> Iterator[tuple[Path, str | None, str | None]]:
    """(path, format, reason-if-refused) of every table under ``root``; names starting '_' or '.' are skipped."""
    stack = [root]
    while stack:
        folder = stack.pop()
        for entry in sorted(folder.iterdir(), key=lambda p: p.name, reverse=True):
            if entry.name.startswith(("_", ".")):
                continue
            if entry.is_symlink() and not inside(root, entry):
                yield entry, None, "symlink points outside the lake root; not followed"
                continue
            if entry.is_dir():
                if (entry / "_delta_log").is_dir():
                    yield entry, "delta", None
                elif _is_parquet_dir(entry):
                    yield entry, "parquet", None
                else:
                    stack.append(entry)
            elif entry.suffix == ".parquet":
                yield entry, "parquet", None
            elif entry.suffix == ".csv":
                yield entry, "csv", None


def _is_parquet_dir(folder: Path) -> bool:
    """Parquet files directly in ``folder`` or only under hive partition folders ``key=value``."""
    subdirs = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))]
    if subdirs and not all("=" in d.name for d in subdirs):
        return False
    return any(f.suffix == ".parquet" and not f.name.startswith(("_", ".")) for f in folder.rglob("*.parquet"))


# ---- statistics values ----------------------------------------------------------------------------

def _num(value: Any, type_name: str) -> float | None:
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
        col.min_num, col.max_num = _num(lo, col.data_type), _num(hi, col.data_type)
    col.min_exact, col.max_exact = min_exact and lo is not None, max_exact and hi is not None
    col.stats_source = source


def _fields(schema) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def _check_types(prof: TableProfile, fields: list[tuple[str, str]]) -> bool:
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


# ---- Delta log ------------------------------------------------------------------------------------

def _read_json_lines(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def read_delta_log(table: Path) -> tuple[int, dict, dict[str, dict]]:
    """(version, metaData action, active add actions by path) from a local Delta log."""
    import pyarrow.parquet as pq

    log = table / "_delta_log"
    versions = sorted(int(f.name.split(".")[0]) for f in log.iterdir()
                      if f.name.endswith(".json") and f.name.split(".")[0].isdigit())
    start, meta, adds = -1, {}, {}
    last = log / "_last_checkpoint"
    if last.is_file():
        cp = json.loads(last.read_text())
        start = int(cp["version"])
        parts = sorted(log.glob(f"{start:020d}.checkpoint*.parquet"))
        for part in parts:
            t = pq.read_table(part, columns=["add", "metaData"]).to_pylist()
            for row in t:
                if row.get("metaData"):
                    meta = row["metaData"]
                if row.get("add"):
                    a = row["add"]
                    if isinstance(a.get("partitionValues"), list):
                        a["partitionValues"] = dict(a["partitionValues"])
                    adds[a["path"]] = a
    later = [v for v in versions if v > start]
    if not later and start < 0:
        raise ValueError("the Delta log has no commits")
    for v in later:
        for action in _read_json_lines(log / f"{v:020d}.json"):
            if "metaData" in action:
                meta = action["metaData"]
            elif "add" in action:
                adds[action["add"]["path"]] = action["add"]
            elif "remove" in action:
                adds.pop(action["remove"]["path"], None)
    version = max([start] + later)
    if not meta:
        raise ValueError("the Delta log has no metaData action")
    return version, meta, adds


def profile_delta(spark, path: Path, prof: TableProfile):
    """Fill ``prof`` from the Delta log; return the Spark schema (None when skipped)."""
    from pyspark.sql import types as T

    version, meta, adds = read_delta_log(path)
    prof.delta_version = version
    prof.fingerprint = f"delta:v{version}"
    schema = T.StructType.fromJson(json.loads(meta["schemaString"]))
    fields = _fields(schema)
    if not _check_types(prof, fields):
        return None
    mapping = (meta.get("configuration") or {}).get("delta.columnMapping.mode", "none")
    physical = {f.name: (f.metadata.get("delta.columnMapping.physicalName", f.name) if mapping != "none" else f.name)
                for f in schema.fields}
    prof.partition_columns = tuple(meta.get("partitionColumns") or ())
    if mapping == "none" and not any(a.get("deletionVector") for a in adds.values()):
        # The snapshot's data files, read directly as Parquet: no Delta state reconstruction job per table.
        prof.data_files = sorted(str(path / _unquote(a["path"])) for a in adds.values())
    prof.size_bytes = sum(int(a.get("size") or 0) for a in adds.values())
    for a in adds.values():
        f = path / _unquote(a["path"])
        if not f.is_file():
            prof.skip(f"data file '{a['path']}' listed in the Delta log is missing")
            return None
        if a.get("size") is not None and f.stat().st_size != int(a["size"]):
            prof.skip(f"data file '{a['path']}' has {f.stat().st_size} bytes, the Delta log says {a['size']}")
            return None
    stats = []
    for a in adds.values():
        s = a.get("stats")
        s = json.loads(s) if isinstance(s, str) else None
        if a.get("deletionVector") or (s is not None and s.get("tightBounds") is False):
            s = None
        stats.append((a, s))
    rows_known = all(s is not None and "numRecords" in s for _, s in stats)
    prof.num_rows = sum(int(s["numRecords"]) for _, s in stats) if rows_known else None
    prof.columns = [ColumnProfile(n, t) for n, t in fields]
    missing: list[ColumnProfile] = []
    parts = {c.lower() for c in prof.partition_columns}
    for col in prof.columns:
        if col.name.lower() in parts:
            _partition_stats(col, stats)
            continue
        if not rows_known or not _file_stats(col, physical[col.name], stats):
            missing.append(col)
    if not adds:
        prof.num_rows = 0
        missing = []
    sources = {c.stats_source for c in prof.columns if c not in missing}
    if missing or not rows_known:
        df = spark.read.format("delta").option("versionAsOf", version).load(str(path))
        aggregate_stats(df, prof, missing, need_rows=not rows_known)
        sources.add("aggregate")
    prof.stats_source = "delta_log" if sources <= {"delta_log"} else "mixed"
    return schema


def _unquote(p: str) -> str:
    from urllib.parse import unquote

    return unquote(p)


def _partition_stats(col: ColumnProfile, stats) -> None:
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
        nums = [(_num(v, col.data_type), v) for v in values]
        lo = min(nums)[1] if nums else None
        hi = max(nums)[1] if nums else None
    set_bounds(col, lo, hi, min_exact=True, max_exact=True, source="delta_log")


def _file_stats(col: ColumnProfile, key: str, stats) -> bool:
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
    lo_n = [_num(v, col.data_type) for v in lows]
    hi_n = [_num(v, col.data_type) for v in highs]
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


# ---- Parquet footers ------------------------------------------------------------------------------

def profile_parquet(spark, path: Path, prof: TableProfile):
    """Fill ``prof`` from Parquet footers (aggregating what they lack); return the Spark schema."""
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(f for f in path.rglob("*.parquet") if not any(
        part.startswith(("_", ".")) for part in f.relative_to(path).parts))
    metas = [pq.read_metadata(f) for f in files]  # a corrupt footer raises here: table unreadable
    schema = _spark_schema_from_footer(metas, path, files)
    df = spark.read.schema(schema).parquet(str(path)) if schema is not None else spark.read.parquet(str(path))
    schema = df.schema
    fields = _fields(schema)
    if not _check_types(prof, fields):
        return None
    prof.size_bytes = sum(f.stat().st_size for f in files)
    prof.num_rows = sum(m.num_rows for m in metas)
    prof.fingerprint = lakehouse.input_fingerprint(spark, TableRef(path=str(path)))
    prof.columns = [ColumnProfile(n, t) for n, t in fields]
    missing = []
    for col in prof.columns:
        if not _footer_stats(col, metas):
            missing.append(col)
    if missing and prof.num_rows:
        aggregate_stats(df, prof, missing, need_rows=False)
    prof.stats_source = "parquet_footer" if not missing else ("aggregate" if len(missing) == len(prof.columns) else "mixed")
    return schema


def _spark_schema_from_footer(metas, path: Path, files):
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


def _footer_stats(col: ColumnProfile, metas) -> bool:
    nulls, lows, highs, exact_lo, exact_hi = 0, [], [], True, True
    for m in metas:
        names = [m.schema.column(i).path for i in range(m.num_columns)]
        if col.name not in names:
            return False
        idx = names.index(col.name)
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
    lo_n = [_num(v, col.data_type) for v in lows]
    hi_n = [_num(v, col.data_type) for v in highs]
    if any(v is None for v in lo_n + hi_n):
        return False
    col.min_num, col.max_num = min(lo_n), max(hi_n)
    col.min_exact = col.max_exact = True
    col.stats_source = "parquet_footer"
    return True


# ---- CSV and catalog: one aggregate pass -----------------------------------------------------------

def read_csv(spark, path: Path, schema=None):
    # FAILFAST: a ragged or malformed row makes the table unreadable (reported and skipped) rather
    # than silently padded with nulls, which would make containment answers about other data.
    reader = spark.read.option("header", "true").option("mode", "FAILFAST")
    reader = reader.schema(schema) if schema is not None else reader.option("inferSchema", "true")
    return reader.csv(str(path))


def profile_by_aggregate(spark, df, prof: TableProfile):
    schema = df.schema
    fields = _fields(schema)
    if not _check_types(prof, fields):
        return None
    prof.columns = [ColumnProfile(n, t) for n, t in fields]
    aggregate_stats(df, prof, prof.columns, need_rows=True)
    prof.stats_source = "aggregate"
    return schema


# ---- the lake -------------------------------------------------------------------------------------

class LakeTables(Mapping):
    """table id -> DataFrame at the profiled version, created on first use (reading is lazy anyway)."""

    def __init__(self, spark, sources: dict[str, tuple[str, str, Any, int | None]]):
        self._spark, self._sources, self._cache = spark, sources, {}

    def __getitem__(self, key: str):
        if key not in self._cache:
            fmt, where, schema, version = self._sources[key]
            if fmt == "delta_files":
                files, root = version
                self._cache[key] = self._spark.read.schema(schema).option("basePath", root).parquet(*files)
            elif fmt == "delta":
                self._cache[key] = self._spark.read.format("delta").option("versionAsOf", version).load(where)
            elif fmt == "parquet":
                self._cache[key] = self._spark.read.schema(schema).parquet(where)
            elif fmt == "csv":
                self._cache[key] = read_csv(self._spark, Path(where), schema)
            else:
                self._cache[key] = self._spark.read.table(TableRef(name=where).quoted_name())
        return self._cache[key]

    def __iter__(self):
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


def profile_table(spark, root: Path, path: Path, fmt: str) -> tuple[TableProfile, Any]:
    """Profile one table; problems become a ``skipped`` profile with the reason."""
    prof = TableProfile(table_id(root, path), str(path), fmt)
    try:
        if fmt == "delta":
            schema = profile_delta(spark, path, prof)
        elif fmt == "parquet":
            schema = profile_parquet(spark, path, prof)
        else:
            prof.fingerprint = lakehouse.input_fingerprint(spark, TableRef(path=str(path)))
            prof.size_bytes = path.stat().st_size if path.is_file() else sum(
                f.stat().st_size for f in path.rglob("*") if f.is_file())
            schema = profile_by_aggregate(spark, read_csv(spark, path), prof)
    except Exception as exc:  # any read failure: the table is reported, never a crash
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        prof.skip(f"unreadable {fmt} table: {type(exc).__name__}: {msg}")
        return prof, None
    if prof.ok and not prof.num_rows:
        prof.skip("empty table (0 rows)")
    return prof, (schema if prof.ok else None)


def profile_catalog(spark, name: str) -> tuple[TableProfile, Any]:
    ref = TableRef(name=name)
    prof = TableProfile(f"table:{name}", name, "catalog")
    try:
        df = lakehouse.read_table(spark, ref)
        prof.fingerprint = lakehouse.input_fingerprint(spark, ref)
        prof.delta_version = lakehouse.table_version(spark, ref)
        schema = profile_by_aggregate(spark, df, prof)
    except Exception as exc:
        prof.skip(f"unreadable catalog table: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}")
        return prof, None
    if prof.ok and not prof.num_rows:
        prof.skip("empty table (0 rows)")
    return prof, (schema if prof.ok else None)


def build_lake(spark, lake_root: str, extra_tables: tuple[str, ...], scan_lake: bool):
    """(profiles, LakeTables) for every table under ``lake_root`` plus ``extra_tables``."""
    root = Path(lake_root)
    if not root.is_dir():
        from pipelines.core.errors import InputNotFoundError

        raise InputNotFoundError(f"lake root '{lake_root}' (input 'lake') is not a folder")
    found: dict[Path, tuple[str | None, str | None]] = {}
    if scan_lake:
        for path, fmt, reason in scan(root):
            found[path] = (fmt, reason)
    catalog: list[str] = []
    for i, text in enumerate(extra_tables):
        ref = TableRef.parse(text, root)
        if ref.name is not None:
            catalog.append(ref.name)
            continue
        p = Path(ref.path)
        try:
            check_inside(root, p, f"params.tables[{i}]")
        except SafetyError as exc:
            raise ConfigError(str(exc)) from exc
        found[p] = (lakehouse.detect_format(TableRef(path=str(p))), None)
    profiles, sources = [], {}
    for path in sorted(found):
        fmt, reason = found[path]
        if reason is not None:
            profiles.append(TableProfile(table_id(root, path), str(path), fmt or "unknown").skip(reason))
            continue
        prof, schema = profile_table(spark, root, path, fmt)
        profiles.append(prof)
        if schema is not None:
            files = prof.data_files
            if fmt == "delta" and files:
                sources[prof.table_id] = ("delta_files", str(path), schema, (files, str(path)))
            else:
                sources[prof.table_id] = (fmt, str(path), schema, prof.delta_version)
    for name in sorted(set(catalog)):
        prof, schema = profile_catalog(spark, name)
        profiles.append(prof)
        if schema is not None:
            sources[prof.table_id] = ("catalog", name, schema, prof.delta_version)
    return profiles, LakeTables(spark, sources)
