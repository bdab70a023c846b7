"""SIGKILL a process in the middle of a delta-rs output commit (``lakehouse.delta_rs_overwrite``, what every small
output of a run goes through): the table is the old version or the new one, never a mix; the data files the killed
writer left are in no version; the next commit over them gives exactly the new rows.

The child process writes ~40 MB while a thread of its own watches the table's folder and kills the process a set
time after the first new data file appears, so the kill lands before delta-rs's log entry exists (at no delay, 7
times in 8) or just after it. No Spark: the commit path is Arrow in, one Delta log entry out."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipelines.core import delta_log, lakehouse

ROOT = Path(__file__).resolve().parents[2]
ROWS = 1_000_000

CHILD = r"""
import os, signal, sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import numpy as np, pyarrow as pa
from pipelines.core import lakehouse

table, delay, rows = Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
before = set(table.glob("*.parquet"))

def watch():
    while not (set(table.glob("*.parquet")) - before):
        time.sleep(0.0005)
    time.sleep(delay)
    os.kill(os.getpid(), signal.SIGKILL)

threading.Thread(target=watch, daemon=True).start()
rng = np.random.default_rng(1)
data = pa.table({"id": pa.array(np.arange(rows, dtype=np.int64)), "tag": pa.array(np.full(rows, 2, np.int64)),
                 "noise": pa.array(rng.random(rows)), "text": pa.array([f"row {i} of the new version" for i in range(rows)])})
lakehouse.delta_rs_overwrite(table, data, "run-new", [], "t")
print("committed")
"""


def _old_rows() -> pa.Table:
    return pa.table({"id": pa.array(np.arange(1000, dtype=np.int64)), "tag": pa.array(np.ones(1000, np.int64)),
                     "noise": pa.array(np.zeros(1000)), "text": pa.array(["old"] * 1000)})


def _read(table: Path) -> pa.Table:
    from deltalake import DeltaTable

    return DeltaTable(str(table)).to_pyarrow_table()


@pytest.mark.parametrize("delay", [0.0, 0.002, 0.005, 0.05])
def test_a_kill_during_a_delta_rs_commit_leaves_the_old_version_or_the_new_one(tmp_path, delay):
    table = tmp_path / "out"
    assert lakehouse.delta_rs_overwrite(table, _old_rows(), "run-old", [], "t") is not None
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(table), str(delay), str(ROWS)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    version, _, adds = delta_log.read_delta_log(table)
    got = _read(table)
    tags = set(got.column("tag").to_pylist())
    if proc.returncode == 0:  # delta-rs finished within the delay: the new version, whole
        assert "committed" in proc.stdout and version == 1
        assert got.num_rows == ROWS and tags == {2}
    else:
        assert proc.returncode == -9, proc.stderr[-2000:]
        if version == 0:  # killed before the log entry: the old rows, and the written files are in no version
            assert got.num_rows == 1000 and tags == {1}
            on_disk = {p.name for p in table.glob("*.parquet")}
            assert on_disk - {Path(a["path"]).name for a in adds.values()}, "the kill should leave an orphan file"
        else:  # killed after the log entry: the new version, whole
            assert version == 1 and got.num_rows == ROWS and tags == {2}
    # no log entry is partial: every one is complete JSON lines
    for entry in sorted((table / "_delta_log").glob("*.json")):
        for line in entry.read_text().splitlines():
            json.loads(line)
    # the next run's commit over whatever the kill left: exactly its rows
    rerun = pa.table({"id": pa.array(np.arange(5, dtype=np.int64)), "tag": pa.array(np.full(5, 3, np.int64)),
                      "noise": pa.array(np.zeros(5)), "text": pa.array(["rerun"] * 5)})
    assert lakehouse.delta_rs_overwrite(table, rerun, "run-rerun", [], "t") is not None
    again = _read(table)
    assert again.num_rows == 5 and set(again.column("tag").to_pylist()) == {3}


def test_kills_do_land_between_the_data_files_and_the_log_entry(tmp_path):
    """The case above is only hostile if a kill can land in the window between delta-rs's data files and its log
    entry (a few milliseconds here): at no delay it does, 7 times in 8 when measured; 5 tries, one must."""
    landed = 0
    for attempt in range(5):
        table = tmp_path / f"out{attempt}"
        lakehouse.delta_rs_overwrite(table, _old_rows(), "run-old", [], "t")
        proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(table), "0", str(ROWS)],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ})
        assert proc.returncode == -9, proc.stderr[-2000:]
        if delta_log.read_delta_log(table)[0] == 0 and len(list(table.glob("*.parquet"))) == 2:
            assert _read(table).num_rows == 1000
            landed += 1
            break
    assert landed
