"""One demo lakehouse for the whole e2e session: the notebook tests run every stage on it through
its notebook, and the report tests read those real outputs (running what is missing when run alone)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_lake(spark, tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("demo_lake") / "lakehouse")
