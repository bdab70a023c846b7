"""The stage registry: every stage, its module, what it depends on and when it is scheduled.

One list serves the CLI, ``lakesieve demo`` (which runs them in this order), the Airflow DAG and the
Databricks bundle, so no task list is ever copied by hand.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from pipelines.core.errors import ConfigError, MissingDependencyError


@dataclass(frozen=True)
class StageEntry:
    name: str                      # CLI name, e.g. "ct-reduce"
    module: str                    # jobs.<module>
    upstream: tuple[str, ...] = ()  # stages whose outputs this one reads
    schedule: str = "daily"         # "weekly", "daily" or "on_demand" (Airflow)
    demo_config: str | None = None  # jobs/configs/<file> used by `lakesieve demo`
    # Extra top-level CLI commands (``lakesieve containment apply``): their names, and the module whose
    # ``register(subparsers)`` adds them. The only way a stage adds commands.
    commands: tuple[str, ...] = ()
    commands_module: str | None = None


STAGES: tuple[StageEntry, ...] = (
    StageEntry("containment", "jobs.containment", (), "weekly", "containment.yaml", ("containment",),
               "jobs.containment_apply"),
    StageEntry("minhash", "jobs.minhash", (), "daily", "minhash.yaml"),
    StageEntry("embed", "jobs.embed", ("minhash",), "daily", "embed.yaml"),
    StageEntry("cluster", "jobs.cluster", ("embed",), "daily", "cluster.yaml"),
    StageEntry("tldr", "jobs.tldr", ("cluster",), "daily", "tldr.yaml"),
    StageEntry("semdedup", "jobs.semdedup", ("cluster",), "daily", "semdedup.yaml"),
    StageEntry("ct-reduce", "jobs.ct_reduce", (), "daily", "ct_reduce.yaml"),
    StageEntry("paser-score", "jobs.paser_score", (), "on_demand", "paser_score.yaml"),
    StageEntry("paser", "jobs.paser", ("paser-score",), "on_demand", "paser.yaml"),
)


def entry(name: str) -> StageEntry:
    for e in STAGES:
        if e.name == name:
            return e
    raise ConfigError(f"unknown stage '{name}'; stages: {', '.join(e.name for e in STAGES)}")


def _import(module: str, what: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(f"{what} cannot be loaded: {module} needs {exc.name or 'a module'} ({exc}); "
                                     "`make setup` installs every extra") from exc


def load_stage(name: str):
    """The :class:`~pipelines.core.stage.Stage` a stage's job module exposes (its declaration, with any
    storage bindings such as a ``load``)."""
    return _import(entry(name).module, f"stage '{name}'").STAGE


def register_commands(e: StageEntry, subparsers) -> None:
    """Add ``e``'s extra CLI commands (its ``commands_module.register``) to ``subparsers``; a stage that
    cannot load has no working commands (the error names what it misses)."""
    load_stage(e.name)
    _import(e.commands_module, f"the commands of stage '{e.name}'").register(subparsers)


def config_path(e: StageEntry):
    return Path(__file__).resolve().parent / "configs" / e.demo_config if e.demo_config else None
