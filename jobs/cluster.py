"""``cluster``: the stage's entry point; its contract is :mod:`pipelines.cluster.stage` (docs/cluster.md).

``spark-submit jobs/cluster.py --config jobs/configs/cluster.yaml`` or ``lakesieve run cluster``;
notebooks and Airflow call :func:`run`.
"""
from __future__ import annotations

from jobs.entry import entrypoints
from pipelines.cluster.stage import STAGE

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
