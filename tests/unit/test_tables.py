"""Table references: paths vs catalog names, and quoting that keeps names as data."""
from __future__ import annotations

import pytest

from pipelines.core.errors import ConfigError
from pipelines.core.tables import TableRef


def test_parse_paths_and_names(tmp_path):
    assert TableRef.parse("demo/corpus", tmp_path) == TableRef(path=str(tmp_path / "demo/corpus"))
    assert TableRef.parse("/abs/t", tmp_path) == TableRef(path="/abs/t")
    assert TableRef.parse("s3://bucket/t", tmp_path) == TableRef(path="s3://bucket/t")
    assert TableRef.parse("main.sales.orders", tmp_path) == TableRef(name="main.sales.orders")
    assert TableRef.parse("path:file.v2", tmp_path) == TableRef(path=str(tmp_path / "file.v2"))
    assert TableRef.parse("table:sales.orders") == TableRef(name="sales.orders")
    with pytest.raises(ConfigError):
        TableRef.parse("  ")
    with pytest.raises(ConfigError):
        TableRef.parse("table:drop table x;--")


def test_quoted_name_escapes_backticks():
    assert TableRef(name="main.sales.orders").quoted_name() == "`main`.`sales`.`orders`"
    assert TableRef(name="`we``ird`.t").quoted_name() == "`we``ird`.`t`"
