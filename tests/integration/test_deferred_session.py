"""A ``lakesieve run`` whose work stays in the driver never starts Spark (:class:`DeferredSession`), and gives the
same run as one on a started session: the same five minhash tables (rows and types), metrics, ledger row and quality
results. Where the run does need Spark (the Spark engine, a rollback), the deferred session starts it then."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake
from pyspark.sql import functions as F

from jobs import runner
from pipelines.core import delta_log, ledger
from pipelines.core import lakehouse as lh
from pipelines.core.errors import QualityCheckError
from pipelines.core.local_frames import DeferredFrame, from_arrow, held_arrow
from pipelines.core.session import DeferredSession
from pipelines.core.tables import TableRef
from pipelines.demo_data.corpus import generate
from pipelines.minhash.stage import STAGE, _held_counts, _spark_counts
from tests.tables_equal import assert_tables_equal

pytestmark = pytest.mark.spark

OUTPUTS = ("kept", "duplicates", "rejected", "source_stats", "index")
VERIFIED = ["verify=true", "num_bands=32", "rows_per_band=4", "jaccard_threshold=0.8"]


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory):
    """The design's documents (with a null id) written by delta-rs, as Parquet files and as a Delta table."""
    docs, _ = generate(seed=4, base_per_source=6)
    frame = spark.createDataFrame(docs.frame, docs.schema).unionByName(
        spark.createDataFrame([(None, "a document without an id " * 20, "web")], "id long, text string, source string"), allowMissingColumns=True)
    table = frame.toArrow()
    root = tmp_path_factory.mktemp("deferred")
    write_deltalake(str(root / "delta"), table)
    (root / "parquet").mkdir()
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), root / "parquet" / "part-0.parquet")
    pq.write_table(table.slice(half), root / "parquet" / "part-1.parquet")
    (root / "parquet" / "_SUCCESS").write_text("")
    return root


def _run(session, corpus, root: str, fmt: str, sets: list[str]):
    spec = runner.build_spec(STAGE, None, lakehouse_root=root,
                             overrides=[f"inputs.documents={corpus / fmt}", *sets])
    return runner.run_stage(session, STAGE, spec)


@pytest.mark.parametrize("fmt,sets", [("delta", VERIFIED), ("parquet", []), ("parquet", ["scope=local", *VERIFIED])],
                         ids=["delta-verified", "parquet-recipe", "parquet-local-verified"])
def test_a_driver_run_never_starts_spark_and_equals_a_run_on_a_started_session(spark, corpus, tmp_path, fmt, sets):
    deferred = DeferredSession("t")
    lazy = _run(deferred, corpus, str(tmp_path / "lazy"), fmt, sets)
    assert not deferred.started  # nothing in the run asked for Spark
    eager = _run(spark, corpus, str(tmp_path / "eager"), fmt, sets)
    assert lazy.status == eager.status == "success"
    timed = {k for k in lazy.metrics if k.startswith("seconds.")}
    assert {k: v for k, v in lazy.metrics.items() if k not in timed} == \
        {k: v for k, v in eager.metrics.items() if k not in timed}
    assert lazy.metrics["duplicates_current_batch"] > 5 and lazy.metrics["rows.rejected"] >= 1
    for name in OUTPUTS:
        a = lh.read_table(spark, TableRef.parse(f"minhash/{name}", str(tmp_path / "lazy")))
        b = lh.read_table(spark, TableRef.parse(f"minhash/{name}", str(tmp_path / "eager")))
        assert a.schema == b.schema, name
        assert_tables_equal(a, b, digits=12, what=name)
    for root in ("lazy", "eager"):  # the ledger and the quality results were written either way
        states = ledger.latest_states_local(str(tmp_path / root), stage="minhash")
        assert [s["status"] for s in states] == ["success"]
        quality = lh.read_table(spark, runner.quality_ref(str(tmp_path / root)))
        assert quality.where(~F.col("success")).count() == 0 and quality.count() >= 8


def test_the_spark_engine_starts_the_deferred_session(spark, corpus, tmp_path):
    deferred = DeferredSession("t")
    result = _run(deferred, corpus, str(tmp_path), "delta", ["engine=spark"])
    assert deferred.started and result.status == "success"
    assert result.metrics["duplicates_current_batch"] > 5


