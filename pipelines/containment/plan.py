"""The deletion plan (R2D2 §5): which contained tables to delete so that cost is lowest.

Cost of a table kept: its storage (size x price per GB-month). Cost of a table deleted: the expected
rebuild cost, access frequency x rebuild compute (parent size / scan rate, priced per compute hour).
A table may be deleted only through a parent that (a) verifiably contains it, (b) is kept, and
(c) rebuilds it within the table's latency limit (parent size / scan rate <= limit).

Solved exactly as a 0-1 ILP (PuLP with its bundled CBC) up to ``ilp_max_tables`` candidates:

    maximise  sum_C d_C * save_C - sum_(P,C) x_PC * rebuild_PC
    s.t.      sum_P x_PC = d_C           (a deleted table has exactly one rebuild parent)
              x_PC + d_P <= 1            (that parent is kept)
              x_PC = 0 unless latency_PC <= limit_C

and greedily above (largest net saving first, never deleting a table a deletion relies on).

User rules come first: a table matching a ``protect`` glob is never deleted, and of two equal copies
the one ranked higher by ``prefer`` (formats or id globs) is never deleted in favour of the other.
"""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Mapping, Sequence

from pipelines.containment.graph import Edge
from pipelines.containment.profile import TableProfile
from pipelines.core.errors import require

PLAN_DDL = (
    "table_id string, action string, parent string, reason string, size_bytes bigint, "
    "storage_cost_per_month double, rebuild_cost_per_month double, net_saving_per_month double, "
    "rebuild_latency_s double, latency_limit_s double, access_per_month double, solver string"
)


@dataclass(frozen=True)
class CostModel:
    """Prices and limits: from params, overridden per table by YAML cost rows or the costs table."""

    scan_rate_mb_per_s: float
    storage_cost_per_gb_month: float
    compute_cost_per_hour: float
    default_access_per_month: float
    default_latency_limit_s: float
    table_costs: Mapping[str, Mapping[str, float]]

    def access(self, table: str) -> float:
        return float(self.table_costs.get(table, {}).get("access_per_month", self.default_access_per_month))

    def latency_limit(self, table: str) -> float:
        return float(self.table_costs.get(table, {}).get("latency_limit_s", self.default_latency_limit_s))

    def storage_cost(self, table: str, size_bytes: int) -> float:
        price = self.table_costs.get(table, {}).get("storage_cost_per_gb_month", self.storage_cost_per_gb_month)
        return size_bytes / 1e9 * float(price)

    def rebuild_latency(self, parent_size_bytes: int) -> float:
        return parent_size_bytes / (self.scan_rate_mb_per_s * 1e6)

    def rebuild_cost(self, table: str, parent_size_bytes: int) -> float:
        return self.access(table) * self.rebuild_latency(parent_size_bytes) / 3600.0 * self.compute_cost_per_hour


@dataclass
class PlanRow:
    table_id: str
    action: str
    parent: str | None
    reason: str
    size_bytes: int
    storage_cost_per_month: float
    rebuild_cost_per_month: float | None
    net_saving_per_month: float
    rebuild_latency_s: float | None
    latency_limit_s: float
    access_per_month: float
    solver: str

    def row(self) -> tuple:
        return (self.table_id, self.action, self.parent, self.reason, self.size_bytes, self.storage_cost_per_month,
                self.rebuild_cost_per_month, self.net_saving_per_month, self.rebuild_latency_s,
                self.latency_limit_s, self.access_per_month, self.solver)


@dataclass(frozen=True)
class Rules:
    """The user's planning rules: ``protect`` globs and the ``prefer`` order (see the module docstring)."""

    protect: tuple[str, ...] = ()
    prefer: tuple[str, ...] = ()

    def protected_by(self, table_id: str) -> str | None:
        return next((g for g in self.protect if fnmatchcase(table_id, g)), None)

    def rank(self, prof: TableProfile) -> int:
        for i, entry in enumerate(self.prefer):
            if entry == prof.format or fnmatchcase(prof.table_id, entry):
                return i
        return len(self.prefer)


def _options(edges: Sequence[Edge], profiles: Mapping[str, TableProfile], costs: CostModel, rules: Rules):
    """(allowed rebuild options per child, children whose only options were too slow, children kept
    because an equal parent is less preferred)."""
    allowed: dict[str, list[tuple[str, float, float]]] = {}
    too_slow: set[str] = set()
    preferred: dict[str, str] = {}
    for e in edges:
        if e.reached != "verified":
            continue
        if e.relation == "equal" and rules.rank(profiles[e.child]) < rules.rank(profiles[e.parent]):
            preferred.setdefault(e.child, e.parent)
            continue
        psize = int(profiles[e.parent].size_bytes or 0)
        latency = costs.rebuild_latency(psize)
        if latency > costs.latency_limit(e.child):
            too_slow.add(e.child)
            continue
        allowed.setdefault(e.child, []).append((e.parent, latency, costs.rebuild_cost(e.child, psize)))
    for child in allowed:
        allowed[child].sort(key=lambda o: (o[2], o[0]))
    return allowed, too_slow, preferred


