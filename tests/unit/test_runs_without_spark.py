"""`lakesieve runs` on a local lakehouse reads the ledger with delta-rs: it must never import pyspark (no JVM)
nor pandas (1 s of imports), or the read-only command is slow again (#18). Checked in a fresh interpreter."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ledger(root: Path, runs: int) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from pipelines.core.ledger import LEDGER_COLUMNS

    kinds = {"string": pa.string(), "timestamp": pa.timestamp("us")}
    schema = pa.schema([pa.field(c, kinds[k], n) for c, k, n in LEDGER_COLUMNS])
    start = datetime(2026, 11, 1)
    for i in range(runs):
        for status in ("running", "success"):
            row = {c: None for c, _, _ in LEDGER_COLUMNS}
            row.update(run_id=f"minhash-{i:03d}", stage="minhash", status=status, config_json=json.dumps({}),
                       quality="passed", started_at=start + timedelta(minutes=i),
                       ended_at=start + timedelta(minutes=i, seconds=30) if status == "success" else None)
            write_deltalake(str(root / "_lakesieve" / "runs"), pa.Table.from_pylist([row], schema), mode="append")


def test_runs_reads_the_ledger_without_pyspark_or_pandas(tmp_path):
    _ledger(tmp_path, 3)
    code = ("import sys; from jobs.cli import main; rc = main(['runs', '--lakehouse', sys.argv[1]]); "
            "print('LOADED', 'pyspark' in sys.modules, 'pandas' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [ln.split()[0] for ln in lines[2:5]] == ["minhash-002", "minhash-001", "minhash-000"]
    assert all(" success " in ln and "30.0s" in ln for ln in lines[2:5])
    assert lines[-1] == "LOADED False False"
