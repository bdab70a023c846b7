"""What every stage notebook does, in one place: the four widgets, the run, the display of each output.

A stage notebook (``notebooks/<module>.py``, docs/notebooks.md) is a markdown cell and three calls::

    args = notebook.widgets(dbutils, STAGE)
    result = notebook.run(spark, stage_job, args)
    outputs = notebook.display_outputs(spark, STAGE, args, result, display)

Only ``dbutils.widgets.text``, ``dropdown`` and ``get`` are used, so the same code runs on Databricks and
in the local notebook harness (tests/e2e/test_notebooks.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Callable

from pyspark.sql import DataFrame

from jobs import registry, runner
from pipelines.core import lakehouse
from pipelines.core.stage import Stage

DEFAULT_LAKEHOUSE = "/Volumes/main/lakesieve/lakehouse"


@dataclass(frozen=True)
class NotebookArgs:
    """The widget values of one notebook run, parsed."""

    config: str
    lakehouse_root: str
    overrides: list[str]
    force: bool


def widgets(dbutils, stage: Stage) -> NotebookArgs:
    """Define the four widgets (config, lakehouse, overrides, force) and read them.

    An empty ``config`` means the stage's demo config shipped with the code; ``overrides`` is
    ``key=value`` items separated by ``;`` (a bare key is ``params.key``)."""
    dbutils.widgets.text("config", "", "config YAML (empty: the demo config)")
    dbutils.widgets.text("lakehouse", DEFAULT_LAKEHOUSE, "lakehouse root")
    dbutils.widgets.text("overrides", "", "overrides: key=value; key=value")
    dbutils.widgets.dropdown("force", "false", ["false", "true"], "rerun even if the ledger has this run")
    config = dbutils.widgets.get("config") or str(registry.config_path(registry.entry(stage.name)))
    return NotebookArgs(config=config, lakehouse_root=dbutils.widgets.get("lakehouse"),
                        overrides=parse_overrides(dbutils.widgets.get("overrides")),
                        force=dbutils.widgets.get("force") == "true")


def parse_overrides(text: str) -> list[str]:
    """``"a=1; params.b=x"`` -> ``["a=1", "params.b=x"]`` (the overrides widget's format)."""
    return [item.strip() for item in text.split(";") if item.strip()]


def run(spark, stage_job: ModuleType, args: NotebookArgs) -> runner.RunResult:
    """Run the stage through its job module (``jobs.<module>.run``) and print the CLI's run summary."""
    from jobs.summary import print_summary

    result = stage_job.run(spark, args.config, overrides=args.overrides, lakehouse_root=args.lakehouse_root,
                           force=args.force)
    print_summary(result)
    return result


def display_outputs(spark, stage: Stage, args: NotebookArgs, result: runner.RunResult,
                    display: Callable) -> dict[str, DataFrame]:
    """``display`` each output at the version this run wrote (for a skipped run, the earlier run's), its
    declared columns in declared order; returns them by output name, for the notebook's own summaries."""
    spec = runner.build_spec(stage, args.config, overrides=args.overrides, lakehouse_root=args.lakehouse_root)
    shown = {}
    for output in stage.outputs:
        ref, version = spec.outputs[output.name], result.output_versions[output.name]
        print(f"{output.name}: {ref.label} v{version}  {output.doc}")
        table = lakehouse.read_version(spark, ref, version)
        # The declared columns first, in declared order (then a passthrough output's input columns).
        rest = [c for c in table.columns if c not in output.column_names] if output.passthrough else []
        shown[output.name] = table.select(*[f"`{c}`" for c in (*output.column_names, *rest)])
        display(shown[output.name])
    return shown
