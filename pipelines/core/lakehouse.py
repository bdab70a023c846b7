"""Lakehouse I/O: read Delta / Parquet / CSV tables and write Delta tables atomically.

Only jobs call these functions. Every write is one Delta commit (atomic overwrite) carrying the
run id in ``userMetadata``; :func:`write_table` returns the version it committed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import NamedTuple, Sequence

from pipelines.core import delta_log
from pipelines.core.errors import ConcurrentRunError, InputNotFoundError, OutputError, cause_line
from pipelines.core.local_frames import held_arrow
from pipelines.core.tables import TableRef

log = logging.getLogger("lakesieve.lakehouse")

_LOCAL = ("file:", "/", ".")
# A log table (the run ledger, the quality results, containment's apply log) gains one small file per
# append; every COMPACT_EVERY-th version compacts them so that reading it stays one file's work.
COMPACT_EVERY = 64
_DELTA_UNSAFE_CHARS = set(" ,;{}()\n\t=")


def is_local(path: str) -> bool:
    """True for a path on this machine's file system (a plain path or ``file:``), False for a URI."""
    return path.startswith(_LOCAL) or "://" not in path and ":/" not in path


def _local(path: str) -> Path:
    return Path(path[len("file:"):] if path.startswith("file:") else path)


def spark_path(path: str) -> str:
    """The path handed to the JVM: a local path made absolute against *Python's* working directory, which
    is what the user and every check here mean (the JVM's own working directory may differ: a notebook or
    a test that changed directory); URIs unchanged."""
    return os.path.abspath(_local(path)) if is_local(path) else path


def detect_format(ref: TableRef) -> str:
    """``delta``, ``parquet``, ``csv`` or ``catalog`` for a reference, from what is on disk."""
    if ref.name is not None:
        return "catalog"
    path = ref.path or ""
    if not is_local(path):
        return "delta" if not path.endswith((".parquet", ".csv")) else path.rsplit(".", 1)[-1]
    p = _local(path)
    if not p.exists():
        raise InputNotFoundError(f"table path '{path}' does not exist")
    if p.is_dir():
        if (p / "_delta_log").is_dir():
            return "delta"
        names = [f.name for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))]
        if any(n.endswith(".parquet") for n in names):
            return "parquet"
        if any(n.endswith(".csv") for n in names):
            return "csv"
        raise InputNotFoundError(f"'{path}' is a folder with no Delta log, Parquet or CSV files")
    if p.suffix == ".parquet":
        return "parquet"
    if p.suffix == ".csv":
        return "csv"
    raise InputNotFoundError(f"'{path}' is not a Delta, Parquet or CSV table")


def table_exists(spark, ref: TableRef) -> bool:
    try:
        if ref.name is not None:
            return bool(spark.catalog.tableExists(ref.name))
        detect_format(ref)
        return True
    except InputNotFoundError:
        return False


def csv_reader(spark, schema=None):
    """The one CSV reading every command uses: RFC 4180 (a header row, quoted fields that may hold commas,
    newlines and doubled quotes), UTF-8, and FAILFAST, so a ragged or malformed row makes the table
    unreadable instead of silently padding it with nulls. The schema is inferred unless given."""
    reader = (spark.read.option("header", "true").option("multiLine", "true").option("quote", '"')
              .option("escape", '"').option("encoding", "UTF-8").option("mode", "FAILFAST"))
    return reader.schema(schema) if schema is not None else reader.option("inferSchema", "true")


def read_table(spark, ref: TableRef, fmt: str | None = None, *, schema=None, version: int | None = None):
    """Read a table (Delta, Parquet, CSV or a catalog table): the one table reader of every stage, the
    containment profile and apply/restore. ``schema`` fixes a file table's schema (no inference job);
    ``version`` time-travels a Delta table. A missing path or name is :class:`InputNotFoundError` naming it."""
    fmt = fmt or detect_format(ref)
    try:
        if fmt == "catalog":
            if not spark.catalog.tableExists(ref.name):
                raise InputNotFoundError(f"catalog table '{ref.name}' does not exist")
            return spark.read.table(ref.quoted_name())
        if fmt == "csv":
            return csv_reader(spark, schema).csv(spark_path(ref.path))
        reader = spark.read.format(fmt)
        if schema is not None and fmt == "parquet":
            reader = reader.schema(schema)
        if version is not None:
            if fmt != "delta":
                raise InputNotFoundError(f"table '{ref.label}' is {fmt}: only Delta tables have versions")
            reader = reader.option("versionAsOf", int(version))
        return reader.load(spark_path(ref.path))
    except InputNotFoundError:
        raise
    except Exception as exc:  # AnalysisException and friends: name the table and the real cause
        raise InputNotFoundError(f"cannot read table '{ref.label}' as {fmt}: {cause_line(exc)}") from exc


_GLOB_CHARS = frozenset("*?[]{}\\")


