"""Two runs of one stage writing the same outputs at once: one commits, the other refuses with a
clear conflict message having written nothing, and the tables are consistent afterwards. The second run
names the lakehouse through a symlink: outputs are claimed by their real location, not by spelling.
The first run is on "another host" (an injected host id): it is known alive only by its renewed lease.
A third run, of another lakehouse whose ledger knows nothing of the first, writes the same table: the
lock beside the output refuses it."""
from __future__ import annotations

import time

import pytest

from jobs import registry
from pipelines.core import lakehouse, ledger
from pipelines.core.tables import TableRef
from tests.run_cli import cli, popen
from tests.tables_equal import assert_tables_equal

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.kill]


def _stage_name() -> str:
    names = [e.name for e in registry.STAGES]
    if not names:
        pytest.skip("no stage is built yet")
    return "minhash" if "minhash" in names else names[0]


def test_second_concurrent_run_refuses_and_tables_stay_consistent(spark, demo_root, baseline_runs, tmp_path):
    name = _stage_name()
    config = str(registry.config_path(registry.entry(name)))
    args = ("run", name, "--config", config, "--lakehouse", demo_root, "--force", "--set", "quality.enabled=false")
    running_before = {r["run_id"] for r in ledger.latest_states(spark, demo_root).collect()}
    # the first run holds before its transformation until the second has finished (at most 10 minutes);
    # it runs "on another host" with a 3 s lease, so the second sees it alive only through its renewals
    release = tmp_path / "release-first-run"
    first = popen(*args, env={"LAKESIEVE_PAUSE": "transform:600", "LAKESIEVE_PAUSE_UNTIL": str(release),
                              "LAKESIEVE_HOST_ID": "worker-b", "LAKESIEVE_LEASE_SECONDS": "3"})
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            rows = [r for r in ledger.latest_states(spark, demo_root).collect()
                    if r["stage"] == name and r["status"] == "running" and r["run_id"] not in running_before]
            if rows:
                break
            time.sleep(1)
        else:
            pytest.fail("the first run never started")
        alias = tmp_path / "same-lakehouse"  # another spelling of the same lakehouse
        alias.symlink_to(demo_root, target_is_directory=True)
        second = cli(*(str(alias) if a == demo_root else a for a in args))
        # a run of another lakehouse (its own ledger) configured onto the first run's kept table
        kept = f"{demo_root}/{name}/kept"
        third = cli(*(str(tmp_path / "other-lakehouse") if a == demo_root else a for a in args),
                    "--set", f"inputs.documents={demo_root}/demo/corpus/documents", "--set", f"outputs.kept={kept}")
    finally:
        release.touch()
        out, err = first.communicate(timeout=900)
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 2
    ours = [line for line in second.stderr.splitlines() if line.startswith("lakesieve:")]  # not Spark's log
    assert len(ours) == 1 and ours[0] == second.stderr.strip().splitlines()[-1], second.stderr[-2000:]
    assert ours[0].startswith("lakesieve: ConcurrentRunError: run ") and "already writing" in ours[0], ours
    last = third.stderr.strip().splitlines()[-1]
    assert third.returncode == 2 and last.startswith(f"lakesieve: ConcurrentRunError: run {rows[0]['run_id']} ("), \
        third.stderr[-2000:]
    assert f"lakehouse {demo_root}) is already writing file:" in last and last.endswith("retry when it has finished")
    states = [r for r in ledger.latest_states(spark, demo_root).collect() if r["stage"] == name]
    assert not [r for r in states if r["status"] == "running"]
    baseline = baseline_runs[name]
    for out_name, version in baseline.output_versions.items():
        ref = TableRef.parse(f"{name}/{out_name}", demo_root)
        top = lakehouse.history(spark, ref, 1).collect()[0]
        assert top["userMetadata"] == rows[0]["run_id"], "only the first run committed"
        assert_tables_equal(lakehouse.read_table(spark, ref), lakehouse.read_version(spark, ref, version),
                            what=f"{name}/{out_name}")
