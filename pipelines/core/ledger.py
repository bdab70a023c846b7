"""The run ledger: one Delta table ``_lakesieve/runs`` under the lakehouse root.

Each run appends a ``running`` row when it starts and a final row (``success``, ``failed`` or
``skipped``) when it ends; the newest row of a run id is its state. A run whose stage, config hash
and input versions match an earlier successful run whose outputs are still at the versions it
wrote is skipped unless forced.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipelines.core.tables import TableRef

# (column, Spark type, nullable): the schema as data, so that read-only commands (``lakesieve runs``,
# delta-rs) never import pyspark; ``LEDGER_SCHEMA`` builds the StructType on first use.
LEDGER_COLUMNS = (
    ("run_id", "string", False), ("stage", "string", False), ("status", "string", False),
    ("config_json", "string", True), ("config_hash", "string", True), ("input_versions", "string", True),
    ("inputs_hash", "string", True), ("output_versions", "string", True),
    ("previous_output_versions", "string", True), ("metrics", "string", True), ("quality", "string", True),
    ("started_at", "timestamp", True), ("ended_at", "timestamp", True), ("error", "string", True),
    ("host_pid", "string", True), ("lakesieve_version", "string", True),
)


def __getattr__(name: str):
    if name == "LEDGER_SCHEMA":
        from pyspark.sql import types as T

        kinds = {"string": T.StringType(), "timestamp": T.TimestampType()}
        schema = T.StructType([T.StructField(c, kinds[k], n) for c, k, n in LEDGER_COLUMNS])
        globals()["LEDGER_SCHEMA"] = schema
        return schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class RunRecord:
    """One row of the ledger. Dict-valued fields are stored as JSON strings."""

    run_id: str
    stage: str
    status: str
    config_json: str = "{}"
    config_hash: str = ""
    input_versions: dict = field(default_factory=dict)
    inputs_hash: str = ""
    output_versions: dict = field(default_factory=dict)
    previous_output_versions: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    quality: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    host_pid: str = ""
    lakesieve_version: str = ""

    def to_row(self) -> tuple:
        d = asdict(self)
        for key in ("input_versions", "output_versions", "previous_output_versions", "metrics"):
            d[key] = json.dumps(d[key], sort_keys=True, default=str)
        return tuple(d[c] for c, _, _ in LEDGER_COLUMNS)

    @staticmethod
    def from_row(row) -> "RunRecord":
        d = dict(row.asDict() if hasattr(row, "asDict") else row)
        for key in ("input_versions", "output_versions", "previous_output_versions", "metrics"):
            d[key] = json.loads(d[key] or "{}")
        return RunRecord(**d)


def ledger_ref(root: str | Path) -> TableRef:
    return TableRef(path=str(Path(root) / "_lakesieve" / "runs"))


def append(spark, root: str | Path, record: RunRecord, *, compact_every: int | None = None) -> int:
    """Append one row (a blind append: concurrent runs never conflict on the ledger); return the
    ledger's version that holds it. The ledger is compacted now and then (:func:`lakehouse.append_rows`;
    ``compact_every``: its default unless given, 0 never)."""
    from pipelines.core.lakehouse import COMPACT_EVERY, append_records

    row = dict(zip((c for c, _, _ in LEDGER_COLUMNS), record.to_row()))
    every = COMPACT_EVERY if compact_every is None else compact_every
    return append_records(spark, ledger_ref(root), [row], lambda: __getattr__("LEDGER_SCHEMA"), record.run_id,
                          compact_every=every)


def read_all(spark, root: str | Path):
    """The ledger as a DataFrame (empty with the right schema when there is none yet)."""
    from pipelines.core.lakehouse import read_table, table_version

    ref = ledger_ref(root)
    if table_version(spark, ref) is None:
        return spark.createDataFrame([], __getattr__("LEDGER_SCHEMA"))
    return read_table(spark, ref, "delta")


def latest_states(spark, root: str | Path):
    """One row per run id: its newest state, newest runs first."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = read_all(spark, root)
    order = F.when(F.col("status") == "running", 0).otherwise(1)
    w = Window.partitionBy("run_id").orderBy(order.desc(), F.col("ended_at").desc_nulls_last())
    return (df.withColumn("_rank", F.row_number().over(w)).where("_rank = 1").drop("_rank")
            .orderBy(F.col("started_at").desc()))


def _state_key(row: dict) -> tuple:
    """The order :func:`latest_states` picks a run's state by: a final state over ``running``, then the
    newest end."""
    ended = row.get("ended_at")
    return (row["status"] != "running", ended is not None, ended or datetime.min)