def read_input(spark, ref: TableRef, *, deferred: bool = False):
    """``(frame, fingerprint)`` of a stage's input: the frame as :func:`read_table` reads it, except a plain local
    Delta table (:func:`plain_delta_files`), which is read as its newest version's Parquet files with the table's
    schema: the same rows and types without Delta's snapshot, which Spark's Delta reader reconstructs in a Spark
    job (5-6 s as a cold ``lakesieve run``'s first job, against ~2 s for this read; measured on a 5,811-document
    table). A Delta table read by Delta's reader is pinned to the version it was analysed at (time travel), and the
    fingerprint (:func:`input_fingerprint`) names the version the frame reads: a commit between the read and the run's
    end cannot change the rows or make the ledger record a version the run never read.

    ``deferred`` (a stage that takes them: ``Stage.deferred_inputs``) and a session not started yet
    (:class:`pipelines.core.session.DeferredSession`): a plain local Delta table or plain local Parquet files
    (:func:`plain_parquet_files`) are a :class:`~pipelines.core.local_frames.DeferredFrame` of their files, read
    without a JVM by whatever needs only their schema, size, row count or Arrow rows."""
    from pipelines.core.session import not_started

    if deferred and not_started(spark):
        files = _deferred_input(spark, ref)
        if files is not None:
            return files
    if detect_format(ref) == "delta" and hasattr(spark, "_jsparkSession"):  # classic sessions: the files are local
        plain = plain_delta_files(ref)
        if plain is not None:
            from pyspark.sql import types as T

            schema, files, version = plain
            try:
                return spark.read.schema(T.StructType.fromJson(schema)).parquet(*files), f"delta:v{version}"
            except Exception as exc:  # noqa: BLE001 - Delta's reader decides
                log.debug("'%s' not read as its files (%s)", ref.label, cause_line(exc))
    fmt = detect_format(ref)
    # a file table (Parquet, CSV) is fingerprinted before Spark lists its files: a file written in between is read
    # and not fingerprinted (the next run reads it again), never fingerprinted and not read (the next run skipped)
    before = input_fingerprint(spark, ref) if fmt in ("parquet", "csv") else None
    df = read_table(spark, ref, fmt)
    version = _analysed_delta_version(df) if fmt == "delta" else None
    if version is not None:  # pinned: a path read by Delta's reader otherwise runs on the version newest when it runs
        return read_table(spark, ref, version=version), f"delta:v{version}"
    return df, before if before is not None else input_fingerprint(spark, ref)


def _deferred_input(spark, ref: TableRef):
    """``(DeferredFrame, fingerprint)`` of a plain local Delta or Parquet input, else None. Every column is nullable,
    as Spark reads files."""
    from pyspark.sql import types as T

    from pipelines.core.local_frames import DeferredFrame

    fmt = detect_format(ref)
    if fmt == "delta":
        plain = plain_delta_files(ref)
        if plain is None:
            return None
        schema, files, version = plain
        return DeferredFrame(spark, T.StructType.fromJson(_all_nullable(schema)), files=files), f"delta:v{version}"
    if fmt == "parquet":
        found = plain_parquet_files(ref)
        if found is not None:
            schema, files, fingerprint = found
            return DeferredFrame(spark, schema, files=files), fingerprint
    return None


def _all_nullable(schema_json):
    """A Spark schema's JSON with every field, array element and map value nullable (Spark reads files so)."""
    if isinstance(schema_json, dict):
        out = {k: _all_nullable(v) for k, v in schema_json.items()}
        for key in ("nullable", "containsNull", "valueContainsNull"):
            if key in out:
                out[key] = True
        return out
    if isinstance(schema_json, list):
        return [_all_nullable(v) for v in schema_json]
    return schema_json


def plain_parquet_files(ref: TableRef):
    """``(Spark schema, files, fingerprint)`` of a local Parquet table that Spark would read as exactly those files' rows with
    that schema: one ``.parquet`` file, or a folder whose entries are only ``.parquet`` files (and Spark's hidden
    ``_``/``.`` files; no sub-folders, so no partition discovery), all of one Arrow schema of types whose Spark
    reading is the same (signed integers, floating point, booleans, strings, binary, dates, decimals, and lists and
    structs of them: :func:`_spark_like_arrow_type` with ``read``). The fingerprint (:func:`input_fingerprint`'s)
    is taken of the same listing as the files, so a file written into the folder meanwhile is neither read nor
    fingerprinted: the next run sees a new fingerprint and reads it. None otherwise (Spark reads it)."""
    path = local_path(ref)
    if path is None or os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return None
    try:
        import pyarrow.parquet as pq
        from pyspark.sql import types as T
        from pyspark.sql.pandas.types import from_arrow_schema

        fingerprint, listed = _files_fingerprint("parquet", path)
        if path.is_file():
            files = [path] if path.suffix == ".parquet" else []
        else:
            entries = [e for e in sorted(path.iterdir()) if not e.name.startswith(("_", "."))]
            fingerprinted = set(listed)  # a file that appeared after the fingerprint's listing is left for the next run
            files = ([e for e in entries if e in fingerprinted]
                     if all(e.is_file() and e.suffix == ".parquet" for e in entries) else [])
        if not files or any(_GLOB_CHARS & set(str(f)) for f in files):
            return None
        schemas = {pq.read_schema(f).remove_metadata() for f in files}
        if len(schemas) != 1:
            return None
        arrow_schema = schemas.pop()
        if any(_spark_like_arrow_type(f.type, read=True) is None for f in arrow_schema):
            return None
        schema = T.StructType.fromJson(_all_nullable(from_arrow_schema(arrow_schema).jsonValue()))
        return schema, [str(f) for f in files], fingerprint
    except Exception as exc:  # noqa: BLE001 - any doubt: Spark reads it
        log.debug("'%s' not read as plain Parquet files (%s)", ref.label, cause_line(exc))
        return None


