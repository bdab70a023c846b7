"""A full disk and a read-only lakehouse, made real: a small tmpfs mounted for the test (the test is
skipped, saying why, where mounting is not allowed). A run on a full disk fails with one line naming
the fault, leaves no partial output, and the next run, with space again, recovers and succeeds."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jobs import registry, runner
from pipelines.core import lakehouse, ledger
from pipelines.core.errors import EnvironmentFault, OutputError
from pipelines.core.tables import TableRef

pytestmark = pytest.mark.spark

LONG = "the quick brown fox jumps over the lazy dog near the river bank every single morning " * 4


def _mount(point: Path, size: str) -> None:
    point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): the disk-fault cases need one")


@pytest.fixture
def small_disk(tmp_path):
    point = tmp_path / "disk"
    _mount(point, "16m")
    yield point
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _docs(spark, tmp_path) -> str:
    path = str(tmp_path / "docs")
    rows = [(i, f"{LONG} variant {i * 7919} " + "filler " * 400, "web") for i in range(40)]
    lakehouse.write_table(spark.createDataFrame(rows, "id long, text string, source string"), TableRef(path=path), "setup")
    return path


def test_a_full_disk_fails_in_one_line_and_the_next_run_recovers(spark, tmp_path, small_disk):
    stage = registry.load_stage("minhash")
    config = {"inputs": {"documents": _docs(spark, tmp_path)}, "quality": {"enabled": False}}
    root = str(small_disk / "lakehouse")
    filler = small_disk / "filler"
    # fill the disk, then free 64 KB: enough for the ledger's first rows, not for the five outputs
    reserve = small_disk / "reserve"
    reserve.write_bytes(b"\0" * 64 * 1024)
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # ends at ENOSPC
    reserve.unlink()
    with pytest.raises(EnvironmentFault, match=r"^the disk is full: .*No space left on device") as err:
        runner.run(spark, stage, config, lakehouse_root=root)
    assert "\n" not in err.value.one_line()
    for out in stage.outputs:  # an output is absent or at a whole earlier version, never partial
        ref = TableRef.parse(f"minhash/{out.name}", root)
        version = lakehouse.table_version(spark, ref)
        if version is not None:
            lakehouse.read_table(spark, ref).count()
    filler.unlink()  # space again
    result = runner.run(spark, stage, config, lakehouse_root=root)
    assert result.status == "success"
    states = {r["run_id"]: r["status"] for r in ledger.latest_states(spark, root).collect()}
    assert "running" not in states.values(), states  # the failed run is recovered, not stuck at running
    m = result.metrics
    assert m["rows.kept"] + m["rows.duplicates"] + m["rows.rejected"] == 40  # every document accounted for


def test_a_read_only_lakehouse_fails_before_anything_is_read(spark, tmp_path, small_disk):
    stage = registry.load_stage("minhash")
    config = {"inputs": {"documents": _docs(spark, tmp_path)}, "quality": {"enabled": False}}
    (small_disk / "lakehouse").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, check=True)
    with pytest.raises(OutputError, match=r"lakehouse '.*lakehouse' cannot be written"):
        runner.run(spark, stage, config, lakehouse_root=str(small_disk / "lakehouse"))
    assert list((small_disk / "lakehouse").iterdir()) == []
