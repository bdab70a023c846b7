"""What a stage is: its config, its input contract, its transformation and its expectations.

A stage module (``jobs/<stage>.py``) declares one :class:`Stage`; :mod:`jobs.runner` does the rest
for every stage the same way: read inputs, check contracts, transform, write, validate, record.
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
    """An output table: its name (also its default path ``<stage>/<name>``), partitioning and doc."""

    name: str
    doc: str = ""
    partition_by: Sequence[str] = ()


# transform(inputs, params) -> {output name: DataFrame}
Transform = Callable[[Mapping[str, Any], Any], Mapping[str, Any]]
# expectations(params, outputs, input_counts) -> {output name: [gx expectation, ...]}
Expectations = Callable[[Any, Mapping[str, Any], Mapping[str, int]], Mapping[str, Sequence[Any]]]
# metrics(params, written outputs) -> {name: number}
Metrics = Callable[[Any, Mapping[str, Any]], Mapping[str, Any]]
# load(spark, input refs, params) -> ({name: DataFrame}, {name: fingerprint}) for stages whose input is not tables
Loader = Callable[[Any, Mapping[str, Any], Any], tuple[Mapping[str, Any], Mapping[str, str]]]


@dataclass(frozen=True)
class Stage:
    """The declaration of one stage. ``params_cls`` is its frozen config dataclass."""

    name: str
    params_cls: type
    inputs: Mapping[str, InputSpec]
    outputs: Sequence[Output]
    transform: Transform
    description: str = ""
    expectations: Expectations | None = None
    metrics: Metrics | None = None
    load: Loader | None = None
    after_write: Callable[..., None] | None = None
    # register(subparsers) adds stage-specific CLI commands under `lakesieve <stage> ...`
    register_commands: Callable[[Any], None] | None = None

    def output(self, name: str) -> Output:
        for out in self.outputs:
            if out.name == name:
                return out
        raise KeyError(name)