def _analysed_delta_version(df) -> int | None:
    """The Delta version a frame read by Delta's reader is pinned to (its analysed plan's), else None."""
    try:
        plan = df._jdf.queryExecution().analyzed()
        while plan.nodeName() in ("Project", "SubqueryAlias"):
            plan = plan.child()
        if plan.getClass().getSimpleName() != "LogicalRelation":
            return None
        location = plan.relation().location()
        return int(location.version()) if location.getClass().getSimpleName() == "TahoeLogFileIndex" else None
    except Exception:  # noqa: BLE001 - Connect, a catalog view, another reader: the table's current version
        return None


def plain_delta_files(ref: TableRef) -> tuple[dict, list[str], int] | None:
    """(the table's schema as JSON, its newest version's data files, that version) of a local Delta table whose
    files hold exactly its rows under its own column names and types: protocol reader version 1 (no deletion
    vectors, column mapping, type widening, timestamps without time zone or other reader features), no partition
    columns, every file inside the table's folder once symlinks are resolved (a log entry ``../x.parquet`` or a
    link out of the folder is left to Delta's reader), no glob character in any path. None otherwise, and off on
    Databricks, whose FUSE paths are the object store's."""
    path = local_path(ref)
    if path is None or os.environ.get("DATABRICKS_RUNTIME_VERSION") or not (path / "_delta_log").is_dir():
        return None
    try:
        version, meta, adds, protocol = delta_log.read_snapshot(path)
        files = [str(delta_log.data_file(path, a["path"])) for a in adds.values()]
        inside = os.path.realpath(path) + os.sep
        if (int(protocol.get("minReaderVersion", 1)) != 1 or meta.get("partitionColumns")
                or (meta.get("configuration") or {}).get("delta.columnMapping.mode", "none") != "none"
                or any(a.get("deletionVector") or ":" in a["path"] for a in adds.values())
                or not files or any(_GLOB_CHARS & set(f) for f in files)
                or not all(os.path.realpath(f).startswith(inside) for f in files)):
            return None
        return json.loads(meta["schemaString"]), files, version
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("'%s' not read as its files (%s)", ref.label, exc)
        return None


def sql_identifier(ref: TableRef) -> str:
    """The table as a SQL identifier: the quoted catalog name, or ``delta.`<absolute path>``` (a path is
    data: a backtick in it is doubled, never SQL)."""
    if ref.name is not None:
        return ref.quoted_name()
    return "delta.`" + spark_path(ref.path).replace("`", "``") + "`"


def history(spark, ref: TableRef, limit: int):
    """The newest ``limit`` commits of a Delta table (``DESCRIBE HISTORY``), newest first.

    Delta operations go through SQL, never Delta's Python ``DeltaTable`` API: over Spark Connect
    (Databricks serverless, Databricks Connect, ``sc://``) that API needs the Delta Connect server
    plugin, which is not served for every Spark; the SQL commands run on both kinds of session."""
    return spark.sql(f"DESCRIBE HISTORY {sql_identifier(ref)} LIMIT {int(limit)}")


def table_version(spark, ref: TableRef) -> int | None:
    """The current Delta version of a table, or None when it does not exist (or is not Delta)."""
    if ref.path is not None and is_local(ref.path):
        return delta_log.local_version(_local(ref.path))
    if not table_exists(spark, ref):
        return None
    try:
        return int(history(spark, ref, 1).collect()[0]["version"])
    except Exception:
        return None


def input_fingerprint(spark, ref: TableRef) -> str:
    """A string that changes when the table's content may have changed.

    Delta: ``delta:v<version>``. Parquet/CSV on local disk: a hash of file names, sizes and mtimes.
    """
    fmt = detect_format(ref)
    if fmt in ("delta", "catalog"):
        version = table_version(spark, ref)
        if version is not None:
            return f"delta:v{version}"
    if ref.path is not None and is_local(ref.path):
        return _files_fingerprint(fmt, _local(ref.path))[0]
    return f"{fmt}:unversioned"


