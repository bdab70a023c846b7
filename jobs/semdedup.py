"""``semdedup``: the stage's entry point; its contract is :mod:`pipelines.semdedup.stage` (docs/semdedup.md).

``spark-submit jobs/semdedup.py --config jobs/configs/semdedup.yaml`` or ``lakesieve run semdedup``;
notebooks and Airflow call :func:`run`.
"""
from __future__ import annotations

from jobs.entry import entrypoints
from pipelines.semdedup.stage import STAGE

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
