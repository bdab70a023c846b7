"""``tldr``: TL;DR per-cluster uniform sampling (Wang et al., ICCV 2023). See docs/tldr.md.

``spark-submit jobs/tldr.py --config jobs/configs/tldr.yaml``; ``lakesieve run tldr``. The stage's
contract is :mod:`pipelines.tldr.stage`.
"""
from __future__ import annotations

from jobs.entry import entrypoints
from pipelines.tldr.stage import STAGE

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
