"""Every notebook in notebooks/ runs locally, cell by cell, as Databricks would run it.

The harness gives each notebook the three Databricks globals: ``spark`` (the local Spark + Delta session of
the tests), ``dbutils`` (a small stand-in for ``dbutils.widgets`` only: text / dropdown / get, the one mock
the project allows) and ``display`` (prints the first rows and records what was shown). Stage notebooks
(``notebooks/<module>.py`` for ``jobs/<module>.py``, docs/notebooks.md) run on the demo data in a tmp
lakehouse shared by the module, their upstream stages run first; a new notebook is picked up by name.
"""
from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs import registry, runner
from jobs.entry import entrypoints
from pipelines.core import lakehouse as lh
from pipelines.core import ledger
from pipelines.core.config import param
from pipelines.core.contract import Column
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.core.tables import TableRef
from tests.demo_runs import NO_QUALITY, prepare

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
HEADER = "# Databricks notebook source"
CELL_SEPARATOR = "\n# COMMAND ----------\n"
STAGE_NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("*.py") if not p.name.startswith("_") and p.stem != "overview")


class InputWidgetNotDefined(Exception):
    """What Databricks raises for ``dbutils.widgets.get`` of a widget that was never created."""


class Widgets:
    """A stand-in for ``dbutils.widgets``: values the job (here the test) passes win over defaults."""

    def __init__(self, values: dict[str, str]):
        self._values = dict(values)
        self._defined: dict[str, str] = {}

    def text(self, name: str, defaultValue: str, label: str | None = None) -> None:
        self._defined[name] = str(defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices, label: str | None = None) -> None:
        choices = [str(c) for c in choices]
        assert str(defaultValue) in choices, f"dropdown {name}: default {defaultValue!r} not in {choices}"
        if name in self._values:
            assert self._values[name] in choices, f"dropdown {name}: value {self._values[name]!r} not in {choices}"
        self._defined[name] = str(defaultValue)

    def get(self, name: str) -> str:
        if name not in self._defined:
            raise InputWidgetNotDefined(f"No input widget named {name} is defined")
        return self._values.get(name, self._defined[name])

    def remove(self, name: str) -> None:
        self._defined.pop(name, None)

    def removeAll(self) -> None:
        self._defined.clear()


@dataclass
class NotebookRun:
    namespace: dict
    displayed: list
    widgets: Widgets


def cells(path: Path) -> list[str]:
    text = path.read_text()
    assert text.startswith(HEADER + "\n"), f"{path.name}: a Databricks source notebook starts with '{HEADER}'"
    return text[len(HEADER) + 1:].split(CELL_SEPARATOR)


def run_notebook(path: Path, spark, widget_values: dict[str, str], source: str | None = None) -> NotebookRun:
    """Execute a notebook's cells in order in one namespace, as a Databricks job would."""
    displayed: list = []

    def display(obj, *args, **kwargs):
        displayed.append(obj)
        print(obj.limit(5).toPandas().to_string() if isinstance(obj, DataFrame) else obj)

    widgets = Widgets(widget_values)
    namespace = {"__name__": "__main__", "spark": spark, "display": display,
                 "dbutils": types.SimpleNamespace(widgets=widgets)}
    if source is not None:
        tmp = path.with_name(f"{path.stem}.rendered.py")
        parts = source[len(HEADER) + 1:].split(CELL_SEPARATOR)
    else:
        tmp, parts = path, cells(path)
    for number, cell in enumerate(parts, 1):
        exec(compile(cell, f"{tmp.name} [cell {number}]", "exec"), namespace)
    return NotebookRun(namespace, displayed, widgets)


def notebook_entry(path: Path) -> registry.StageEntry:
    for e in registry.STAGES:
        if e.module.rsplit(".", 1)[-1] == path.stem:
            return e
    raise AssertionError(f"notebooks/{path.name} is not named for a stage's job module (jobs/<module>.py): "
                         f"{', '.join(e.module for e in registry.STAGES)}")


def test_every_notebook_is_a_databricks_source_notebook():
    paths = sorted(NOTEBOOK_DIR.glob("*.py"))
    assert {"overview.py", "_template.py"} <= {p.name for p in paths}
    for path in paths:
        parts = cells(path)
        assert len(parts) >= 2, path.name
        assert parts[0].lstrip().startswith("# MAGIC %md"), f"{path.name}: the first cell is its markdown title"
        for cell in parts:
            compile(cell, path.name, "exec")