def _files_fingerprint(fmt: str, p: Path) -> tuple[str, list[Path]]:
    """(the fingerprint of a local file table, the files it was taken of): every file under ``p`` (or ``p``),
    by name, size and mtime; one listing, so a reader of those files and the fingerprint agree on what was there."""
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(p.parent)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return f"{fmt}:{h.hexdigest()[:16]}", files


def _is_conflict(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(k in text for k in ("ConcurrentAppend", "ConcurrentWrite", "ConcurrentDelete",
                                   "MetadataChanged", "ProtocolChanged", "ConcurrentTransaction",
                                   "DELTA_CONCURRENT", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED"))


class Commit(NamedTuple):
    """One Delta commit: its version and Delta's operation metrics (numOutputRows, numFiles, ...)."""

    version: int
    metrics: dict


def write_table(df, ref: TableRef, run_id: str, *, partition_by: Sequence[str] = (), mode: str = "overwrite") -> int:
    """Write ``df`` as one Delta commit tagged with ``run_id``; return the committed version
    (:func:`write_commit` for its metrics too)."""
    return write_commit(df, ref, run_id, partition_by=partition_by, mode=mode).version


def write_commit(df, ref: TableRef, run_id: str, *, partition_by: Sequence[str] = (), mode: str = "overwrite",
                 driver_max_bytes: int = 0) -> Commit:
    """Write ``df`` as one Delta commit tagged with ``run_id``; return the commit.

    Every write commits, even one that changes nothing (an empty table overwritten with no rows):
    Delta skips recording such commits by default, which would leave the run without a version
    of its own to record and roll back to. ``driver_max_bytes`` > 0: an overwrite of a local table
    that Spark estimates at most that size is committed by delta-rs from the rows collected as Arrow
    (:func:`_overwrite_with_delta_rs`), the same table Spark's writer would make, without its commit."""
    if driver_max_bytes > 0 and mode == "overwrite":
        done = _overwrite_with_delta_rs(df, ref, run_id, partition_by, driver_max_bytes)
        if done is not None:
            return done
    df.sparkSession.conf.set("spark.databricks.delta.skipRecordingEmptyCommits", "false")
    writer = (df.write.format("delta").mode(mode)
              .option("userMetadata", run_id))
    if mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    if any(set(name) & _DELTA_UNSAFE_CHARS for name in df.columns):
        # Column names with spaces, ';', '=' ... are data: Delta stores them with column mapping.
        writer = (writer.option("delta.columnMapping.mode", "name")
                  .option("delta.minReaderVersion", "2").option("delta.minWriterVersion", "5"))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    try:
        if ref.name is not None:
            writer.saveAsTable(ref.quoted_name())
        else:
            if is_local(ref.path):
                _local(ref.path).parent.mkdir(parents=True, exist_ok=True)
            writer.save(spark_path(ref.path))
    except Exception as exc:
        from pyspark.errors import AnalysisException

        if isinstance(exc, AnalysisException) and not _is_conflict(exc):
            raise OutputError(f"cannot write table '{ref.label}': {str(exc).splitlines()[0][:300]}") from exc
        if _is_conflict(exc):
            raise ConcurrentRunError(
                f"another run committed to '{ref.label}' while this one was writing; "
                f"this run's write was not kept ({str(exc).splitlines()[0][:200]})") from exc
        raise
    return committed(df.sparkSession, ref, run_id)


def committed(spark, ref: TableRef, run_id: str) -> Commit:
    """The newest commit of ``ref`` that carries ``run_id`` (a local table's JSON commits, else one read
    of the history)."""
    path = local_path(ref)
    found = delta_log.commit_of(path, run_id) if path is not None else None
    if found is not None:
        return Commit(*found)
    rows = history(spark, ref, 50).select("version", "userMetadata", "operationMetrics").collect()
    for row in rows:
        if row["userMetadata"] == run_id:
            return Commit(int(row["version"]), dict(row["operationMetrics"] or {}))
    raise ConcurrentRunError(f"the commit of run {run_id} is not in the history of '{ref.label}'")


def append_rows(df, ref: TableRef, run_id: str, *, compact_every: int = COMPACT_EVERY) -> int:
    """Append ``df`` (a few rows) to a log table as one commit tagged with ``run_id``; return its version.

    Each append adds a small file, and reading a table of many small files costs a task each (the
    ledger is read before every run: 1,000 files took 2.2 s against 0.3 s for one). So an append
    that lands on a version divisible by ``compact_every`` then compacts the table (Delta's
    ``OPTIMIZE``: the same rows in fewer files, as a new version; history and time travel are kept)."""
    version = write_table(df, ref, run_id, mode="append")
    if compact_every and version and version % compact_every == 0:
        compact(df.sparkSession, ref)
    return version


def append_records(spark, ref: TableRef, rows: Sequence[dict], spark_schema, run_id: str, *,
                   compact_every: int = COMPACT_EVERY) -> int:
    """Append ``rows`` (dicts, a few) to a log table (the ledger, the quality results) as one commit tagged
    with ``run_id``; return its version. ``spark_schema``: a callable giving the table's Spark schema.

    A local table is appended with delta-rs (about 50 ms against a Spark job's 1.5 s: the run ledger gets
    two appends per run), and created by it with ``spark_schema`` when new (a new lakehouse's first run:
    4.7 s of a cold run through Spark); a table on a URI and a table delta-rs cannot write go through Spark
    (:func:`append_rows`). Either way it is a blind append, compacted every
    ``compact_every``-th version."""
    version = _append_with_delta_rs(ref, rows, run_id, spark_schema)
    if version is None:
        df = spark.createDataFrame([tuple(r[f.name] for f in spark_schema().fields) for r in rows], spark_schema())
        return append_rows(df.coalesce(1), ref, run_id, compact_every=compact_every)
    if compact_every and version and version % compact_every == 0:
        compact(spark, ref)
    return version


def _delta_rs_may_write(path: Path) -> bool:
    """Whether delta-rs may commit to this local table: a plain local disk, where its commit (an atomic
    rename that never replaces) excludes a concurrent writer. Not on a Databricks driver's FUSE mounts
    (``/Volumes``, ``/dbfs``), whose rename guarantees are the object store's; ``LAKESIEVE_DELTA_RS_APPENDS=0``
    turns it off everywhere."""
    if os.environ.get("LAKESIEVE_DELTA_RS_APPENDS", "1") == "0" or os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return False
    real = os.path.realpath(path)
    return not real.startswith(("/Volumes/", "/dbfs/", "/Workspace/"))


def _append_with_delta_rs(ref: TableRef, rows: Sequence[dict], run_id: str, spark_schema) -> int | None:
    """The version delta-rs committed ``rows`` at, or None when it did not commit them (the caller then
    writes through Spark: only a failure *before* the commit falls back, so a row is never written twice).
    A table that does not exist yet is created with ``spark_schema()`` in Arrow terms; of two writers
    creating it at once, one commits version 0 (delta-rs's commit never replaces a file); the other's rows are
    committed after it, by delta-rs's own retry or, where delta-rs refuses the create because the table now
    exists or another append won the commit (seen in a make test on a busy machine), by appending again to the
    table as it then is, up to ``_APPEND_ATTEMPTS`` times (tests/unit/test_runs_without_spark.py races two processes without Spark: no row
    lost, versions 0-19 each once)."""
    path = local_path(ref)
    if path is None or not _delta_rs_may_write(path):
        return None
    import random
    import time

    for attempt in range(_APPEND_ATTEMPTS):
        seen = delta_log.local_version(path)
        version = _append_once(path, ref, rows, run_id, spark_schema)
        if version is not None or delta_log.local_version(path) == seen:
            return version  # committed, or failed with no one else's commit in between: not a lost race
        # not committed while another writer created the table or committed to it: try again on the table as it
        # is now, after a short random pause
        log.debug("delta-rs append to '%s' lost a race (attempt %d); trying again", ref.label, attempt + 1)
        time.sleep(random.uniform(0.01, 0.1))
    return None


_APPEND_ATTEMPTS = 4


def _append_once(path: Path, ref: TableRef, rows: Sequence[dict], run_id: str, spark_schema) -> int | None:
    """One delta-rs append (see :func:`_append_with_delta_rs`): the version committed, or None."""
    exists = delta_log.local_version(path) is not None
    before = delta_log.commit_of(path, run_id) if exists else None
    try:
        import pyarrow as pa
        from deltalake import CommitProperties, DeltaTable, write_deltalake

        if exists:
            schema = pa.schema(DeltaTable(str(path)).schema().to_arrow())
        else:
            from pyspark.sql.pandas.types import to_arrow_schema

            # every column nullable, as Spark's Delta writer creates a table from any DataFrame
            schema = pa.schema([f.with_nullable(True) for f in to_arrow_schema(spark_schema())])
        table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)
        write_deltalake(str(path), table, mode="append",
                        commit_properties=CommitProperties(custom_metadata={"userMetadata": run_id}))
    except Exception as exc:  # noqa: BLE001 - decided below: committed (keep it) or not (Spark writes it)
        after = delta_log.commit_of(path, run_id)
        if after is not None and after != before:
            return after[0]
        log.debug("delta-rs could not append to '%s' (%s); appending with Spark", ref.label, cause_line(exc))
        return None
    after = delta_log.commit_of(path, run_id)
    if after is None or after == before:
        raise ConcurrentRunError(f"the append of run {run_id} is not in the log of '{ref.label}'")
    return after[0]


def _spark_like_arrow_type(t, *, read: bool = False):
    """``t`` as Spark's Delta writer stores it (every field and element nullable, timestamps in UTC), or
    None for a type whose Delta form delta-rs would make differently (a timestamp without time zone needs a
    table feature Spark's writer does not add for it; intervals, ``void``).

    ``read``: None also for a Parquet type whose reading by Spark is not the one Arrow's schema gives
    (:func:`plain_parquet_files`): timestamps (Spark's type depends on the writer's flags), unsigned integers,
    half floats and 256-bit decimals."""
    import pyarrow as pa

    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC") if t.tz and not read else None
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = _spark_like_arrow_type(t.value_type, read=read)
        return None if inner is None else pa.list_(pa.field("element", inner, True))
    if pa.types.is_struct(t):
        fields = [(f.name, _spark_like_arrow_type(f.type, read=read)) for f in t]
        return None if any(x is None for _, x in fields) else pa.struct([pa.field(n, x, True) for n, x in fields])
    if pa.types.is_map(t):
        key, item = _spark_like_arrow_type(t.key_type, read=read), _spark_like_arrow_type(t.item_type, read=read)
        return None if key is None or item is None else pa.map_(key, pa.field("value", item, True))
    if read and (pa.types.is_unsigned_integer(t) or pa.types.is_float16(t) or pa.types.is_decimal256(t)):
        return None
    plain = (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t)
             or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)
             or pa.types.is_date32(t) or pa.types.is_decimal(t))
    return t if plain else None


