"""Min-max pruning (R2D2 §4.2): drop an edge P -> C from profiles alone, without reading rows.

C cannot be contained in P when, for a shared column, C's smallest value is below P's smallest or
C's largest above P's largest; when C holds nulls in a column where P holds none; and, under bag
semantics, when C has more rows than P or more nulls in a column than P. Profiles carry *bounds*
(see :mod:`pipelines.containment.profile`): a rule fires only when the child's statistic is exact,
so a truncated Delta string statistic can never prune a true containment. An integer column
compared with a floating-point one (:func:`pipelines.containment.types.compare_type`) is compared as
a double, exact only within 2^53: a pair whose integer bounds reach beyond is dropped.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from pipelines.containment.graph import Edge
from pipelines.containment.profile import ColumnProfile, TableProfile
from pipelines.containment.types import DOUBLE_EXACT_INT, needs_int_bound


def _below(child: ColumnProfile, parent: ColumnProfile) -> bool:
    if not child.min_exact:
        return False
    if child.min_num is not None and parent.min_num is not None:
        return child.min_num < parent.min_num
    if child.min_str is not None and parent.min_str is not None:
        return child.min_str < parent.min_str
    return False


def _above(child: ColumnProfile, parent: ColumnProfile) -> bool:
    if not child.max_exact:
        return False
    if child.max_num is not None and parent.max_num is not None:
        return child.max_num > parent.max_num
    if child.max_str is not None and parent.max_str is not None:
        return child.max_str > parent.max_str
    return False


def _within_double(col: ColumnProfile) -> bool:
    return (col.min_num is not None and col.max_num is not None
            and max(abs(col.min_num), abs(col.max_num)) <= DOUBLE_EXACT_INT) or (col.null_count is not None
                                                                                and col.min_num is None
                                                                                and col.max_num is None)


def prune_reason(child: TableProfile, parent: TableProfile, edge: Edge, semantics: str) -> tuple[str, str] | None:
    """(rule, detail) of the first min-max rule that proves C is not contained in P, else None."""
    if semantics == "bag" and child.num_rows is not None and parent.num_rows is not None \
            and child.num_rows > parent.num_rows:
        return "minmax:more_rows", f"{child.num_rows} rows > {parent.num_rows}"
    for cname, pname, target in zip(edge.columns, edge.parent_columns, edge.compare_types):
        c, p = child.column(cname), parent.column(pname)
        for side in (c, p):
            if needs_int_bound(side.data_type, target) and not _within_double(side):
                return "minmax:int_not_exact_as_double", (f"column {side.name}: integers beyond 2^53 (or unknown "
                                                          "bounds) are not exact as doubles")
        if c.null_count is not None and p.null_count is not None:
            if c.null_count > 0 and p.null_count == 0:
                return "minmax:nulls_absent_in_parent", f"column {cname}: {c.null_count} nulls, parent none"
            if semantics == "bag" and c.null_count > p.null_count:
                return "minmax:more_nulls", f"column {cname}: {c.null_count} nulls > {p.null_count}"
        if _below(c, p):
            return "minmax:min_below_parent", f"column {cname}: min {c.min_num if c.min_num is not None else c.min_str!r} < parent's"
        if _above(c, p):
            return "minmax:max_above_parent", f"column {cname}: max {c.max_num if c.max_num is not None else c.max_str!r} > parent's"
    return None


def prune(edges: Sequence[Edge], profiles: Mapping[str, TableProfile], semantics: str) -> int:
    """Apply the min-max rules to every live edge in place; return how many it pruned."""
    pruned = 0
    for e in edges:
        if not e.alive:
            continue
        why = prune_reason(profiles[e.child], profiles[e.parent], e, semantics)
        if why is None:
            e.reached = "minmax"
        else:
            e.prune(*why)
            pruned += 1
    return pruned