@pytest.mark.parametrize("path", STAGE_NOTEBOOKS, ids=[p.stem for p in STAGE_NOTEBOOKS])
def test_stage_notebook_runs_on_the_demo_data(spark, demo_lake, path):
    entry = notebook_entry(path)
    prepare(spark, demo_lake, entry)
    stage = registry.load_stage(entry.name)
    nb = run_notebook(path, spark, {"config": str(registry.config_path(entry)), "lakehouse": demo_lake,
                                    "overrides": NO_QUALITY, "force": "false"})
    assert set(nb.widgets._defined) >= {"config", "lakehouse", "overrides", "force"}
    result = nb.namespace["result"]
    assert result.stage == entry.name and result.status in ("success", "skipped")
    assert set(result.output_versions) == {o.name for o in stage.outputs}
    frames = [d for d in nb.displayed if isinstance(d, DataFrame)]
    shown = [tuple(df.columns) for df in frames]
    for o in stage.outputs:  # every output is displayed, its declared columns first and in declared order
        written = lh.read_version(spark, TableRef.parse(f"{entry.name}/{o.name}", demo_lake),
                                  result.output_versions[o.name]).columns
        rest = tuple(c for c in written if c not in o.column_names) if o.passthrough else ()
        assert (*o.column_names, *rest) in shown, f"{o.name}: shown {shown}, written {written}"
    states = ledger.latest_states(spark, demo_lake).where(F.col("stage") == entry.name).collect()
    assert any(r["run_id"] == result.run_id and r["status"] == "success" for r in states)
    # the report summarises this real run from its declared columns (tests/e2e/test_report.py checks the numbers)
    from jobs import report

    section = {s.stage: s for s in report.summarise(demo_lake)}[entry.name]
    assert section.run["run_id"] == result.run_id
    assert bool(section.items) == (stage.report is not None), f"the report section of {entry.name}"


# ---- the template, made concrete with a stage defined here (it runs whatever stages exist) ----

@dataclass(frozen=True)
class NotebookToyParams:
    min_value: int = param(3, doc="rows with value below this are dropped", minimum=0)


def _toy_transform(inputs, params):
    df = inputs["rows"]
    return {"kept": df.where(F.col("value") >= params.min_value),
            "dropped": df.where(F.col("value") < params.min_value).withColumn("reason", F.lit("below_min"))}


NB_TOY = Stage(name="nbtoy", params_cls=NotebookToyParams, description="keeps rows at or above a threshold",
               inputs={"rows": InputSpec(columns=(Column("id", "id"), Column("value", "integer")), default="in/rows")},
               outputs=(Output("kept", (Column("id", "id"), Column("value", "integer"))),
                        Output("dropped", (Column("id", "id"), Column("value", "integer"), Column("reason", "string")))),
               transform=_toy_transform)


@pytest.fixture()
def toy_job_module(monkeypatch):
    """``jobs.nbtoy``: a job module for NB_TOY, as ``jobs/<module>.py`` declares one."""
    import jobs

    module = types.ModuleType("jobs.nbtoy")
    module.STAGE = NB_TOY
    module.run, module.main = entrypoints(NB_TOY)
    monkeypatch.setitem(sys.modules, "jobs.nbtoy", module)
    monkeypatch.setattr(jobs, "nbtoy", module, raising=False)
    return module


def test_template_runs_a_stage_and_displays_its_outputs(spark, lakehouse, tmp_path, toy_job_module):
    lh.write_table(spark.createDataFrame([(i, i % 7) for i in range(50)], "id long, value int"),
                   TableRef.parse("in/rows", lakehouse), "setup")
    config = tmp_path / "nbtoy.yaml"
    config.write_text("params:\n  min_value: 2\n")
    template = (NOTEBOOK_DIR / "_template.py").read_text()
    marker = "from jobs import minhash as stage_job"
    assert marker in template
    values = {"config": str(config), "lakehouse": lakehouse, "overrides": "min_value=4; quality.enabled=false"}
    nb = run_notebook(NOTEBOOK_DIR / "_template.py", spark, values,
                      source=template.replace(marker, "from jobs import nbtoy as stage_job"))
    result = nb.namespace["result"]
    assert result.status == "success" and result.output_versions == {"kept": 0, "dropped": 0}
    kept, dropped = [d for d in nb.displayed if isinstance(d, DataFrame)]
    assert sorted(r["id"] for r in kept.collect()) == [i for i in range(50) if i % 7 >= 4]  # the override won
    assert dropped.count() == sum(1 for i in range(50) if i % 7 < 4)
    # the force dropdown's default is false: a second run is skipped by the ledger and shows the same versions
    again = run_notebook(NOTEBOOK_DIR / "_template.py", spark, values,
                         source=template.replace(marker, "from jobs import nbtoy as stage_job"))
    assert again.namespace["result"].status == "skipped"
    assert again.namespace["result"].run_id == result.run_id


def test_overview_lists_stages_runs_quality_and_writes_the_report(spark, lakehouse, toy_job_module):
    lh.write_table(spark.createDataFrame([(i, i % 7) for i in range(20)], "id long, value int"),
                   TableRef.parse("in/rows", lakehouse), "setup")
    ok = runner.run(spark, NB_TOY, {"params": {"min_value": 1}, "quality": {"enabled": False}}, lakehouse_root=lakehouse)
    nb = run_notebook(NOTEBOOK_DIR / "overview.py", spark, {"lakehouse": lakehouse})
    stages, runs = [d for d in nb.displayed if isinstance(d, DataFrame)][:2]
    assert [r["stage"] for r in stages.collect()] == [e.name for e in registry.STAGES]
    assert {r["stage"]: r["description"] for r in stages.collect()} == \
        {e.name: registry.load_stage(e.name).description for e in registry.STAGES}
    by_run = {r["run_id"]: r for r in runs.collect()}
    assert by_run[ok.run_id]["status"] == "success" and by_run[ok.run_id]["stage"] == "nbtoy"
    report_path = Path(nb.namespace["report_path"])
    assert report_path.is_file() and report_path.stat().st_size > 0
    assert json.dumps(ok.run_id)[1:-1] in report_path.read_text()