def _solve_ilp(allowed, saving, time_limit_s: int) -> dict[str, str]:
    pulp = require("pulp", "core")
    children = sorted(allowed)
    scale = max([abs(v) for v in saving.values()] + [abs(o[2]) for opts in allowed.values() for o in opts] + [1e-30])
    prob = pulp.LpProblem("r2d2_deletion_plan", pulp.LpMaximize)
    d = {c: pulp.LpVariable(f"d_{i}", cat="Binary") for i, c in enumerate(children)}
    x = {(p, c): pulp.LpVariable(f"x_{i}_{j}", cat="Binary")
         for i, c in enumerate(children) for j, (p, _, _) in enumerate(allowed[c])}
    # Deterministic tie-break between equal plans: prefer deleting the table that sorts last.
    eps = 1e-7
    prob += (pulp.lpSum(d[c] * (saving[c] / scale + eps * (i + 1) / len(children)) for i, c in enumerate(children))
             - pulp.lpSum(x[(p, c)] * (cost / scale) for c in children for p, _, cost in allowed[c]))
    for c in children:
        prob += pulp.lpSum(x[(p, c)] for p, _, _ in allowed[c]) == d[c]
        for p, _, _ in allowed[c]:
            if p in d:
                prob += x[(p, c)] + d[p] <= 1
    prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s))
    chosen = {}
    for c in children:
        if d[c].value() is not None and d[c].value() > 0.5:
            for p, _, _ in allowed[c]:
                if x[(p, c)].value() is not None and x[(p, c)].value() > 0.5:
                    chosen[c] = p
    return chosen


def _solve_greedy(allowed, saving) -> dict[str, str]:
    chosen: dict[str, str] = {}
    needed: set[str] = set()           # parents that a deletion relies on: never deleted
    # Largest net saving first; between equals, delete the table that sorts last (as the ILP does).
    order = sorted(sorted(allowed, reverse=True), key=lambda c: -(saving[c] - allowed[c][0][2]))
    for c in order:
        if c in needed:
            continue
        # a parent that is kept anyway (no deletion option of its own) first, then the cheapest rebuild
        for p, _, cost in sorted(allowed[c], key=lambda o: (o[0] in allowed, o[2], o[0])):
            if p in chosen or saving[c] - cost <= 0:
                continue
            chosen[c] = p
            needed.add(p)
            break
    return chosen


def plan(edges: Sequence[Edge], profiles: Mapping[str, TableProfile], costs: CostModel, *,
         ilp_max_tables: int, ilp_time_limit_s: int, rules: Rules = Rules()) -> tuple[list[PlanRow], str]:
    """One :class:`PlanRow` per usable table, and the solver used (``ilp`` or ``greedy``)."""
    allowed, too_slow, preferred = _options(edges, profiles, costs, rules)
    aliased = {c for c in allowed if profiles[c].aliases}
    protected = {c: g for c in allowed if (g := rules.protected_by(c)) is not None}
    allowed = {c: opts for c, opts in allowed.items() if c not in aliased and c not in protected}
    saving = {c: costs.storage_cost(c, int(profiles[c].size_bytes or 0)) for c in allowed}
    # A table whose cheapest rebuild costs more than its storage is never worth deleting.
    allowed = {c: [o for o in opts if saving[c] - o[2] > 0] or opts for c, opts in allowed.items()}
    worth = {c: opts for c, opts in allowed.items() if saving[c] - opts[0][2] > 0}
    solver = "ilp" if len(worth) <= ilp_max_tables else "greedy"
    chosen = (_solve_ilp(worth, saving, ilp_time_limit_s) if solver == "ilp" else _solve_greedy(worth, saving)) if worth else {}
    used_as_parent: dict[str, list[str]] = {}
    for c, p in chosen.items():
        used_as_parent.setdefault(p, []).append(c)
    verified_parents = {e.child for e in edges if e.reached == "verified"}
    rows = []
    for tid in sorted(t for t, p in profiles.items() if p.ok):
        prof = profiles[tid]
        size = int(prof.size_bytes or 0)
        storage = costs.storage_cost(tid, size)
        base = dict(table_id=tid, size_bytes=size, storage_cost_per_month=storage,
                    latency_limit_s=costs.latency_limit(tid), access_per_month=costs.access(tid), solver=solver)
        if tid in chosen:
            p = chosen[tid]
            opt = next(o for o in allowed[tid] if o[0] == p)
            rows.append(PlanRow(action="delete", parent=p, reason=f"contained in {p}", rebuild_cost_per_month=opt[2],
                                net_saving_per_month=storage - opt[2], rebuild_latency_s=opt[1], **base))
            continue
        if tid in protected:  # the user's rule first, even when it also serves as a parent
            reason = f"kept: protected by params.protect '{protected[tid]}'"
        elif tid in used_as_parent:
            reason = "kept: rebuild parent of " + ", ".join(sorted(used_as_parent[tid]))
        elif tid in aliased:
            reason = (f"kept: the symlink '{prof.aliases[0]}' points at it (deleting it would leave the link "
                      "dangling)")
        elif tid in worth:
            reason = "kept: its parents are needed or deleted"
        elif tid in allowed:
            reason = "kept: rebuild cost exceeds storage saving"
        elif tid in preferred:
            reason = f"kept: preferred by params.prefer over its equal copy {preferred[tid]}"
        elif tid in too_slow:
            reason = "kept: rebuild latency over its limit"
        elif tid in verified_parents:
            reason = "kept: no allowed parent"
        else:
            reason = "kept: not contained in another table"
        best = allowed.get(tid, [None])[0]
        rows.append(PlanRow(action="keep", parent=None, reason=reason,
                            rebuild_cost_per_month=best[2] if best else None, net_saving_per_month=0.0,
                            rebuild_latency_s=best[1] if best else None, **base))
    return rows, solver
