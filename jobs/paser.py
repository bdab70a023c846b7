"""``paser``: PASER data selection for recovering a pruned LLM (He et al. 2025); its contract is
:mod:`pipelines.paser.stage` (docs/paser.md).

    lakesieve run paser --config jobs/configs/paser.yaml
    spark-submit jobs/paser.py --config jobs/configs/paser.yaml
"""
from __future__ import annotations

from jobs.entry import entrypoints
from pipelines.paser.stage import STAGE

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