def test_a_failed_run_is_rolled_back_by_starting_spark(spark, corpus, tmp_path, monkeypatch):
    """Outputs committed by delta-rs, then the quality suite fails: the rollback (Spark's RESTORE) starts the
    session, and every output is back at the version before the run."""
    root = str(tmp_path)
    first = _run(DeferredSession("t"), corpus, root, "delta", [])
    before = {n: delta_log.local_version(tmp_path / "minhash" / n) for n in OUTPUTS}
    assert before == first.output_versions

    def failing(*args, **kwargs):
        raise QualityCheckError("designed failure after the commits")

    monkeypatch.setattr(runner, "_run_quality", failing)
    deferred = DeferredSession("t")
    with pytest.raises(QualityCheckError):
        _run(deferred, corpus, root, "delta", VERIFIED)
    assert deferred.started  # for the rollback
    for name in OUTPUTS:
        history = lh.history(spark, TableRef.parse(f"minhash/{name}", root), 3).collect()
        assert history[0]["operation"] == "RESTORE" and int(history[0]["operationParameters"]["version"]) == before[name]
    states = ledger.latest_states_local(root, stage="minhash")
    assert [s["status"] for s in states][:1] == ["failed"]


def test_held_and_spark_metrics_agree(spark):
    """The polars metrics and the Spark job's, on designed outputs: two clusters (sizes 3 and 2, one of whose
    members came from an earlier batch), a representative that is neither kept nor an earlier survivor, a null
    representative."""
    from pipelines.minhash.config import MinhashParams

    tables = {
        "source_stats": pa.table({"documents_in": pa.array([6, 4], pa.int64())}),
        "duplicates": pa.table({"cluster_id": pa.array([1, 1, 7, 9], pa.int64()),
                                "representative_id": pa.array([1, 1, 7, None], pa.int64()),
                                "from_previous_batch": [False, True, False, False]}),
        "kept": pa.table({"id": pa.array([1, 2, 3], pa.int64())}),
        "index": pa.table({"id": pa.array([1, 5, 8], pa.int64()), "representative_id": pa.array([1, 1, 7], pa.int64())}),
    }
    params = MinhashParams(max_component_size=2)
    held = _held_counts(params, tables)
    assert held == {"d": 10, "n": 4, "previous": 1, "biggest": 2, "large": 1, "reps_not_kept": 2}
    frames = {n: spark.createDataFrame(t) for n, t in tables.items()}
    assert _spark_counts(params, frames) == held


def test_deferred_frames_give_their_schema_files_and_rows_without_spark(spark, corpus):
    deferred = DeferredSession("t")
    frame, fingerprint = lh.read_input(deferred, TableRef.parse(str(corpus / "parquet")), deferred=True)
    assert isinstance(frame, DeferredFrame) and fingerprint.startswith("parquet:")
    assert sorted(p.rsplit("/", 1)[1] for p in lh.plain_scan_files(frame, ["id"])) == ["part-0.parquet", "part-1.parquet"]
    assert lh.footer_row_count(frame) == pq.read_metadata(corpus / "parquet" / "part-0.parquet").num_rows + \
        pq.read_metadata(corpus / "parquet" / "part-1.parquet").num_rows
    assert frame.schema == spark.read.parquet(str(corpus / "parquet")).schema  # as Spark reads it
    delta, print_ = lh.read_input(deferred, TableRef.parse(str(corpus / "delta")), deferred=True)
    assert print_ == "delta:v0" and delta.schema == spark.read.format("delta").load(str(corpus / "delta")).schema
    held = from_arrow(deferred, pa.table({"x": [1, 2]}), frame.schema.__class__.fromDDL("x long"))
    assert isinstance(held, DeferredFrame) and held_arrow(held).column("x").to_pylist() == [1, 2]
    assert not deferred.started
    # anything else makes the DataFrame, starting the session
    assert frame.where(F.col("id").isNull()).count() == 1 and deferred.started
    assert held.count() == 2


