"""``embed``: the stage's entry point; its contract is :mod:`pipelines.embed.stage` (docs/embed.md).

``spark-submit jobs/embed.py --config jobs/configs/embed.yaml`` or ``lakesieve run embed``;
notebooks and Airflow call :func:`run`.
"""
from __future__ import annotations

from jobs.entry import entrypoints
from pipelines.embed.stage import STAGE

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