def _local_rows(root: str | Path, *, version: int | None = None, columns=None) -> list[dict] | None:
    """The ledger's rows read with delta-rs (``deltalake``): no Spark job, no JVM; timestamps naive UTC
    (as :func:`now` writes them). ``version``: as of that ledger version. ``None`` when the lakehouse is
    not on the local disk (the caller then uses Spark); ``[]`` when it has no ledger yet."""
    from pipelines.core.lakehouse import local_path

    path = local_path(ledger_ref(root))
    if path is None:
        return None
    if not (path / "_delta_log").is_dir():
        return []
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    # delta-rs replays the log (checkpoints, compactions); the files are read one by one without threads:
    # its pyarrow dataset scan can abort the process at exit (delta-io/delta-rs#2184, pola-rs/polars#24169)
    files = DeltaTable(str(path), version=version).file_uris()
    def utc_us(part: "pa.Table") -> "pa.Table":
        # one timestamp type for every file, naive UTC microseconds (as :func:`now` writes them): Spark
        # writes INT96 (naive nanoseconds, UTC by Spark's convention), delta-rs microseconds with a UTC zone
        # (cast to naive keeps the UTC wall time); a zone or nanoseconds would bring in pandas (1 s)
        return part.cast(pa.schema([pa.field(f.name, pa.timestamp("us"), f.nullable)
                                    if pa.types.is_timestamp(f.type) else f for f in part.schema]), safe=False)

    # ParquetFile, not read_table: read_table goes through pyarrow.dataset, which imports pandas (1 s)
    parts = [utc_us(pq.ParquetFile(f).read(columns=columns, use_threads=False)) for f in files]
    if not parts:
        return []
    rows = pa.concat_tables(parts, promote_options="default").to_pylist()
    return rows


def latest_states_local(root: str | Path, *, stage: str | None = None, limit: int | None = None) -> list[dict] | None:
    """:func:`latest_states` without Spark or a JVM, for read-only commands (``lakesieve runs``): one dict
    per run id, newest runs first (:func:`_local_rows` for ``None`` and ``[]``)."""
    rows = _local_rows(root)
    if rows is None:
        return None
    newest: dict[str, dict] = {}
    for row in rows:
        if stage is not None and row["stage"] != stage:
            continue
        held = newest.get(row["run_id"])
        if held is None or _state_key(row) > _state_key(held):
            newest[row["run_id"]] = row
    rows = sorted(newest.values(), key=lambda r: r.get("started_at") or datetime.min, reverse=True)
    return rows[:limit] if limit is not None else rows


# The columns that say which runs exist and how they ended; config and metrics are read only for the
# run that needs them.
_STATE_COLUMNS = ("run_id", "status", "config_hash", "inputs_hash", "started_at", "ended_at")


def stage_runs(spark, root: str | Path, stage: str | None, *, version: int | None = None) -> list:
    """Every ledger row of ``stage`` (``None``: of every stage), light columns only: one small read that the
    runner's checks share (:func:`find_reusable`, :func:`unfinished`) instead of each reading the ledger.
    ``version``: the rows as of that ledger version (the rows appended up to and including it)."""
    local = _local_rows(root, version=version, columns=["stage", *_STATE_COLUMNS])
    if local is not None:  # a local lakehouse: delta-rs, no Spark job (a second less per read)
        return [r for r in local if stage is None or r["stage"] == stage]
    from pyspark.sql import functions as F

    from pipelines.core.lakehouse import read_table, read_version, table_version

    ref = ledger_ref(root)
    if table_version(spark, ref) is None:
        return []  # a new lakehouse: no ledger yet, no Spark job
    df = read_table(spark, ref, "delta") if version is None else read_version(spark, ref, version)
    if stage is not None:
        df = df.where(F.col("stage") == stage)
    return df.select(*_STATE_COLUMNS).collect()


def _records(spark, root: str | Path, stage: str | None, run_ids: list[str], status: str) -> list:
    local = _local_rows(root)
    if local is not None:
        return [r for r in local if r["status"] == status and r["run_id"] in run_ids
                and (stage is None or r["stage"] == stage)]
    from pyspark.sql import functions as F

    wanted = (F.col("status") == status) & F.col("run_id").isin(run_ids)
    if stage is not None:
        wanted &= F.col("stage") == stage
    return read_all(spark, root).where(wanted).collect()


def _when(value) -> datetime:
    return value or datetime.min


def find_reusable(spark, root: str | Path, stage: str, config_hash: str, inputs_hash: str,
                  runs: list | None = None) -> RunRecord | None:
    """The newest successful run of ``stage`` with the same config and inputs, if any.
    ``runs``: this stage's :func:`stage_runs`, when the caller has read them."""
    runs = stage_runs(spark, root, stage) if runs is None else runs
    matches = [r for r in runs if r["status"] == "success" and r["config_hash"] == config_hash
               and r["inputs_hash"] == inputs_hash]
    if not matches:
        return None
    newest = max(matches, key=lambda r: _when(r["ended_at"]))
    rows = _records(spark, root, stage, [newest["run_id"]], "success")
    return RunRecord.from_row(max(rows, key=lambda r: _when(r["ended_at"]))) if rows else None


def unfinished(spark, root: str | Path, stage: str | None, runs: list | None = None) -> list[RunRecord]:
    """Runs of ``stage`` (``None``: of every stage) whose newest state is still ``running``, newest first.

    Runs before and during every stage run, so it avoids :func:`latest_states`' window and sort
    (two shuffles, seconds on a small machine): it looks at this stage's :func:`stage_runs` (read
    here unless given), and reads the full rows only of the runs with no final state (usually none)."""
    runs = stage_runs(spark, root, stage) if runs is None else runs
    finished = {r["run_id"] for r in runs if r["status"] != "running"}
    pending = sorted({r["run_id"] for r in runs if r["status"] == "running"} - finished)
    if not pending:
        return []
    newest = {r["run_id"]: r for r in sorted(_records(spark, root, stage, pending, "running"),
                                             key=lambda r: _when(r["started_at"]))}
    return [RunRecord.from_row(r) for r in sorted(newest.values(), key=lambda r: _when(r["started_at"]), reverse=True)]
