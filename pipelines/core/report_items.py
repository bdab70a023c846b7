"""What a stage's report section holds: charts and tables as plain data, built from its outputs.

Each stage declares ``report(outputs, context) -> [item, ...]`` (``pipelines/<stage>/stage.py``); the
page (:mod:`jobs.report`) reads the outputs at the versions the run wrote with delta-rs as polars
LazyFrames (no JVM), restricted to their declared columns, calls it and renders the items. Builders
here only aggregate: at most ``MAX_BARS`` bars and ``MAX_TABLE_ROWS`` rows are collected, never a dataset
(polars streams the scans).

Cells carry their unit through :class:`Table`'s ``units`` (``bytes`` are shown as kB/MB/GB,
``money`` with the currency, ``fraction`` as a percentage), so no section formats numbers itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

MAX_BARS = 40
MAX_EDGES = 120
MAX_TABLE_ROWS = 50
UNITS = ("bytes", "money", "fraction", "seconds", "text")


@dataclass
class Bars:
    """A bar chart: one bar per label."""

    title: str
    labels: list[str]
    values: list[float]
    x_label: str = ""
    y_label: str = ""
    note: str = ""


@dataclass
class Graph:
    """A directed graph: nodes (name -> group) and edges (src -> dst)."""

    title: str
    nodes: dict[str, str]
    edges: list[tuple[str, str]]
    note: str = ""


@dataclass
class Table:
    """A table; ``units`` maps a header to one of :data:`UNITS` (``money`` uses ``currency``)."""

    title: str
    headers: list[str]
    rows: list[list[Any]]
    note: str = ""
    units: dict[str, str] = field(default_factory=dict)
    currency: str = "USD"

    def __post_init__(self) -> None:
        for header, unit in self.units.items():
            if header not in self.headers or unit not in UNITS:
                raise ValueError(f"table '{self.title}': unit {unit!r} for column {header!r}")


@dataclass(frozen=True)
class ReportContext:
    """What a report section may use besides its outputs: the run's metrics and params, and the
    stage's inputs as they are now (``None`` where an input cannot be read any more)."""

    metrics: Mapping[str, Any]
    params: Any = None
    inputs: Mapping[str, Any] = field(default_factory=dict)


def _sorted_head(df, by: Sequence[str], descending: Sequence[bool] | bool, n: int) -> list[dict]:
    """The first ``n`` rows of ``df`` sorted by ``by`` (Spark's orders: descending keys put nulls last,
    ascending keys first), as dicts of Python values."""
    desc = [descending] * len(by) if isinstance(descending, bool) else list(descending)
    return df.lazy().sort(list(by), descending=desc, nulls_last=desc).head(n).collect().rows(named=True)


def per_key_bars(df, key: str, value, title: str, x_label: str, y_label: str, *, order_by_value: bool) -> Bars:
    """One bar per key of the polars frame ``df`` with the aggregate ``value`` (a polars expression), at
    most MAX_BARS: the largest values, or the first keys in order."""
    agg = df.group_by(key).agg(value.alias("value"))
    order = (["value", key], [True, False]) if order_by_value else ([key], False)
    rows = _sorted_head(agg, *order, MAX_BARS + 1)
    note = f"first {MAX_BARS} shown ({'largest' if order_by_value else 'in order'})" if len(rows) > MAX_BARS else ""
    rows = rows[:MAX_BARS]
    return Bars(title, [str(r[key]) for r in rows], [float(r["value"] or 0) for r in rows], x_label, y_label, note)


def size_histogram(df, key: str, title: str, x_label: str, *, extra: int = 0) -> Bars:
    """How many groups have each size (group size = rows per key + ``extra``)."""
    import polars as pl

    sizes = df.group_by(key).agg((pl.len() + extra).alias("size"))
    hist = _sorted_head(sizes.group_by("size").agg(pl.len().alias("groups")), ["size"], False, MAX_BARS + 1)
    note = f"first {MAX_BARS} sizes shown" if len(hist) > MAX_BARS else ""
    hist = hist[:MAX_BARS]
    return Bars(title, [str(r["size"]) for r in hist], [float(r["groups"]) for r in hist], x_label, "groups", note)


def top_rows(df, title: str, by: Sequence[str], *, descending: Sequence[bool] | bool = False,
             limit: int = MAX_TABLE_ROWS, units: Mapping[str, str] | None = None, currency: str = "USD",
             headers: Sequence[str] | None = None) -> Table:
    """The first ``limit`` rows of ``df`` sorted by the columns ``by`` (``descending`` per column), all its columns."""
    rows = _sorted_head(df, by, descending, limit + 1)
    note = f"first {limit} rows shown" if len(rows) > limit else ""
    cols = list(df.collect_schema().names())
    return Table(title, list(headers or cols), [[r[c] for c in cols] for r in rows[:limit]], note,
                 dict(units or {}), currency)


def kept_fraction_bars(members, kept_flag, title: str) -> Bars:
    """``members`` (one row per member, with ``cluster``) and ``kept_flag`` (a boolean polars expression: the
    member is kept) -> kept / members for the MAX_BARS largest clusters."""
    import polars as pl

    per_cluster = members.group_by("cluster").agg(pl.len().alias("members"),
                                                  kept_flag.cast(pl.Int64).sum().alias("kept"))
    rows = _sorted_head(per_cluster, ["members", "cluster"], [True, False], MAX_BARS + 1)
    note = f"{MAX_BARS} largest clusters shown" if len(rows) > MAX_BARS else ""
    rows = rows[:MAX_BARS]
    return Bars(title, [str(r["cluster"]) for r in rows],
                [float(r["kept"]) / float(r["members"]) if r["members"] else 0.0 for r in rows],
                "cluster (largest first)", "kept / members", note)


def excerpt(text: Any, chars: int = 160) -> str:
    """The first ``chars`` characters of a text on one line (for example rows)."""
    if text is None:
        return ""
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= chars else one_line[: chars - 1] + "…"
