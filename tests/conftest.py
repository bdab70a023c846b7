"""Shared fixtures: one local Spark + Delta session for the whole test session."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("LAKESIEVE_PROGRESS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("LAKESIEVE_SHUFFLE_PARTITIONS", "4")
# 4g: the 50 MB-document test needs headroom in the one shared driver JVM after hundreds of tests
os.environ.setdefault("LAKESIEVE_DRIVER_MEMORY", "4g")


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from pipelines.core.session import get_spark

    os.environ.setdefault("LAKESIEVE_WAREHOUSE", str(tmp_path_factory.mktemp("warehouse")))
    session = get_spark("lakesieve-tests")
    yield session
    session.stop()


@pytest.fixture()
def lakehouse(tmp_path):
    """A fresh, empty lakehouse root for one test."""
    root = tmp_path / "lakehouse"
    root.mkdir()
    return str(root)