def plain_scan_files(df, columns: Sequence[str]) -> list[str] | None:
    """The local Parquet files whose rows are exactly ``df.select(columns)``'s: a classic session's plan that is
    only projections of columns over a Parquet or Delta relation on the local disk, with no filter; a Delta
    table read at its newest version, without deletion vectors (the deleted rows are still in the files) or
    column mapping. None otherwise (or on any doubt).

    Decided on the analysed plan (made when the frame was) and, for Delta, the log read here
    (:func:`pipelines.core.delta_log.read_delta_log`) with the version the relation was analysed at: optimising
    the plan or listing a Delta relation's files through Spark reconstructs the table's state in a Spark job,
    6-7 s as the first job of a ``lakesieve run`` (measured on a 5,811-document table)."""
    from pipelines.core.local_frames import DeferredFrame

    if isinstance(df, DeferredFrame):
        return df.files if df.files is not None and set(columns) <= set(df.columns) else None
    try:
        plan = df.select(*columns)._jdf.queryExecution().analyzed()
        while plan.nodeName() in ("Project", "SubqueryAlias"):
            if plan.nodeName() == "Project":
                items = plan.projectList()
                if any(items.apply(i).getClass().getSimpleName() != "AttributeReference" for i in range(items.size())):
                    return None
            plan = plan.child()
        if plan.getClass().getSimpleName() != "LogicalRelation":
            return None
        relation = plan.relation()
        file_format = relation.fileFormat().getClass().getSimpleName()
        if file_format not in ("ParquetFileFormat", "DeltaParquetFileFormat"):
            return None
        from urllib.parse import unquote, urlparse

        location = relation.location()
        if file_format == "ParquetFileFormat":
            files = list(location.inputFiles())
            if not all(f.startswith("file:") for f in files):
                return None
            return [unquote(urlparse(f).path) for f in files]
        root_uri = str(location.path().toString())
        if not root_uri.startswith("file:"):
            return None
        root = Path(unquote(urlparse(root_uri).path))
        version, meta, adds = delta_log.read_delta_log(root)
        mapped = (meta.get("configuration") or {}).get("delta.columnMapping.mode", "none") != "none"
        if (mapped or any(a.get("deletionVector") for a in adds.values())
                or int(location.version()) != version):  # a time-travelled read, or a commit since the analysis
            return None
        return [str(delta_log.data_file(root, a["path"])) for a in adds.values()]
    except Exception as exc:  # noqa: BLE001 - any doubt: Spark reads it
        log.debug("not a plain scan (%s)", cause_line(exc))
        return None


