"""The schema containment graph (R2D2 §4.1): an edge P -> C when C's columns are a subset of P's.

Built from an inverted index column -> tables, never by comparing all pairs: the candidate parents
of C are the intersection of the posting lists of C's columns (smallest list first), and only those
are checked for type compatibility (:func:`pipelines.containment.types.compare_type`: by value
family, in either direction of width, CSV-inferred types against text).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

from pipelines.containment.profile import TableProfile
from pipelines.containment.rowhash import canonical_order
from pipelines.containment.types import compare_type

EDGES_DDL = (
    "parent string, child string, columns array<string>, parent_columns array<string>, "
    "casts array<struct<column:string,child_type:string,parent_type:string>>, reached string, "
    "pruned_by string, detail string, semantics string, sample_rows int, rows_child_not_in_parent bigint, "
    "rows_parent_not_in_child bigint, relation string"
)


@dataclass
class Edge:
    """A candidate containment P (parent) -> C (child) and how far it got.

    ``reached`` is the last step the edge passed: ``schema``, ``minmax``, ``content`` or ``verified``;
    ``pruned_by`` names the rule that stopped it (None for verified edges).
    """

    parent: str
    child: str
    columns: tuple[str, ...]            # the child's column names, canonical order
    parent_columns: tuple[str, ...]     # the matching parent column names, same order
    child_types: tuple[str, ...]
    parent_types: tuple[str, ...]
    reached: str = "schema"
    pruned_by: str | None = None
    detail: str | None = None
    sample_rows: int | None = None
    rows_child_not_in_parent: int | None = None
    rows_parent_not_in_child: int | None = None
    relation: str | None = None          # contained | equal (verified edges)
    compare_types: tuple[str, ...] = ()  # the type each column pair is compared in (types.compare_type)

    def __post_init__(self) -> None:
        if not self.compare_types:
            self.compare_types = tuple(compare_type(c, p) or p for c, p in zip(self.child_types, self.parent_types))

    @property
    def key(self) -> tuple[str, str]:
        return (self.parent, self.child)

    @property
    def alive(self) -> bool:
        return self.pruned_by is None

    @property
    def projection_key(self) -> tuple[str, tuple[str, ...]]:
        """The parent's projection this edge probes: computed once per (parent, child column set)."""
        return (self.parent, tuple(c.lower() for c in self.parent_columns), self.compare_types)

    def prune(self, step_rule: str, detail: str | None = None) -> None:
        self.pruned_by, self.detail = step_rule, detail

    def casts(self) -> list[tuple[str, str, str]]:
        return [(c, ct, pt) for c, ct, pt in zip(self.columns, self.child_types, self.parent_types) if ct != pt]

    def row(self, semantics: str) -> tuple:
        return (self.parent, self.child, list(self.columns), list(self.parent_columns), self.casts(), self.reached,
                self.pruned_by, self.detail, semantics, self.sample_rows, self.rows_child_not_in_parent,
                self.rows_parent_not_in_child, self.relation)


@dataclass
class GraphStats:
    tables: int = 0
    posting_lookups: int = 0          # table ids read from posting lists
    name_candidates: int = 0          # pairs whose column names match
    type_mismatches: int = 0          # ... but a type does not widen
    edges: int = 0
    postings: dict = field(default_factory=dict)


def inverted_index(profiles: Sequence[TableProfile]) -> dict[str, list[str]]:
    """column key (lower-cased name) -> sorted ids of the usable tables that have it."""
    index: dict[str, list[str]] = defaultdict(list)
    for p in sorted(profiles, key=lambda x: x.table_id):
        if p.ok:
            for key in set(p.column_keys()):
                index[key].append(p.table_id)
    return dict(index)


def schema_candidates(profiles: Sequence[TableProfile]) -> tuple[list[Edge], GraphStats]:
    """Every edge P -> C of the schema containment graph, in (child, parent) order."""
    usable = {p.table_id: p for p in profiles if p.ok}
    index = inverted_index(profiles)
    stats = GraphStats(tables=len(usable))
    edges: list[Edge] = []
    for child_id in sorted(usable):
        child = usable[child_id]
        keys = sorted(set(child.column_keys()), key=lambda k: (len(index[k]), k))
        if not keys:
            continue
        candidates = set(index[keys[0]])
        stats.posting_lookups += len(index[keys[0]])
        for key in keys[1:]:
            if len(candidates) <= 1:
                break
            candidates &= set(index[key])
            stats.posting_lookups += len(index[key])
        candidates.discard(child_id)
        ordered = canonical_order([c.name for c in child.columns])
        for parent_id in sorted(candidates):
            parent = usable[parent_id]
            if not all(k in parent.column_keys() for k in keys):
                continue
            stats.name_candidates += 1
            pcols = [parent.column(n) for n in ordered]
            ccols = [child.column(n) for n in ordered]
            common = tuple(compare_type(c.data_type, p.data_type) for c, p in zip(ccols, pcols))
            if None in common:
                stats.type_mismatches += 1
                continue
            edges.append(Edge(parent_id, child_id, tuple(c.name for c in ccols), tuple(p.name for p in pcols),
                              tuple(c.data_type for c in ccols), tuple(p.data_type for p in pcols),
                              compare_types=common))
    stats.edges = len(edges)
    return edges, stats


def neighbour_counts(edges: Sequence[Edge]) -> tuple[dict[str, int], dict[str, int]]:
    """(schema parents per table, schema children per table) for the ``profile`` output."""
    parents: dict[str, int] = defaultdict(int)
    children: dict[str, int] = defaultdict(int)
    for e in edges:
        parents[e.child] += 1
        children[e.parent] += 1
    return dict(parents), dict(children)
