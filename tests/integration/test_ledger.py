"""The run ledger's checks on designed histories: which runs are unfinished, which run is reusable."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import pytest

from pipelines.core import lakehouse, ledger

pytestmark = pytest.mark.spark

T0 = datetime(2026, 1, 1)


def _rec(run_id, status, minute, *, stage="s", config_hash="c", inputs_hash="i", ended=None, outputs=None):
    return ledger.RunRecord(run_id=run_id, stage=stage, status=status, config_hash=config_hash, inputs_hash=inputs_hash,
                            started_at=T0 + timedelta(minutes=minute),
                            ended_at=None if ended is None else T0 + timedelta(minutes=ended),
                            output_versions=outputs or {}, host_pid="elsewhere:1")


def _seed(spark, root, records):
    df = spark.createDataFrame([r.to_row() for r in records], ledger.LEDGER_SCHEMA)
    lakehouse.write_table(df, ledger.ledger_ref(root), "seed", mode="append")


def test_unfinished_and_reusable_runs_on_a_designed_history(spark, tmp_path):
    root = str(tmp_path)
    assert ledger.stage_runs(spark, root, "s") == [] and ledger.unfinished(spark, root, "s") == []
    _seed(spark, root, [
        _rec("r1", "running", 1), _rec("r1", "success", 1, ended=2, outputs={"out": 0}),  # finished
        _rec("r2", "running", 3),                                                          # unfinished
        _rec("r3", "running", 4), _rec("r3", "aborted", 4, ended=5),                       # rolled back
        _rec("r4", "running", 6),                                                          # unfinished, newest
        _rec("r5", "running", 7), _rec("r5", "success", 7, ended=8, outputs={"out": 3}),   # newest reusable
        _rec("r6", "running", 9), _rec("r6", "success", 9, ended=10, inputs_hash="other"),  # other inputs
        _rec("x1", "running", 11, stage="t"),                                              # another stage
    ])
    runs = ledger.stage_runs(spark, root, "s")
    assert sorted({r["run_id"] for r in runs}) == ["r1", "r2", "r3", "r4", "r5", "r6"] and len(runs) == 10
    for given in (None, runs):
        assert [r.run_id for r in ledger.unfinished(spark, root, "s", given)] == ["r4", "r2"]
        reusable = ledger.find_reusable(spark, root, "s", "c", "i", given)
        assert reusable.run_id == "r5" and reusable.status == "success" and reusable.output_versions == {"out": 3}
        assert ledger.find_reusable(spark, root, "s", "c", "nope", given) is None
    assert [r.run_id for r in ledger.unfinished(spark, root, "t")] == ["x1"]


def test_the_ledger_read_without_spark_gives_the_same_states(spark, tmp_path):
    """``lakesieve runs`` reads the ledger with delta-rs (no JVM): the same newest state per run, in the
    same order, as the Spark reader, across two appends and a compaction (OPTIMIZE)."""
    root = str(tmp_path)
    assert ledger.latest_states_local(root) == []
    _seed(spark, root, [_rec("r1", "running", 1), _rec("r1", "success", 1, ended=2),
                        _rec("r2", "running", 3), _rec("x1", "running", 5, stage="t"),
                        _rec("x1", "failed", 5, stage="t", ended=6)])
    _seed(spark, root, [_rec("r3", "running", 4), _rec("r3", "aborted", 4, ended=7)])
    lakehouse.compact(spark, ledger.ledger_ref(root))
    cols = ("run_id", "stage", "status", "started_at", "ended_at")
    via_spark = [tuple(r[c] for c in cols) for r in ledger.latest_states(spark, root).collect()]
    local = [tuple(r[c] for c in cols) for r in ledger.latest_states_local(root)]
    assert local == via_spark
    assert [r[:3] for r in local] == [("x1", "t", "failed"), ("r3", "s", "aborted"), ("r2", "s", "running"),
                                      ("r1", "s", "success")]
    assert [r["run_id"] for r in ledger.latest_states_local(root, stage="s", limit=2)] == ["r3", "r2"]
    assert ledger.latest_states_local("s3://bucket/lakehouse") is None  # not local: the caller uses Spark


def test_of_two_overlapping_runs_the_later_appender_refuses_whatever_the_clocks_say(spark, tmp_path):
    """Run "a" stamps its start after run "b" (clock skew, or a slow append) but appends its ``running``
    row first: "b" must refuse, "a" must go on. A dead run and a run writing other outputs never block."""

    from jobs.runner import RunSpec, _refuse_if_concurrent
    from pipelines.core.errors import ConcurrentRunError
    from pipelines.core.lease import host_id
    from pipelines.core.tables import TableRef

    root = str(tmp_path)
    out = TableRef.parse("s/out", root)
    spec = RunSpec("s", root, {}, {"out": out}, params=None)

    here = f"{host_id()}:{os.getppid()}"  # a live process of this host (this process's own runs end with it)

    def running(run_id, minute, outputs, host_pid=here):
        rec = _rec(run_id, "running", minute)
        rec.host_pid, rec.config_json = host_pid, json.dumps({"outputs": outputs})
        return rec

    dead = running("dead", 0, {"out": out.label}, host_pid=f"{host_id()}:999999999")
    other_outputs = running("elsewhere", 2, {"out": TableRef.parse("s/other", root).label})
    a, b = running("a", 5, {"out": out.label}), running("b", 1, {"out": out.label})
    ledger.append(spark, root, dead)
    ledger.append(spark, root, other_outputs)
    a_at = ledger.append(spark, root, a)
    b_at = ledger.append(spark, root, b)
    assert b_at == a_at + 1
    _refuse_if_concurrent(spark, spec, a, a_at)  # nothing alive before it: goes on
    with pytest.raises(ConcurrentRunError, match="run a of stage s is already writing"):
        _refuse_if_concurrent(spark, spec, b, b_at)
    assert [r.run_id for r in ledger.unfinished(spark, root, "s")] == ["a", "elsewhere", "dead"]
    refused = [r for r in ledger.stage_runs(spark, root, "s") if r["run_id"] == "b"]
    assert sorted(r["status"] for r in refused) == ["failed", "running"]


def test_claims_are_on_real_output_locations_not_on_spellings_or_stage_names(spark, tmp_path, monkeypatch):
    """Runs whose outputs are one table spelled differently (a relative and an absolute lakehouse, a path
    through a symlink) or claimed by another stage are concurrent; distinct tables are not."""
    import os

    from jobs.runner import RunSpec, _refuse_if_concurrent
    from pipelines.core.errors import ConcurrentRunError
    from pipelines.core.lakehouse import canonical_location
    from pipelines.core.lease import host_id
    from pipelines.core.tables import TableRef

    root = tmp_path / "lh"
    root.mkdir()
    (tmp_path / "alias").symlink_to(root)
    monkeypatch.chdir(tmp_path)
    relative, absolute, aliased = TableRef.parse("s/out", "lh"), TableRef.parse("s/out", str(root)), \
        TableRef.parse("s/out", str(tmp_path / "alias"))
    assert len({relative.label, absolute.label, aliased.label}) == 3
    assert len({canonical_location(r) for r in (relative, absolute, aliased)}) == 1
    assert canonical_location(TableRef.parse("table:Main.`Sch`.t")) == canonical_location(TableRef.parse("main.sch.T"))

    def start(run_id, stage, ref, minute):
        rec = _rec(run_id, "running", minute, stage=stage)
        rec.host_pid = f"{host_id()}:{os.getppid()}"
        rec.config_json = json.dumps({"outputs": {"out": ref.label},
                                      "output_locations": {"out": canonical_location(ref)}})
        return rec, ledger.append(spark, str(root), rec)

    first, _ = start("first", "s", relative, 1)
    for run_id, stage, ref in (("abs", "s", absolute), ("alias", "s", aliased), ("other-stage", "t", absolute)):
        rec, at = start(run_id, stage, ref, 2)
        with pytest.raises(ConcurrentRunError, match="run first of stage s is already writing file:"):
            _refuse_if_concurrent(spark, RunSpec(stage, str(root), {}, {"out": ref}, params=None), rec, at)
    elsewhere = TableRef.parse("s/elsewhere", str(root))
    rec, at = start("distinct", "t", elsewhere, 3)
    _refuse_if_concurrent(spark, RunSpec("t", str(root), {}, {"out": elsewhere}, params=None), rec, at)
    assert os.path.realpath("lh") == str(root.resolve())



def test_appends_by_delta_rs_and_spark_make_one_ledger_both_engines_read_alike(spark, tmp_path, monkeypatch):
    """A local ledger is appended with delta-rs (Spark where delta-rs may not write); each append's version
    is the commit that carries its run id, and Spark, delta-rs and the runner's checks read the same rows,
    timestamps included, whichever engine wrote them. A new ledger is created by either engine alike."""
    root = str(tmp_path)
    first = _rec("a1", "running", 1)
    monkeypatch.setenv("LAKESIEVE_DELTA_RS_APPENDS", "0")
    assert ledger.append(spark, root, first) == 0  # a new ledger created by Spark
    monkeypatch.delenv("LAKESIEVE_DELTA_RS_APPENDS")
    v1 = ledger.append(spark, root, _rec("a1", "success", 1, ended=2, outputs={"out": 0}))
    monkeypatch.setenv("LAKESIEVE_DELTA_RS_APPENDS", "0")
    v2 = ledger.append(spark, root, _rec("a2", "running", 3))  # Spark again
    monkeypatch.delenv("LAKESIEVE_DELTA_RS_APPENDS")
    assert (v1, v2) == (1, 2)
    log = tmp_path / "_lakesieve" / "runs" / "_delta_log"
    engines = [json.loads(open(log / f"{v:020d}.json").readline())["commitInfo"].get("engineInfo", "")
               for v in (0, 1, 2)]
    assert engines[1].startswith("delta-rs") and "Spark" in engines[0] and "Spark" in engines[2]
    by_spark = sorted((r["run_id"], r["status"], r["started_at"], r["ended_at"])
                      for r in ledger.read_all(spark, root).collect())
    by_rs = sorted((r["run_id"], r["status"], r["started_at"], r["ended_at"]) for r in ledger._local_rows(root))
    assert by_spark == by_rs == [("a1", "running", T0 + timedelta(minutes=1), None),
                                 ("a1", "success", T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)),
                                 ("a2", "running", T0 + timedelta(minutes=3), None)]
    assert [r.run_id for r in ledger.unfinished(spark, root, "s")] == ["a2"]
    assert ledger.find_reusable(spark, root, "s", "c", "i").output_versions == {"out": 0}
    assert [r["run_id"] for r in ledger.stage_runs(spark, root, "s", version=1)] == ["a1", "a1"]
    # created by delta-rs (a fresh lakehouse's first run), appended by Spark: the same schema for Spark
    other = str(tmp_path / "other")
    assert ledger.append(spark, other, _rec("b1", "running", 1)) == 0
    monkeypatch.setenv("LAKESIEVE_DELTA_RS_APPENDS", "0")
    assert ledger.append(spark, other, _rec("b1", "success", 1, ended=2)) == 1
    first_engine = json.loads(open(tmp_path / "other" / "_lakesieve" / "runs" / "_delta_log" / f"{0:020d}.json")
                              .readline())["commitInfo"].get("engineInfo", "")
    assert first_engine.startswith("delta-rs")
    assert ledger.read_all(spark, other).schema == ledger.read_all(spark, root).schema
    assert sorted((r["run_id"], r["status"], r["ended_at"]) for r in ledger.read_all(spark, other).collect()) == [
        ("b1", "running", None), ("b1", "success", T0 + timedelta(minutes=2))]


_APPENDER = r'''
import json, sys
from datetime import datetime
from pipelines.core import ledger
root, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = []
for i in range(n):
    rec = ledger.RunRecord(run_id=f"{who}-{i}", stage="s", status="running", started_at=datetime(2026, 1, 1),
                           host_pid="elsewhere:1")
    out.append((rec.run_id, ledger.append(None, root, rec, compact_every=0)))  # no Spark: delta-rs or a crash
print(json.dumps(out))
'''


def test_two_processes_appending_at_once_lose_no_row_and_get_their_own_versions(spark, tmp_path):
    """A race on the ledger: two processes append 15 rows each at the same time with delta-rs (no Spark
    session: a fallback would crash). Every row is there once, every version is distinct and its commit
    carries the run id it was returned for."""
    from tests.racers import race

    root = str(tmp_path)
    ledger.append(spark, root, _rec("seed", "running", 0))  # creates the ledger (delta-rs)
    results = race(_APPENDER, [[root, who, "15"] for who in ("a", "b")])
    versions = [v for _, v in results]
    assert len(results) == 30 and len(set(versions)) == 30 and 0 not in versions
    log = tmp_path / "_lakesieve" / "runs" / "_delta_log"
    for run_id, v in results:
        info = json.loads(open(log / f"{v:020d}.json").readline())["commitInfo"]
        assert info["userMetadata"] == run_id and info["engineInfo"].startswith("delta-rs")
    rows = sorted(r["run_id"] for r in ledger.read_all(spark, root).collect())
    assert rows == sorted(["seed", *(f"{w}-{i}" for w in "ab" for i in range(15))])
