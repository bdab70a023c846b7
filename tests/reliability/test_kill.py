"""SIGKILL a stage mid-run: no output is ever partial, the ledger never claims success, and the
next run rolls the killed run back and produces the same tables as an uninterrupted run."""
from __future__ import annotations

import pytest

from jobs import registry
from pipelines.core import lakehouse, ledger
from pipelines.core.tables import TableRef
from tests.run_cli import cli
from tests.tables_equal import assert_tables_equal

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.kill]


def _kill_points(stage) -> list[str]:
    """Where to kill: before the last output's commit (the others are committed by then) or, for a
    one-output stage, before the transformation; minhash is also killed at the other points."""
    names = [o.name for o in stage.outputs]
    main_point = f"write:{names[-1]}" if len(names) > 1 else "transform"
    if stage.name == "minhash":
        return ["transform", f"write:{names[1]}", main_point, "quality"]
    return [main_point]


CASES = [(e.name, point, None) for e in registry.STAGES for point in _kill_points(registry.load_stage(e.name))]
# a driver lost on another host (an Airflow retry on a new worker, a pod, a Databricks job retry): its
# lease (2 s here) expires and the next run, from this host, recovers it instead of waiting forever
CASES.append(("tldr", "transform", "worker-b"))
# `make test` kills a representative subset: minhash after all its commits (before quality), a stage with
# its own loader between commits (containment, before its last of four), and a one-output stage before its
# transformation as a lost driver on another host (tldr@worker-b); `make test-reliability` kills every
# stage at every point (marker `exhaustive`).
REPRESENTATIVE = {("minhash", "quality"), ("containment", "write:recipes")}


@pytest.mark.parametrize("stage_name, point, host", [
    pytest.param(s, p, h, id=f"{s}@{p}" + (f"@{h}" if h else ""),
                 marks=() if (s, p) in REPRESENTATIVE or h else pytest.mark.exhaustive) for s, p, h in CASES])
def test_kill_then_rerun(spark, demo_root, baseline_runs, stage_name, point, host):
    registry.load_stage(stage_name)
    config = str(registry.config_path(registry.entry(stage_name)))
    baseline = baseline_runs[stage_name]
    refs = {n: TableRef.parse(f"{stage_name}/{n}", demo_root) for n in baseline.output_versions}
    before = {n: lakehouse.table_version(spark, r) for n, r in refs.items()}

    args = ("run", stage_name, "--config", config, "--lakehouse", demo_root, "--force", "--set", "quality.enabled=false")
    elsewhere = {"LAKESIEVE_HOST_ID": host, "LAKESIEVE_LEASE_SECONDS": "2"} if host else {}
    killed = cli(*args, env={"LAKESIEVE_FAULT": point, **elsewhere})
    assert killed.returncode == -9, killed.stderr[-2000:]

    states = {r["run_id"]: r for r in ledger.latest_states(spark, demo_root).collect() if r["stage"] == stage_name}
    running = [r for r in states.values() if r["status"] == "running"]
    assert len(running) == 1, "the killed run must be recorded as running, never as success"
    killed_id = running[0]["run_id"]
    if host:
        assert running[0]["host_pid"].startswith(f"{host}:")  # a pid this host cannot check
    for name, ref in refs.items():
        now = lakehouse.table_version(spark, ref)
        if now != before[name]:  # committed by the killed run: a whole commit, never a partial one
            assert now == before[name] + 1
            top = lakehouse.history(spark, ref, 1).collect()[0]
            assert top["userMetadata"] == killed_id
        lakehouse.read_table(spark, ref).count()  # readable

    rerun = cli(*args)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    states = {r["run_id"]: r["status"] for r in ledger.latest_states(spark, demo_root).collect()}
    assert states[killed_id] == "aborted"
    for name, ref in refs.items():
        reference = lakehouse.read_version(spark, ref, baseline.output_versions[name])
        assert_tables_equal(lakehouse.read_table(spark, ref), reference, what=f"{stage_name}/{name}")