def test_a_commit_to_the_input_during_a_run_without_spark_changes_neither_its_rows_nor_its_fingerprint(
        spark, corpus, tmp_path, monkeypatch):
    """Another writer overwrites the Delta input with a fifth of its rows while the run is held before its
    transformation: the run still reads version 0's rows (its files were listed at that version) and the ledger
    records delta:v0, so a rerun sees v1 and is not skipped."""
    import shutil
    import threading

    source = tmp_path / "docs"
    shutil.copytree(corpus / "delta", source)
    rows = pq.ParquetDataset([str(f) for f in source.glob("*.parquet")]).read()
    release = tmp_path / "release"
    monkeypatch.setenv("LAKESIEVE_PAUSE", "transform:60")
    monkeypatch.setenv("LAKESIEVE_PAUSE_UNTIL", str(release))
    root = str(tmp_path / "lh")
    spec = runner.build_spec(STAGE, None, lakehouse_root=root, overrides=[f"inputs.documents={source}"])
    deferred, out = DeferredSession("t"), {}
    worker = threading.Thread(target=lambda: out.update(result=runner.run_stage(deferred, STAGE, spec)))
    worker.start()
    import time
    deadline = time.time() + 60
    while not ledger.latest_states_local(root, stage="minhash") and time.time() < deadline:
        time.sleep(0.2)  # the run has claimed its outputs: its input was read
    write_deltalake(str(source), rows.slice(0, rows.num_rows // 5), mode="overwrite")
    release.write_text("")
    worker.join(120)
    result = out["result"]
    assert result.status == "success" and not deferred.started
    assert result.metrics["input_documents"] == rows.num_rows  # version 0's rows, all of them
    states = ledger.stage_runs(None, root, "minhash")
    assert {r["inputs_hash"] for r in states} == {runner.config_hash({"documents": "delta:v0"})}


def test_a_parquet_file_written_while_the_input_is_listed_is_neither_read_nor_fingerprinted(corpus, tmp_path,
                                                                                            monkeypatch):
    import shutil

    folder = tmp_path / "pq"
    shutil.copytree(corpus / "parquet", folder)
    original = pq.read_schema

    def read_schema_then_write(path, *args, **kwargs):  # another writer adds a file just after the listing
        if not (folder / "part-2.parquet").exists():
            shutil.copy(folder / "part-0.parquet", folder / "part-2.parquet")
        return original(path, *args, **kwargs)

    monkeypatch.setattr(pq, "read_schema", read_schema_then_write)
    ref = TableRef.parse(str(folder))
    frame, fingerprint = lh.read_input(DeferredSession("t"), ref, deferred=True)
    assert (folder / "part-2.parquet").exists()
    assert sorted(p.rsplit("/", 1)[1] for p in frame.files) == ["part-0.parquet", "part-1.parquet"]
    assert fingerprint != lh.input_fingerprint(None, ref)  # the next run sees the new file and reads it


def _lake(root, with_date: bool):
    """A parent in Parquet, a Delta copy of half of it (delta-rs), a CSV of a quarter (pandas' style); with
    ``with_date`` the CSV has a date column, which only Spark may type."""
    import pandas as pd

    parent = pa.table({"id": pa.array(range(1, 21), pa.int64()), "x": pa.array([-0.0] + [k * 0.5 for k in range(1, 20)]),
                       "s": pa.array([f"r{k}" for k in range(20)])})
    root.mkdir(parents=True)
    pq.write_table(parent, root / "parent.parquet")
    write_deltalake(str(root / "half"), parent.slice(0, 10))
    quarter = parent.slice(0, 5).select(["id", "s"]).to_pandas()
    if with_date:
        quarter["day"] = pd.to_datetime("2024-01-01").date()
    quarter.to_csv(root / "quarter.csv", index=False)


@pytest.mark.parametrize("with_date", [False, True], ids=["driver-only", "a-csv-spark-must-type"])
def test_a_containment_run_in_the_driver_never_starts_spark_and_equals_a_started_run(spark, tmp_path, with_date):
    from jobs.containment import STAGE as CONTAINMENT

    _lake(tmp_path / "lake", with_date)
    runs = {}
    for name, session in (("lazy", DeferredSession("t")), ("eager", spark)):
        spec = runner.build_spec(CONTAINMENT, None, lakehouse_root=str(tmp_path / name),
                                 overrides=[f"inputs.lake={tmp_path / 'lake'}"])
        runs[name] = (session, runner.run_stage(session, CONTAINMENT, spec))
    deferred, lazy = runs["lazy"]
    eager = runs["eager"][1]
    assert deferred.started == with_date  # only the CSV with dates needed Spark (its inference)
    assert lazy.status == eager.status == "success" and lazy.quality_failures == eager.quality_failures == []
    timed = {k for k in lazy.metrics if k.startswith("seconds.") or k.startswith("views.tables_read")}
    assert {k: v for k, v in lazy.metrics.items() if k not in timed} == \
        {k: v for k, v in eager.metrics.items() if k not in timed}
    verified = {(r["parent"], r["child"]) for r in lh.read_table(
        spark, TableRef.parse("containment/edges", str(tmp_path / "lazy"))).where("reached = 'verified'").collect()}
    expected = {("parent.parquet", "half"), ("half", "quarter.csv"), ("parent.parquet", "quarter.csv")}
    assert verified == (expected - {("half", "quarter.csv"), ("parent.parquet", "quarter.csv")} if with_date
                        else expected)
    for name in ("profile", "edges", "plan", "recipes"):
        a = lh.read_table(spark, TableRef.parse(f"containment/{name}", str(tmp_path / "lazy")))
        b = lh.read_table(spark, TableRef.parse(f"containment/{name}", str(tmp_path / "eager")))
        assert a.schema == b.schema, name
        assert_tables_equal(a, b, digits=12, what=name)
    quality = lh.read_table(spark, runner.quality_ref(str(tmp_path / "lazy")))
    assert quality.where(~F.col("success")).count() == 0 and quality.count() >= 10