def input_bytes(df) -> int | None:
    """The size of ``df`` for the engines' choice of the driver: its files' bytes when it is a plain scan
    (:func:`plain_scan_files`: no Spark job), else Spark's estimate (which optimises the plan: for a Delta table,
    a job that reconstructs its state); None where there is neither (Spark Connect)."""
    from pipelines.core.partitions import estimated_bytes

    files = plain_scan_files(df, df.columns[:1])
    if files is not None:
        try:
            return sum(os.path.getsize(f) for f in files)
        except OSError:
            pass
    return estimated_bytes(df)


def footer_row_count(df) -> int | None:
    """``df``'s row count from its Parquet files' footers, with no Spark job, where ``df`` is a plain scan
    (:func:`plain_scan_files`); None otherwise."""
    files = plain_scan_files(df, df.columns[:1])
    if files is None:
        return None
    try:
        import pyarrow.parquet as pq

        return sum(pq.read_metadata(f).num_rows for f in files)
    except (OSError, ValueError) as exc:
        log.debug("row count not read from the footers (%s)", cause_line(exc))
        return None


def plain_scan_arrow(df, columns: Sequence[str]):
    """``df.select(columns)`` as an Arrow table read from its Parquet files by pyarrow, where that is the same
    rows (:func:`plain_scan_files`) and every column is in the files under its own name (not a partition
    column); each file's types are cast to the frame's (Delta's type widening leaves narrower types in older
    files). None otherwise: the caller collects it with Spark. Reading 1 M x 256 floats: ~1.5 s against 8 s
    for Spark's ``toArrow``; the files are read side by side (a file of one row group is one thread)."""
    local_files = plain_scan_files(df, columns)
    if local_files is None:
        return None
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from pyspark.sql import types as T
        from pyspark.sql.pandas.types import to_arrow_schema

        target = pa.schema(to_arrow_schema(T.StructType([df.schema[c] for c in columns])))

        def read(file: str):
            return pq.read_table(file, columns=list(columns)).select(list(columns)).cast(target)

        if len(local_files) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(len(local_files), os.cpu_count() or 1)) as pool:
                parts = list(pool.map(read, local_files))
        else:
            parts = [read(f) for f in local_files]
        return pa.concat_tables(parts) if parts else target.empty_table()
    except Exception as exc:  # noqa: BLE001 - any doubt: Spark collects it
        log.debug("not read as a plain scan (%s)", cause_line(exc))
        return None


