"""What a stage is: one declaration that owns its whole contract.

Each stage declares one :class:`Stage` in ``pipelines/<stage>/stage.py``: its params (a frozen config
dataclass), the columns each input must have, the columns (with kinds) of each output, the pure
transformation, its metrics (one aggregate per output, or ``DataFrame.observe``), its Great
Expectations suites and its report section. Everything else reads this declaration: the runner
(:mod:`jobs.runner`) checks inputs before any action and every output before its commit, the CLI's
``lakesieve stages`` prints it, the report and the notebooks read the declared columns.

``jobs/<stage>.py`` only binds what needs storage (a ``load`` for inputs that are not tables, such
as a lake folder or a model directory) and exposes ``run`` / ``main``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from pipelines.core.contract import Column


@dataclass(frozen=True)
class InputSpec:
    """An input table: the columns it must have and where it is by default (relative to the lakehouse)."""

    columns: Sequence[Column] = ()
    default: str | None = None
    optional: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Output:
    """An output table: its name (also its default path ``<stage>/<name>``), the columns it has, in
    order, with their kinds, and its partitioning.

    ``passthrough``: the declared columns come first and the input's own columns follow (minhash's
    ``kept`` carries every column of the documents); otherwise the table has exactly ``columns``.
    """

    name: str
    columns: Sequence[Column]
    doc: str = ""
    partition_by: Sequence[str] = ()
    passthrough: bool = False

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError(f"output '{self.name}' declares no columns")
        names = [c.name for c in self.columns]
        missing = [p for p in self.partition_by if p not in names]
        if missing:
            raise ValueError(f"output '{self.name}' is partitioned by undeclared column '{missing[0]}'")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


# transform(inputs, params) -> {output name: DataFrame}
Transform = Callable[[Mapping[str, Any], Any], Mapping[str, Any]]
# expectations(params, outputs, metrics) -> {output name: [gx expectation, ...]}, or, for a check table derived
# from the written outputs (e.g. the clusters that break a quota, expected to be none):
# {"<output>.<check>": (DataFrame, [gx expectation, ...])}
Expectations = Callable[[Any, Mapping[str, Any], Mapping[str, Any]], Mapping[str, Sequence[Any]]]
# metrics(params, written outputs) -> {name: number}
Metrics = Callable[[Any, Mapping[str, Any]], Mapping[str, Any]]
# load(spark, input refs, params) -> ({name: DataFrame}, {name: fingerprint}) for stages whose input is not tables
Loader = Callable[[Any, Mapping[str, Any], Any], tuple[Mapping[str, Any], Mapping[str, str]]]
# report(outputs at the run's versions, metrics) -> [pipelines.core.report_items item, ...]
Report = Callable[[Mapping[str, Any], Mapping[str, Any]], Sequence[Any]]


@dataclass(frozen=True)
class Stage:
    """The declaration of one stage. ``params_cls`` is its frozen config dataclass.

    ``deferred_inputs``: the transformation takes a plain local input as a
    :class:`~pipelines.core.local_frames.DeferredFrame` (its files, read without a JVM where the run stays in the
    driver; a Spark DataFrame on first Spark use), and its metrics and expectations handle outputs that are
    :class:`~pipelines.core.local_frames.DeferredFrame` of Arrow rows without making them into Spark frames."""

    name: str
    params_cls: type
    inputs: Mapping[str, InputSpec]
    outputs: Sequence[Output]
    transform: Transform
    description: str = ""
    expectations: Expectations | None = None
    metrics: Metrics | None = None
    load: Loader | None = None
    report: Report | None = None
    deferred_inputs: bool = False
