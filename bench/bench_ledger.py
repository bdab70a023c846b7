"""Speed: reading the run ledger after many runs, compacted (what lakesieve does) vs never compacted.

    .venv/bin/python bench/bench_ledger.py --runs 150

Every stage run appends two rows to ``_lakesieve/runs`` (``running``, then its final state) and reads
the ledger two or three times before it transforms anything (recovery, reuse, the concurrency check).
Each append is a Delta commit with one small file; a ledger that is never compacted is read one file
per append. Both ledgers here get the same appends, one commit each, in the same Spark session;
lakesieve's compacts every ``lakehouse.COMPACT_EVERY``-th version. The figure is the time of
``ledger.stage_runs`` (the read the runner makes) on each, best of 5, and the time the appends took.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def fill(spark, root: str, runs: int, compact_every: int) -> float:
    from pipelines.core import ledger

    t0 = time.perf_counter()
    for i in range(runs):
        for status in ("running", "success"):
            rec = ledger.RunRecord(run_id=f"run-{i}", stage="cluster", status=status, started_at=ledger.now(),
                                   ended_at=None if status == "running" else ledger.now())
            ledger.append(spark, root, rec, compact_every=compact_every)
    return time.perf_counter() - t0


def read_seconds(spark, roots: list[str], runs: int) -> list[float]:
    """Best of 5 ``stage_runs`` per ledger, the ledgers read in turn (so both see the same load)."""
    from pipelines.core import ledger

    best = [float("inf")] * len(roots)
    for _ in range(5):
        for i, root in enumerate(roots):
            t0 = time.perf_counter()
            rows = ledger.stage_runs(spark, root, "cluster")
            best[i] = min(best[i], time.perf_counter() - t0)
            assert len(rows) == 2 * runs, len(rows)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=150)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "ledger.md"))
    args = ap.parse_args(argv)
    os.environ.setdefault("LAKESIEVE_PROGRESS", "false")

    from pipelines.core import lakehouse, ledger
    from pipelines.core.session import get_spark

    spark = get_spark("bench-ledger")
    work = Path(tempfile.mkdtemp(prefix="bench_ledger_"))
    try:
        fill(spark, str(work / "warmup"), 3, 0)  # Delta's first-use cost out of both figures
        never_fill = fill(spark, str(work / "never"), args.runs, 0)
        compacted_fill = fill(spark, str(work / "compacted"), args.runs, lakehouse.COMPACT_EVERY)
        never_read, compacted_read = read_seconds(spark, [str(work / "never"), str(work / "compacted")], args.runs)
        files = {name: lakehouse.delta_table(spark, ledger.ledger_ref(work / name)).detail().collect()[0]["numFiles"]
                 for name in ("never", "compacted")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    text = f"""# run ledger: reads after many runs, compacted vs never compacted

Command: `cd /work/main && .venv/bin/python bench/bench_ledger.py --runs {args.runs}`

{args.runs} runs = {2 * args.runs} one-row appends (one Delta commit each) to each of two ledgers in the same
Spark session; lakesieve's ledger compacts every {lakehouse.COMPACT_EVERY}th version (`lakehouse.append_rows`).

| ledger | data files | `stage_runs` read (best of 5) | read / compacted read | {2 * args.runs} appends |
|---|---|---|---|---|
| never compacted | {files['never']} | {never_read:.2f} s | {never_read / compacted_read:.2f} | {never_fill:.1f} s |
| compacted (lakesieve) | {files['compacted']} | {compacted_read:.2f} s | 1.00 | {compacted_fill:.1f} s |

Every run reads the ledger two or three times before it starts, so the uncompacted read is paid by every
later run of every stage. The appends themselves took {compacted_fill:.1f} s with the compactions and
{never_fill:.1f} s without (a Delta commit also reads the table's state, which is cheaper on fewer files).
Machine: {platform.machine()}, {os.cpu_count()} cores (1-minute load average at the end: {load:.1f}).
"""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
