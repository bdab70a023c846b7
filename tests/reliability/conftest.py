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


@pytest.fixture(scope="session")
def baseline_runs(spark, demo_root):
    """Every available stage run once in registry order on the demo data (the uninterrupted reference)."""
    from jobs import runner

    results = {}
    for e in registry.available():
        stage = registry.load_stage(e.name)
        results[e.name] = runner.run(spark, stage, registry.config_path(e), lakehouse_root=demo_root,
                                     overrides=["quality.enabled=false"])
    return results
