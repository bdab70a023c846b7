"""Deterministic (seeded) demo data for every stage.

Each dataset module exposes ``generate(seed: int = 0) -> list[DemoTable]``: pandas frames with
their format and (optionally) an explicit Spark schema. :mod:`jobs.demo` writes them under
``<lakehouse>/demo/<dataset>/<table>``. Generators only compute; they never touch storage.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass(frozen=True)
class DemoTable:
    name: str                      # path under demo/<dataset>/, may contain "/"
    frame: Any                     # pandas.DataFrame
    format: str = "delta"          # delta, parquet or csv
    schema: str | None = None      # Spark DDL, when pandas dtypes are not exact enough
    partition_by: Sequence[str] = field(default_factory=tuple)


# dataset name -> module; `lakesieve demo` writes those whose module exists.
DATASETS: dict[str, str] = {
    "lake": "pipelines.demo_data.lake",
    "corpus": "pipelines.demo_data.corpus",
    "images": "pipelines.demo_data.images",
    "volumes": "pipelines.demo_data.volumes",
    "instructions": "pipelines.demo_data.instructions",
}


def available() -> list[str]:
    return [name for name, mod in DATASETS.items() if importlib.util.find_spec(mod) is not None]


def generate(name: str, seed: int = 0) -> list[DemoTable]:
    return list(importlib.import_module(DATASETS[name]).generate(seed=seed))
