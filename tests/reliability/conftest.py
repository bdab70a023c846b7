"""Reliability fixtures: one demo lakehouse with every stage run once, uninterrupted."""
from __future__ import annotations

import pytest

from jobs import registry


@pytest.fixture(scope="session")
def demo_root(spark, tmp_path_factory):
    from jobs import demo

    root = str(tmp_path_factory.mktemp("reliability") / "lakehouse")
    demo.write_all(spark, root)
    return root


class BaselineRuns(dict):
    """``baseline_runs[stage]``: that stage's uninterrupted run on the demo data, run on first use
    (its upstream stages first), so a test pays only for the stages it needs."""

    def __init__(self, spark, root: str):
        super().__init__()
        self._spark, self._root = spark, root

    def __missing__(self, name: str):
        from jobs import runner

        e = registry.entry(name)
        for upstream in e.upstream:
            self[upstream]
        stage = registry.load_stage(name)
        self[name] = runner.run(self._spark, stage, registry.config_path(e), lakehouse_root=self._root,
                                overrides=["quality.enabled=false"])
        return self[name]


@pytest.fixture(scope="session")
def baseline_runs(spark, demo_root):
    """Every available stage's uninterrupted reference run (lazily, see :class:`BaselineRuns`)."""
    return BaselineRuns(spark, demo_root)
