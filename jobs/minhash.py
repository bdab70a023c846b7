"""minhash: SlimPajama global / local MinHash LSH near-duplicate removal (docs/minhash.md).

``spark-submit jobs/minhash.py --config jobs/configs/minhash.yaml`` or ``lakesieve run minhash``;
notebooks and Airflow call :func:`run`. The stage's contract is :mod:`pipelines.minhash.stage`.
"""
from __future__ import annotations

from jobs.entry import entrypoints
from pipelines.minhash.stage import STAGE

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
