"""Views in the driver: content pruning and exact verification on Arrow data, for lakes of small tables.

The same answers as :class:`~pipelines.containment.views.ViewCounts` (the Spark engine), computed in
the driver process: each table a live edge needs is read **once** as Arrow (local Parquet and Delta
files with pyarrow, anything else through one Spark ``toArrow`` job), every view of it is counted
with polars, and each edge is answered by joining its child view's counts with its parent view's.

Why: Spark pays ~0.1-0.2 s per table per pass (a scan, a union branch, a task) however small the
table; on a lake of hundreds of tables of a few hundred rows that fixed cost is many times the work
(bench/results/containment_real.md). Past ``params.driver_max_rows`` rows the Spark engine is used.

Exactness: a view's row is compared by value in the edge's compare type
(:func:`pipelines.containment.types.compare_type`) exactly as the Spark engine's JSON text compares it:

* integers as 64-bit integers, decimals as their text at the compare type's scale, dates as days,
  timestamps as microseconds, strings and booleans as themselves; nulls equal nulls;
* floating point as the 64-bit pattern of the double it widens to, every NaN one value, so -0.0 and
  0.0 differ (:func:`~pipelines.containment.rowhash.exact_float`: the text Spark compares is injective
  on doubles, and so is the bit pattern);
* conversions only Spark defines exactly (text parsed with ``try_cast``, a typed value rendered as
  Spark's text) are computed by Spark, in the same job that reads that table.

The content sample is a different deterministic sample from the Spark engine's (polars' row hash,
not Spark's ``xxhash64``); which edges survive verification does not depend on it.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.containment.graph import Edge
from pipelines.containment.types import family, int_bits, parses
from pipelines.containment.views import EdgeCounts, View, child_view, parent_view
from pipelines.core import spark_csv

SAMPLE_SEED = 0x2D2D
READ_THREADS = 4
READ_BATCH = 64


class ArrowSource(Protocol):
    """Reads one table of the lake as Arrow: ``columns`` as stored (Arrow types of their Spark types) and
    ``expressions`` (alias -> Spark SQL over the table) computed by Spark; None when it cannot."""

    def read_arrow(self, table: str, columns: Sequence[str], expressions: Mapping[str, str]) -> pa.Table: ...


def spark_conversion(own: str, target: str) -> str | None:
    """The Spark SQL template (``{q}``: the quoted column) of a conversion only Spark defines exactly, or None
    when Arrow's cast is exact: text parsed into a typed value, or a typed value other than an integer or a
    boolean rendered as text (a double's text is Java's, a date's or timestamp's Spark's formatting)."""
    if own.strip().lower() == target.strip().lower():
        return None
    if parses(own, target):
        return "try_cast({q} AS " + target + ")"
    if family(target) == "string" and family(own) != "string":
        if family(own) in ("int", "boolean"):
            return None  # Arrow's text of an integer (its digits) or a boolean ('true'/'false') is Spark's
        return "CAST({q} AS string)"
    return None


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _alias(column: str, target: str) -> str:
    return f"__lakesieve_{len(column)}_{column}__as__{target}"


def _arrow_type(target: str) -> pa.DataType:
    t = target.strip().lower()
    fam = family(t)
    if fam == "int":
        return pa.int64()
    if fam == "float":
        return pa.float64()
    if fam == "decimal":
        p, s = (int(x) for x in t[t.index("(") + 1:-1].split(","))
        return pa.decimal128(p, s)
    if fam == "string":
        return pa.large_string()
    return {"boolean": pa.bool_(), "date": pa.date32(), "timestamp": pa.timestamp("us"),
            "timestamp_ntz": pa.timestamp("us")}[t]


def _key(values: pa.Array, target: str) -> pa.Array:
    """``values`` (already of the compare type ``target``) as an exactly comparable Arrow array."""
    fam = family(target)
    if fam == "float":
        doubles = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
        valid = np.asarray(values.is_valid())
        doubles[np.isnan(doubles) & valid] = np.nan  # every NaN one pattern
        bits = doubles.view(np.int64)
        return pa.array(bits, type=pa.int64(), mask=~valid)
    if fam == "decimal":
        return pc.cast(values, pa.large_string())
    if target.strip().lower() in ("timestamp", "timestamp_ntz"):
        return pc.cast(pc.cast(values, pa.timestamp("us"), safe=False) if values.type != pa.timestamp("us")
                       else values, pa.int64())
    if target.strip().lower() == "date":
        return pc.cast(values, pa.int32())
    return values


def _to_compare(values: pa.Array, target: str) -> pa.Array:
    """A column read in its own type, cast to the compare type (a widening: exact; ints beyond 2^53 as
    doubles round as Spark's cast does, and min-max pruning keeps such pairs out anyway)."""
    want = _arrow_type(target)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_timestamp(values.type) and pa.types.is_timestamp(want):
        return pc.cast(values.cast(pa.timestamp(values.type.unit)), pa.timestamp("us"), safe=False) \
            if values.type.tz is not None else pc.cast(values, want, safe=False)
    if values.type == want:
        return values
    return pc.cast(values, want, safe=family(target) != "float")


def driver_conversion(values: pa.Array, own: str, target: str) -> pa.Array | None:
    """Spark's ``try_cast`` of ``values`` from ``own`` to ``target``, computed in the driver where it is certain,
    else None (Spark computes it). Done here: text to an integer type when every text is either a plain
    integer in range (``[+-]digits``: its value) or holds no ASCII digit at all (Spark's ``UTF8String.toLong``
    reads ASCII digits only, so such text is null). Text such as ' 12', '1.0' or '12abc' is left to Spark."""
    if family(own) != "string" or family(target) != "int":
        return None
    text = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    strict = pc.match_substring_regex(text, spark_csv.INTEGER_TEXT)
    digitless = pc.invert(pc.match_substring_regex(text, r"[0-9]"))
    if pc.all(pc.or_kleene(strict, digitless)).as_py() not in (True, None):
        return None
    parsed = spark_csv.plain_integers(pc.if_else(strict, text, pa.scalar(None, text.type)))
    if parsed is None:  # beyond 64 bits
        return None
    bits = int_bits(target)
    lo, hi = pc.min(parsed).as_py(), pc.max(parsed).as_py()
    if lo is not None and (lo < -(2 ** (bits - 1)) or hi > 2 ** (bits - 1) - 1):
        return None  # out of range: null under try_cast, left to Spark all the same
    return parsed


@dataclass(frozen=True)
class _Need:
    """What one table must give for all its views: stored columns, and Spark conversions by alias."""

    columns: tuple[str, ...]
    expressions: tuple[tuple[str, str], ...]
    conversions: tuple[tuple[str, str, str, str], ...] = ()  # (alias, column, own, target) of each expression


def needs(views: Sequence[View]) -> _Need:
    cols: dict[str, None] = {}
    exprs: dict[str, str] = {}
    conversions: dict[str, tuple[str, str, str, str]] = {}
    for v in views:
        for c, own, target in zip(v.columns, v.types, v.compare_types):
            template = spark_conversion(own, target)
            cols[c] = None  # a converted column is read too: for its flag, or to convert it in the driver
            if template is not None:
                alias = _alias(c, target)
                exprs[alias] = template.format(q=_quote(c))
                conversions[alias] = (alias, c, own, target)
    return _Need(tuple(cols), tuple(sorted(exprs.items())), tuple(sorted(conversions.values())))


def read_need(source: ArrowSource, table: str, need: _Need) -> pa.Table:
    """``table``'s columns and conversions: the columns read, each conversion computed in the driver
    (:func:`driver_conversion`) when it can be; only when one cannot does Spark read the table with them all."""
    data = source.read_arrow(table, need.columns, {})
    converted = {}
    for alias, column, own, target in need.conversions:
        values = driver_conversion(data.column(column), own, target)
        if values is None:
            return source.read_arrow(table, need.columns, dict(need.expressions))
        converted[alias] = values
    for alias, values in converted.items():
        data = data.append_column(alias, values)
    return data


def view_frame(data: pa.Table, v: View):
    """The view's rows as a polars frame of key columns ``c<i>`` (and ``u<i>`` flags for parsed text)."""
    import polars as pl

    out = {}
    for i, (c, own, target, parsed) in enumerate(zip(v.columns, v.types, v.compare_types, v.parsed)):
        if spark_conversion(own, target) is not None:
            values = data.column(_alias(c, target)).combine_chunks()
            values = values if values.type == _arrow_type(target) else pc.cast(values, _arrow_type(target))
        else:
            values = _to_compare(data.column(c), target)
        out[f"c{i}"] = _key(values, target)
        if parsed:
            if parses(own, target):  # text that did not parse matches nothing (the Spark engine's flag)
                stored = data.column(c).combine_chunks()
                out[f"u{i}"] = pc.and_(stored.is_valid(), values.is_null())
            else:
                out[f"u{i}"] = pa.array(np.zeros(len(data), dtype=bool))
    return pl.from_arrow(pa.table(out)) if out else pl.DataFrame()


class DriverViews:
    """Every view the live edges need, counted in the driver from one Arrow read per table; the same
    answers as :class:`~pipelines.containment.views.ViewCounts` (``sample_counts``, ``edge_counts``,
    ``parent_totals``)."""

    def __init__(self, source: ArrowSource, edges: Sequence[Edge]):
        import polars as pl

        children = {e.child for e in edges}
        views = sorted({v for e in edges for v in (child_view(e), parent_view(e))}, key=repr)
        by_table: dict[str, list[View]] = {}
        for v in views:
            by_table.setdefault(v.table, []).append(v)
        self.counts: dict[View, pl.DataFrame] = {}
        self.data: dict[str, pa.Table] = {}  # the children's rows (every column), for their recipes' checksums
        self.rows_read = 0
        self._hashes: dict[View, object] = {}  # child view -> its rows' sample hashes
        self._exact: dict[tuple[View, View], EdgeCounts | None] = {}  # (child view, parent view) -> exact counts
        tables = sorted(by_table)

        def read(table: str) -> pa.Table:
            return read_need(source, table, needs(by_table[table]))

        # READ_THREADS tables are read at once (pyarrow releases the GIL; a Spark read is mostly waiting),
        # READ_BATCH at a time so that only a batch of raw tables is held beside the counts
        with ThreadPoolExecutor(READ_THREADS) as pool:
            for start in range(0, len(tables), READ_BATCH):
                batch = tables[start:start + READ_BATCH]
                for table, data in zip(batch, pool.map(read, batch)):
                    self.rows_read += data.num_rows
                    for v in by_table[table]:
                        frame = view_frame(data, v)
                        self.counts[v] = frame.group_by(frame.columns).len("n").with_columns(
                            pl.col("n").cast(pl.Int64))
                    if table in children:
                        self.data[table] = data

    def _answer(self, edges: Sequence[Edge], bounds: Sequence[int | None]) -> list[tuple[int, int, EdgeCounts | None]]:
        """For edges sharing one parent view (so their child views share its columns and types), one join of
        all their child views with the parent's answers both steps for each: (child rows in the content sample
        whose hash is below its bound, of them absent from the parent) and the exact counts (None: empty
        child), kept for :meth:`edge_counts`."""
        import polars as pl

        parent = self.counts[parent_view(edges[0])].rename({"n": "pn"})
        keys = [c for c in parent.columns if c != "pn"]
        parts = []
        for i, (e, bound) in enumerate(zip(edges, bounds)):
            cv = child_view(e)
            child = self.counts[cv]
            if bound is None:
                sampled = pl.lit(True)
            else:  # unsigned hash below q * 2^64, as content.sample_threshold defines the bound
                if cv not in self._hashes:  # one hash per child view, whatever the number of its parents
                    self._hashes[cv] = child.select(keys).hash_rows(seed=SAMPLE_SEED)
                sampled = self._hashes[cv] < pl.lit(bound + 2 ** 63, dtype=pl.UInt64)
            parts.append(child.with_columns(pl.lit(i, dtype=pl.Int32).alias("_edge"), sampled.alias("_s")))
        j = pl.concat(parts).join(parent, on=keys, how="left", nulls_equal=True)
        pn = pl.col("pn").fill_null(0)
        per_edge = j.group_by("_edge").agg(
            pl.col("_s").sum().alias("sampled"), (pl.col("_s") & pl.col("pn").is_null()).sum().alias("missing"),
            (pl.col("n") - pn).clip(lower_bound=0).sum().alias("c_not_p"),
            pl.col("pn").is_null().sum().alias("dc_not_p"),
            pl.min_horizontal(pl.col("n"), pn).sum().alias("matched"),
            pl.col("pn").is_not_null().sum().alias("dmatched"),
            pl.col("n").sum().alias("child_rows"))
        got = {r["_edge"]: r for r in per_edge.iter_rows(named=True)}
        out = []
        for i, e in enumerate(edges):
            r = got.get(i)
            exact = None if r is None else EdgeCounts(int(r["c_not_p"]), int(r["dc_not_p"]), int(r["matched"]),
                                                      int(r["dmatched"]), int(r["child_rows"]))
            self._exact[(child_view(e), parent_view(e))] = exact
            out.append((0, 0, None) if r is None else (int(r["sampled"]), int(r["missing"]), exact))
        return out

    def _answers(self, edges: Sequence[Edge], bounds: Sequence[int | None]) -> dict[int, tuple[int, int, EdgeCounts | None]]:
        """:meth:`_answer` for every edge (by index), one join per parent view."""
        groups: dict[View, list[int]] = {}
        for i, e in enumerate(edges):
            groups.setdefault(parent_view(e), []).append(i)
        out = {}
        for members in groups.values():
            for i, answer in zip(members, self._answer([edges[i] for i in members], [bounds[i] for i in members])):
                out[i] = answer
        return out

    def sample_counts(self, edges: Sequence[Edge], bounds: Sequence[int | None]) -> dict[int, tuple[int, int]]:
        return {i: (n, missing) for i, (n, missing, _) in self._answers(edges, bounds).items()}

    def edge_counts(self, edges: Sequence[Edge]) -> dict[int, EdgeCounts]:
        todo = [i for i, e in enumerate(edges) if (child_view(e), parent_view(e)) not in self._exact]
        if todo:
            self._answers([edges[i] for i in todo], [None] * len(todo))
        out = {}
        for i, e in enumerate(edges):
            exact = self._exact[(child_view(e), parent_view(e))]
            if exact is not None:
                out[i] = exact
        return out

    def parent_totals(self, e: Edge) -> tuple[int, int]:
        frame = self.counts[parent_view(e)]
        return (int(frame["n"].sum()) if frame.height else 0, frame.height)
