"""The containment stage's storage work: find the lake's tables and profile them (R2D2 §4.1, "profile").

* Delta: schema, row count, size and per-column min / max / null count from the transaction log's
  file statistics (:mod:`pipelines.core.delta_log` replays checkpoint + JSON commits), without reading
  data. Only columns some file has no statistics for are aggregated.
* Parquet: the same from the files' footers (row-group statistics); columns without them in one
  aggregate pass.
* CSV and catalog tables: one aggregate pass. Every table is read through :func:`lakehouse.read_table`.

Turning those statistics into column profiles is :mod:`pipelines.containment.stats` (pure).

Unreadable or corrupt tables, empty tables and unsupported column types are profiled as
``skipped`` with a reason, never a crash. Nothing outside the lake root is read: ``..`` and
symlinks that lead out of it are refused.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Iterator

from jobs.containment_arrow import read_local
from jobs.containment_journal import real_under, walk
from pipelines.containment.profile import ColumnProfile, TableProfile
from pipelines.containment.stats import (
    aggregate_stats,
    arrow_stats,
    check_types,
    fields_of,
    file_stats,
    footer_stats,
    partition_stats,
    profile_by_aggregate,
    spark_schema_from_footer,
)
from pipelines.core import delta_log, lakehouse, spark_csv
from pipelines.core.errors import ConfigError, LakesieveError, SafetyError, cause_line
from pipelines.core.tables import TableRef

# ---- where tables are -----------------------------------------------------------------------------

def inside(root: Path, path: Path) -> bool:
    """True when ``path`` (after resolving symlinks and ``..``) lies under ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def table_id(root: Path, path: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def scan(root: Path) -> Iterator[tuple[Path, str | None, str | None]]:
    """(path, format, reason-if-refused) of every table under ``root``; names starting '_' or '.' are skipped.

    What a table is (docs/containment.md, "Which tables"): a folder with ``_delta_log`` is one Delta
    table; a folder holding only Parquet files (directly, or under hive ``key=value`` folders) is one
    Parquet table when its files share a schema, else each file is a table of its own; any other
    ``.parquet`` or ``.csv`` file is a table (so a folder mixing Parquet and CSV files gives one table
    per file); other folders are searched.

    A table is found under its real path only: a symlink in the lake (to a table of the lake, or out
    of it) is listed as refused, never followed, so one table is never profiled twice (and never
    becomes its own parent); a table with a symlink among its files is refused as well."""
    stack = [root]
    while stack:
        folder = stack.pop()
        for entry in sorted(folder.iterdir(), key=lambda p: p.name, reverse=True):
            if entry.name.startswith(("_", ".")):
                continue
            if entry.is_symlink():
                if entry.is_dir() or entry.suffix in (".parquet", ".csv"):
                    where = (f"to '{table_id(root, entry.resolve())}' inside the lake: a table is profiled once, "
                             "under its real path" if inside(root, entry) else "pointing outside the lake root")
                    yield entry, None, f"symlink {where}; not followed"
                continue
            if entry.is_dir():
                fmt = "delta" if (entry / "_delta_log").is_dir() else "parquet" if _is_parquet_dir(entry) else None
                if fmt is None:
                    stack.append(entry)
                    continue
                link = walk(entry)[1]
                if link is not None:
                    yield entry, fmt, (f"'{link.relative_to(entry)}' in it is a symlink; a table is profiled only "
                                       "when all its files are its own")
                elif fmt == "parquet" and not _one_schema(entry):
                    # files that do not share a schema are separate tables, never silently unioned
                    for f in sorted(entry.glob("*.parquet"), key=lambda p: p.name):
                        if not f.name.startswith(("_", ".")):
                            yield f, "parquet", None
                else:
                    yield entry, fmt, None
            elif entry.suffix == ".parquet":
                yield entry, "parquet", None
            elif entry.suffix == ".csv":
                yield entry, "csv", None


def _one_schema(folder: Path) -> bool:
    """True when the Parquet files directly in ``folder`` share one schema (column names and types),
    or when it is hive-partitioned (``key=value`` folders: one dataset by construction). A file whose
    footer cannot be read leaves the folder one table, reported unreadable with the real cause."""
    import pyarrow.parquet as pq

    files = [f for f in folder.iterdir() if f.suffix == ".parquet" and not f.name.startswith(("_", "."))]
    if len(files) < 2:
        return True
    try:
        schemas = {tuple((fld.name, str(fld.type)) for fld in pq.read_schema(f)) for f in files}
    except Exception:  # noqa: BLE001 - an unreadable footer is reported by profiling, not here
        return True
    return len(schemas) == 1


def _is_parquet_dir(folder: Path) -> bool:
    """Only Parquet files in ``folder``, directly or under hive partition folders ``key=value`` (names
    starting '_' or '.', such as ``_SUCCESS``, aside). A folder that also holds CSV or other files is
    not one dataset: it is searched, and each file is a table of its own."""
    entries = [e for e in folder.iterdir() if not e.name.startswith(("_", "."))]
    subdirs = [d for d in entries if d.is_dir()]
    if subdirs and not all("=" in d.name for d in subdirs):
        return False
    if any(e.is_file() and e.suffix != ".parquet" for e in entries):
        return False
    files = [f for f in folder.rglob("*") if f.is_file() and not any(
        part.startswith(("_", ".")) for part in f.relative_to(folder).parts)]
    return bool(files) and all(f.suffix == ".parquet" for f in files)


# ---- Delta: the log's file statistics (pipelines.core.delta_log reads the log) ----------------------

def profile_delta(spark, path: Path, prof: TableProfile, in_driver: bool = True):
    """Fill ``prof`` from the Delta log; return the Spark schema (None when skipped). ``in_driver``: columns the
    log has no statistics for are aggregated from the data files with pyarrow where they can be read so."""
    from pyspark.sql import types as T

    version, meta, adds = delta_log.read_delta_log(path)
    prof.delta_version = version
    prof.fingerprint = f"delta:v{version}"
    schema = T.StructType.fromJson(json.loads(meta["schemaString"]))
    fields = fields_of(schema)
    if not check_types(prof, fields):
        return None
    mapping = (meta.get("configuration") or {}).get("delta.columnMapping.mode", "none")
    physical = {f.name: (f.metadata.get("delta.columnMapping.physicalName", f.name) if mapping != "none" else f.name)
                for f in schema.fields}
    prof.partition_columns = tuple(meta.get("partitionColumns") or ())
    if mapping == "none" and not any(a.get("deletionVector") for a in adds.values()):
        # The snapshot's data files, read directly as Parquet: no Delta state reconstruction job per table.
        prof.data_files = sorted(str(delta_log.data_file(path, a["path"])) for a in adds.values())
    prof.size_bytes = sum(int(a.get("size") or 0) for a in adds.values())
    for a in adds.values():
        f = delta_log.data_file(path, a["path"])
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
            partition_stats(col, stats)
            continue
        if not rows_known or not file_stats(col, physical[col.name], stats):
            missing.append(col)
    if not adds:
        prof.num_rows = 0
        missing = []
    sources = {c.stats_source for c in prof.columns if c not in missing}
    if missing or not rows_known:
        # columns without file statistics (Delta collects them for the first 32 columns only): from the data
        # files with pyarrow when they can be read so, else one Spark aggregate
        data = (read_local(schema, [c.name for c in missing], prof.data_files, str(path))
                if in_driver and prof.data_files and missing else None)
        if data is not None:
            arrow_stats(data, prof, missing)  # the row count too: every data file of the snapshot was read
        else:
            df = lakehouse.read_table(spark, TableRef(path=str(path)), "delta", version=version)
            aggregate_stats(df, prof, missing, need_rows=not rows_known)
        sources.add("aggregate")
    prof.stats_source = "delta_log" if sources <= {"delta_log"} else "mixed"
    return schema


# ---- Parquet footers ------------------------------------------------------------------------------

def _as_read(schema):
    """The schema Spark reads a Parquet table with when given ``schema`` (file sources make every field
    nullable), or None when Spark must be asked (char/varchar columns keep their own rules)."""
    from pyspark.sql import types as T

    if schema is None or any("__CHAR_VARCHAR_TYPE_STRING" in (f.metadata or {}) for f in schema.fields):
        return None
    return T.StructType([T.StructField(f.name, f.dataType, True, f.metadata) for f in schema.fields])


def profile_parquet(spark, path: Path, prof: TableProfile, in_driver: bool = True):
    """Fill ``prof`` from Parquet footers (aggregating what they lack); return the Spark schema.

    When the footers carry the schema (Spark's own, or plain Arrow types), no Spark DataFrame is built;
    ``in_driver``: columns without footer statistics are aggregated with pyarrow where they can be read so."""
    import pyarrow.parquet as pq

    files = [path] if path.is_file() else sorted(f for f in path.rglob("*.parquet") if not any(
        part.startswith(("_", ".")) for part in f.relative_to(path).parts))
    metas = [pq.read_metadata(f) for f in files]  # a corrupt footer raises here: table unreadable
    footer_schema = spark_schema_from_footer(metas, path, files)
    schema = _as_read(footer_schema)
    df = None
    if schema is None:
        df = lakehouse.read_table(spark, TableRef(path=str(path)), "parquet", schema=footer_schema)
        schema = df.schema
    fields = fields_of(schema)
    if not check_types(prof, fields):
        return None
    prof.size_bytes = sum(f.stat().st_size for f in files)
    prof.num_rows = sum(m.num_rows for m in metas)
    prof.fingerprint = lakehouse.input_fingerprint(spark, TableRef(path=str(path)))
    prof.columns = [ColumnProfile(n, t) for n, t in fields]
    missing = []
    for col in prof.columns:
        if not footer_stats(col, metas):
            missing.append(col)
    if missing and prof.num_rows:
        data = read_local(schema, [c.name for c in missing], None, str(path)) if in_driver else None
        if data is not None:
            arrow_stats(data, prof, missing)
        else:
            df = df if df is not None else lakehouse.read_table(spark, TableRef(path=str(path)), "parquet", schema=schema)
            aggregate_stats(df, prof, missing, need_rows=False)
    prof.stats_source = "parquet_footer" if not missing else ("aggregate" if len(missing) == len(prof.columns) else "mixed")
    return schema


# ---- the lake -------------------------------------------------------------------------------------

class LakeTables(Mapping):
    """table id -> DataFrame at the profiled version, created on first use (reading is lazy anyway)."""

    def __init__(self, spark, sources: dict[str, tuple[str, str, Any, int | None]], arrow: dict | None = None):
        self._spark, self._sources, self._cache = spark, sources, {}
        self._arrow = arrow or {}  # table id -> its rows already read into the driver (small CSVs)
        self.arrow_reads = {"pyarrow": 0, "spark": 0, "kept": 0}  # how read_arrow read each table (run metrics)
        self._lock = threading.Lock()  # read_arrow is called from several threads (driver_views.READ_THREADS)

    def __getitem__(self, key: str):
        if key not in self._cache:
            fmt, where, schema, version = self._sources[key]
            if fmt == "delta_files":
                files, root = version
                self._cache[key] = (self._spark.read.schema(schema).option("basePath", lakehouse.spark_path(root))
                                    .parquet(*[lakehouse.spark_path(f) for f in files]))
            else:
                ref = TableRef(name=where) if fmt == "catalog" else TableRef(path=where)
                self._cache[key] = lakehouse.read_table(self._spark, ref, fmt, schema=schema,
                                                        version=version if fmt == "delta" else None)
        return self._cache[key]

    def _count(self, how: str) -> None:
        with self._lock:
            self.arrow_reads[how] += 1

    def schema_of(self, key: str):
        """``key``'s Spark schema as profiling found it (the schema its DataFrame is read with)."""
        return self._sources[key][2]

    def read_arrow(self, key: str, columns, expressions):
        """``key``'s ``columns`` (Arrow types of their Spark types) and ``expressions`` (alias -> Spark SQL) as one
        Arrow table, for the driver engine (:mod:`pipelines.containment.driver_views`). Local Parquet and Delta
        files without Spark expressions are read with pyarrow (:func:`jobs.containment_arrow.read_local`); the
        rest, or a local read that fails, is one Spark job (``toArrow``) over the same DataFrame the Spark engine
        reads."""
        from jobs.containment_arrow import read_local, spark_arrow

        fmt, where, schema, version = self._sources[key]
        if not expressions and key in self._arrow:
            self._count("kept")
            return self._arrow[key].select(list(columns))
        if not expressions and fmt in ("delta_files", "parquet"):
            files, base = version if fmt == "delta_files" else (None, where)
            got = read_local(schema, list(columns), files, base)
            if got is not None:
                self._count("pyarrow")
                return got
        self._count("spark")
        return spark_arrow(self[key], list(columns), dict(expressions))

    def __iter__(self):
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


# A small CSV is read once into the driver (by pipelines.core.spark_csv, else one Spark job after Spark infers its schema): its
# statistics are computed there (stats.arrow_stats: ~7x faster than an aggregate job per CSV, measured on the
# real-data lake) and the rows are kept for the driver engine, which would otherwise read it again.
CSV_IN_DRIVER_MAX_BYTES = 64 * 1024 * 1024
CSV_KEPT_MAX_BYTES = 512 * 1024 * 1024  # all CSV rows kept in the driver together (Arrow bytes); past it, read again
PROFILE_THREADS = 4
_KEPT_LOCK = threading.Lock()


def _profile_csv_in_driver(path: Path, spark, prof: TableProfile, rows_in_driver: dict):
    """Profile a small CSV from its rows in the driver: read without Spark when :mod:`pipelines.core.spark_csv`
    reproduces Spark's reading of it, else with Spark (schema inference, then ``toArrow``)."""
    local = spark_csv.read(path)
    if local is not None:
        schema, data = local.spark_schema(), local.table
    else:
        df = lakehouse.read_table(spark, TableRef(path=str(path)), "csv")
        schema, data = df.schema, None
    fields = fields_of(schema)
    if not check_types(prof, fields):
        return None
    data = data if data is not None else df.toArrow()
    prof.columns = [ColumnProfile(n, t) for n, t in fields]
    arrow_stats(data, prof, prof.columns)
    prof.stats_source = "aggregate"
    with _KEPT_LOCK:  # kept for the driver engine while all kept CSVs stay within CSV_KEPT_MAX_BYTES
        kept = sum(t.nbytes for t in rows_in_driver.values())
        if kept + data.nbytes <= CSV_KEPT_MAX_BYTES:
            rows_in_driver[prof.table_id] = data
    return schema


def profile_table(spark, root: Path, path: Path, fmt: str,
                  rows_in_driver: dict | None = None) -> tuple[TableProfile, Any]:
    """Profile one table; problems become a ``skipped`` profile with the reason. With ``rows_in_driver`` (a
    dict), a small CSV is read into the driver once and its Arrow rows are left there under its table id."""
    prof = TableProfile(table_id(root, path), str(path), fmt)
    try:
        if fmt == "delta":
            schema = profile_delta(spark, path, prof, in_driver=rows_in_driver is not None)
        elif fmt == "parquet":
            schema = profile_parquet(spark, path, prof, in_driver=rows_in_driver is not None)
        else:
            prof.fingerprint = lakehouse.input_fingerprint(spark, TableRef(path=str(path)))
            prof.size_bytes = path.stat().st_size if path.is_file() else sum(
                f.stat().st_size for f in path.rglob("*") if f.is_file())
            if rows_in_driver is not None and prof.size_bytes <= CSV_IN_DRIVER_MAX_BYTES:
                schema = _profile_csv_in_driver(path, spark, prof, rows_in_driver)
            else:
                schema = profile_by_aggregate(lakehouse.read_table(spark, TableRef(path=str(path)), "csv"), prof)
    except Exception as exc:  # any read failure: the table is reported, never a crash
        reason = exc.one_line() if isinstance(exc, LakesieveError) else cause_line(exc)
        prof.skip(f"unreadable {fmt} table: {reason}")
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
        schema = profile_by_aggregate(df, prof)
    except Exception as exc:
        prof.skip(f"unreadable catalog table: {exc.one_line() if isinstance(exc, LakesieveError) else cause_line(exc)}")
        return prof, None
    if prof.ok and not prof.num_rows:
        prof.skip("empty table (0 rows)")
    return prof, (schema if prof.ok else None)


def selection_reason(tid: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> str | None:
    """Why a table id is left out by the ``include`` / ``exclude`` globs, or None when it is in."""
    hit = next((g for g in exclude if fnmatchcase(tid, g)), None)
    if hit is not None:
        return f"excluded by params.exclude '{hit}'"
    if include and not any(fnmatchcase(tid, g) for g in include):
        return "not matched by params.include"
    return None


def build_lake(spark, lake_root: str, extra_tables: tuple[str, ...], scan_lake: bool,
               include: tuple[str, ...] = (), exclude: tuple[str, ...] = (), small_csv_in_driver: bool = True):
    """(profiles, LakeTables) for every table under ``lake_root`` plus ``extra_tables``; with
    ``small_csv_in_driver``, small CSVs are profiled in the driver and their rows kept for the driver engine."""
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
            real_under(root, p, f"params.tables[{i}]")
        except SafetyError as exc:
            raise ConfigError(str(exc)) from exc
        found[p] = (lakehouse.detect_format(TableRef(path=str(p))), None)
    aliases: dict[str, list[str]] = {}  # table id -> the symlinks of the lake that point at it
    for path in found:
        if path.is_symlink() and inside(root, path):
            aliases.setdefault(table_id(root, path.resolve()), []).append(table_id(root, path))
    profiles, sources = [], {}
    in_driver: dict | None = {} if small_csv_in_driver else None
    reasons = {path: found[path][1] or selection_reason(table_id(root, path), include, exclude) for path in found}
    todo = [path for path in sorted(found) if reasons[path] is None]
    # Tables are profiled PROFILE_THREADS at a time: a CSV's two small Spark jobs (schema inference, toArrow)
    # are mostly waiting, and Spark runs jobs of several threads at once (74 CSVs: 10-16 s alone, 6.4 s on 4).
    with ThreadPoolExecutor(PROFILE_THREADS) as pool:
        done = dict(zip(todo, pool.map(lambda p: profile_table(spark, root, p, found[p][0], in_driver), todo)))
    for path in sorted(found):
        fmt, reason = found[path][0], reasons[path]
        if reason is not None:
            profiles.append(TableProfile(table_id(root, path), str(path), fmt or "unknown").skip(reason))
            continue
        prof, schema = done[path]
        prof.aliases = tuple(sorted(aliases.get(prof.table_id, ())))
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
    return profiles, LakeTables(spark, sources, in_driver)
