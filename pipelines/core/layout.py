"""Where lakesieve keeps its own tables under a lakehouse root (one place, read by every command).

``<root>/_lakesieve/runs`` is the run ledger (:mod:`pipelines.core.ledger`), ``quality`` the
expectation results and ``data_docs`` Great Expectations' Data Docs; a stage's outputs default
to ``<root>/<stage>/<output>``.
"""
from __future__ import annotations

import os
from pathlib import Path

from pipelines.core.tables import TableRef

SYSTEM_DIR = "_lakesieve"


def default_lakehouse() -> str:
    """The lakehouse root when none is given: ``$LAKESIEVE_LAKEHOUSE`` or ``./lakehouse``."""
    return os.environ.get("LAKESIEVE_LAKEHOUSE", "lakehouse")


def quality_ref(root: str | Path) -> TableRef:
    return TableRef(path=str(Path(root) / SYSTEM_DIR / "quality"))


def data_docs_dir(root: str | Path) -> Path:
    return Path(root) / SYSTEM_DIR / "data_docs"
