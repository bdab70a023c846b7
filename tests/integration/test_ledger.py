"""The run ledger's checks on designed histories: which runs are unfinished, which run is reusable."""
from __future__ import annotations

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


def test_of_two_overlapping_runs_the_later_appender_refuses_whatever_the_clocks_say(spark, tmp_path):
    """Run "a" stamps its start after run "b" (clock skew, or a slow append) but appends its ``running``
    row first: "b" must refuse, "a" must go on. A dead run and a run writing other outputs never block."""
    import json

    from jobs.runner import RunSpec, _host_pid, _refuse_if_concurrent
    from pipelines.core.errors import ConcurrentRunError
    from pipelines.core.tables import TableRef

    root = str(tmp_path)
    out = TableRef.parse("s/out", root)
    spec = RunSpec("s", root, {}, {"out": out}, params=None)

    here = _host_pid()

    def running(run_id, minute, outputs, host_pid=here):
        rec = _rec(run_id, "running", minute)
        rec.host_pid, rec.config_json = host_pid, json.dumps({"outputs": outputs})
        return rec

    dead = running("dead", 0, {"out": out.label}, host_pid=_host_pid().rpartition(":")[0] + ":999999999")
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