def _small(df, max_bytes: int) -> bool:
    """Whether ``df`` is small enough to collect for delta-rs: Spark estimates the plan at most ``max_bytes``,
    or (a join's or an aggregate's estimate multiplies its inputs' sizes, so a few thousand rows are
    estimated at terabytes) the relations it reads at most a quarter of that: the stages' outputs are
    subsets, annotations and summaries of their inputs."""
    from pipelines.core.partitions import estimated_bytes, leaf_bytes

    size = estimated_bytes(df)
    if size is not None and size <= max_bytes:
        return True
    read = leaf_bytes(df)
    return read is not None and read <= max_bytes // 4


def _overwrite_with_delta_rs(df, ref: TableRef, run_id: str, partition_by: Sequence[str], max_bytes: int) -> Commit | None:
    """Overwrite a small local table with ``df``'s rows by delta-rs: one Spark job collects them as Arrow and
    delta-rs commits them with ``run_id`` (measured: 0.08 s + 0.01 s against 1.0 s for Spark's Delta writer
    on a warm session, per table); rows the driver already holds (:func:`~pipelines.core.local_frames.held_arrow`:
    outputs computed in the driver) are committed as they are, whatever their size, with no Spark job (sending them
    to the JVM for Spark's writer would cost more than the write). None, with nothing committed, where Spark's
    writer must do it: not a local plain disk (:func:`_delta_rs_may_write`), no size estimate (Spark Connect) or
    one above ``max_bytes``,
    column names that need column mapping, field metadata, a type delta-rs stores otherwise
    (:func:`_spark_like_arrow_type`), or a table delta-rs cannot write (a table feature it lacks). A write
    that a concurrent commit made fail is :class:`ConcurrentRunError`."""
    path = local_path(ref)
    held = held_arrow(df)
    if (path is None or not _delta_rs_may_write(path) or (path.exists() and not path.is_dir())
            or any(set(f.name) & _DELTA_UNSAFE_CHARS or f.metadata for f in df.schema.fields)
            or not (held is not None or _small(df, max_bytes))):  # rows already in the driver: any size
        return None
    import pyarrow as pa

    try:
        data = held if held is not None else df.toArrow()
    except Exception as exc:  # noqa: BLE001 - e.g. more than spark.driver.maxResultSize: Spark's writer
        log.debug("'%s' not collected for delta-rs (%s); writing with Spark", ref.label, cause_line(exc))
        return None
    types = [_spark_like_arrow_type(f.type) for f in data.schema]
    if any(t is None for t in types):
        return None
    data = data.cast(pa.schema([pa.field(f.name, t, True) for f, t in zip(data.schema, types)]))
    return delta_rs_overwrite(path, data, run_id, partition_by, ref.label)


def delta_rs_overwrite(path: Path, data, run_id: str, partition_by: Sequence[str], label: str) -> Commit | None:
    """Overwrite the local Delta table at ``path`` with the Arrow table ``data`` by delta-rs, ``run_id`` in the
    commit's ``userMetadata``: one commit, or none (the data files a killed or failed writer leaves are in no
    version: ``tests/reliability/test_kill_delta_rs.py`` kills it mid-write). The commit, or None when delta-rs
    did not commit (the caller's Spark writer then does); a concurrent commit is :class:`ConcurrentRunError`."""
    before = delta_log.commit_of(path, run_id)
    try:
        from deltalake import CommitProperties, write_deltalake
        from deltalake.exceptions import CommitFailedError

        try:
            path.mkdir(parents=True, exist_ok=True)
            write_deltalake(str(path), data, mode="overwrite", schema_mode="overwrite",
                            partition_by=list(partition_by) or None,
                            commit_properties=CommitProperties(custom_metadata={"userMetadata": run_id}))
        except CommitFailedError as exc:
            raise ConcurrentRunError(f"another run committed to '{label}' while this one was writing; "
                                     f"this run's write was not kept ({cause_line(exc)})") from exc
    except ConcurrentRunError:
        raise
    except Exception as exc:  # noqa: BLE001 - decided below: committed (keep it) or not (Spark writes it)
        log.debug("delta-rs could not overwrite '%s' (%s)", label, cause_line(exc))
    after = delta_log.commit_of(path, run_id)
    return Commit(*after) if after is not None and after != before else None


