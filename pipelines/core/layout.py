"""Where lakesieve keeps its own tables under a lakehouse root (one place, read by every command).

``<root>/_lakesieve/runs`` is the run ledger (:mod:`pipelines.core.ledger`), ``quality`` the
expectation results, ``data_docs`` Great Expectations' Data Docs and ``data_docs_store`` the suites and
validation results the site is built from (:mod:`pipelines.core.quality`); a stage's outputs default
to ``<root>/<stage>/<output>``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from pipelines.core.tables import TableRef

SYSTEM_DIR = "_lakesieve"


def default_lakehouse() -> str:
    """The lakehouse root when none is given: ``$LAKESIEVE_LAKEHOUSE`` or ``./lakehouse``."""
    return os.environ.get("LAKESIEVE_LAKEHOUSE", "lakehouse")


def quality_ref(root: str | Path) -> TableRef:
    return TableRef(path=str(Path(root) / SYSTEM_DIR / "quality"))


def data_docs_dir(root: str | Path) -> Path:
    return Path(root) / SYSTEM_DIR / "data_docs"


def path_in_lakehouse(ref: TableRef, root: str | Path) -> str | None:
    """``ref``'s path relative to the lakehouse root (real paths compared), or None when it is not a local
    path under the root. The ledger records outputs this way, so a lakehouse that is moved, mounted
    elsewhere or reported on from another working directory still finds its tables."""
    if ref.path is None or "://" in ref.path or ref.path.startswith(("dbfs:", "file:")):
        return None
    real, base = os.path.realpath(ref.path), os.path.realpath(root)
    if real != base and not real.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return Path(os.path.relpath(real, base)).as_posix()


def recorded_table(config: Mapping, kind: str, name: str, root: str | Path) -> TableRef:
    """The ``kind`` (``inputs`` or ``outputs``) table ``name`` of a run whose ledger ``config_json`` is
    ``config``, resolved against ``root``: its lakehouse-relative path when recorded (``input_paths`` /
    ``output_paths``, runs of this version), else the label as the run wrote it."""
    rel = (config.get(f"{kind[:-1]}_paths") or {}).get(name)
    if rel is not None:
        return TableRef(path=str(Path(root) / rel))
    return TableRef.parse(config[kind][name])


def recorded_output(config: Mapping, name: str, root: str | Path) -> TableRef:
    return recorded_table(config, "outputs", name, root)
