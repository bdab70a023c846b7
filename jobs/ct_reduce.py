"""``ct-reduce``: the stage's entry point; its contract is :mod:`pipelines.ct_reduce.stage` (docs/ct_reduce.md).

``spark-submit jobs/ct_reduce.py --config jobs/configs/ct_reduce.yaml`` or ``lakesieve run ct-reduce``;
notebooks and Airflow call :func:`run`.
"""
from __future__ import annotations

from jobs.entry import entrypoints
from pipelines.ct_reduce.stage import STAGE

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