def compact(spark, ref: TableRef) -> bool:
    """Compact a Delta table's small files (``OPTIMIZE``); False when it could not be done now.

    Never fails the caller: the rows were already committed and compaction only changes their layout.
    A concurrent compaction or write of the same files (a conflict) is left for the next time; any
    other error is logged."""
    try:
        spark.sql(f"OPTIMIZE {sql_identifier(ref)}").collect()
        return True
    except Exception as exc:  # noqa: BLE001 - see the docstring
        if not _is_conflict(exc):
            log.warning("could not compact '%s': %s", ref.label, str(exc).splitlines()[0][:300])
        return False


def restore_table(spark, ref: TableRef, version: int) -> None:
    """Bring a Delta table back to ``version`` (a new commit; history is kept)."""
    spark.sql(f"RESTORE TABLE {sql_identifier(ref)} TO VERSION AS OF {int(version)}").collect()


def read_version(spark, ref: TableRef, version: int):
    """Read a Delta table as of ``version`` (time travel)."""
    reader = spark.read.format("delta").option("versionAsOf", int(version))
    if ref.name is not None:
        return reader.table(ref.quoted_name())
    return reader.load(spark_path(ref.path))


def read_version_arrow(ref: TableRef, version: int, columns: Sequence[str] | None = None):
    """A local Delta table as of ``version`` as an Arrow table read by delta-rs (no Spark job), only ``columns``
    (all when None); None when the table is not on local disk or delta-rs cannot read it (a table feature it
    lacks): the caller then reads it with Spark."""
    path = local_path(ref)
    if path is None:
        return None
    try:
        from deltalake import DeltaTable

        return DeltaTable(str(path), version=int(version)).to_pyarrow_table(columns=list(columns) if columns else None)
    except Exception as exc:  # noqa: BLE001 - any failure here only means "read it with Spark"
        log.debug("delta-rs cannot read '%s' v%s (%s); reading with Spark", ref.label, version, cause_line(exc))
        return None


def read_version_local(ref: TableRef, version: int, columns: Sequence[str] | None = None):
    """A local Delta table as of ``version`` as a pandas DataFrame read by delta-rs (no Spark job), only
    ``columns`` (all when None); None when the table is not on local disk, delta-rs cannot read it (a
    table feature it lacks) or a floating-point column holds a NaN (pandas cannot tell a NaN from a null,
    Spark can: a NaN would pass a null-skipping check in pandas that fails on Spark): the caller then
    reads it with Spark."""
    import pyarrow as pa
    import pyarrow.compute as pc

    data = read_version_arrow(ref, version, columns)
    if data is None or any(pa.types.is_floating(c.type) and pc.any(pc.is_nan(c)).as_py() for c in data.columns):
        return None
    return data.to_pandas()


def canonical_location(ref: TableRef) -> str:
    """Where a table really is, as one string, for comparing and claiming outputs: a local path resolved to
    its absolute real path (a relative or an absolute spelling, or a path through a symlink, give the same
    string), a URI without trailing slashes, a catalog name lower-cased without its quotes."""
    if ref.name is not None:
        parts = re.findall(r"`((?:[^`]|``)+)`|([^.`]+)", ref.name)
        return "table:" + ".".join((quoted.replace("``", "`") or plain).lower() for quoted, plain in parts)
    if is_local(ref.path):
        return "file:" + os.path.realpath(_local(ref.path))
    return ref.path.rstrip("/")


def logged_row_count(ref: TableRef, version: int | None = None) -> int | None:
    """A local Delta table's row count from its log (the ``numRecords`` statistic of every active file), with
    no Spark job; None where the log cannot tell: not a local Delta table, a file without statistics, a
    deletion vector (its rows are fewer than the file's), or a newest version other than ``version``."""
    path = local_path(ref)
    if path is None or not (path / "_delta_log").is_dir():
        return None
    try:
        found, _, adds = delta_log.read_delta_log(path)
        if version is not None and found != version:
            return None
        total = 0
        for add in adds.values():
            stats = add.get("stats")
            if not stats or add.get("deletionVector"):
                return None
            records = json.loads(stats).get("numRecords")
            if records is None:
                return None
            total += int(records)
        return total
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("row count of '%s' not read from its log (%s)", ref.label, exc)
        return None


def local_path(ref: TableRef) -> Path | None:
    """The local filesystem path of a path reference, else None."""
    if ref.path is not None and is_local(ref.path):
        return _local(ref.path)
    return None


__all__ = [
    "detect_format", "table_exists", "read_table", "table_version", "input_fingerprint",
    "Commit", "write_table", "write_commit", "committed", "append_rows", "append_records", "compact", "restore_table", "read_version",
    "local_path", "canonical_location", "logged_row_count",
]
