"""``run`` and ``main`` for a stage module (``run, main = entrypoints(STAGE)`` in ``jobs/<stage>.py``).

``run(spark, config, ...)`` serves notebooks and Airflow; ``main(argv)`` serves
``spark-submit jobs/<stage>.py --config ...`` through the CLI, so both report errors the same way.
"""
from __future__ import annotations

import sys

from jobs import cli, runner
from pipelines.core.stage import Stage


def entrypoints(stage: Stage):
    """``(run, main)`` for ``stage``."""

    def run_entry(spark, config=None, *, overrides=None, lakehouse_root=None, force=False) -> runner.RunResult:
        return runner.run(spark, stage, config, overrides=overrides, lakehouse_root=lakehouse_root, force=force)

    def main_entry(argv=None) -> int:
        return cli.main(["run", stage.name, *(sys.argv[1:] if argv is None else argv)])

    run_entry.__doc__ = f"Run the {stage.name} stage: {stage.description}"
    return run_entry, main_entry
