"""Sample size, deletion plan (ILP and greedy) and recipe predicates on designed inputs (no Spark)."""
import math

import pytest

from pipelines.containment.filters import sql_literal
from pipelines.containment.graph import Edge
from pipelines.containment.plan import CostModel, plan
from pipelines.containment.profile import ColumnProfile, TableProfile
from pipelines.containment.recipes import candidate_predicates
from pipelines.containment.sampling import detection_probability, sample_size
from pipelines.core.errors import ConfigError


def test_sample_size_meets_the_confidence_and_is_minimal():
    k = sample_size(0.01, 0.99)
    assert k == 461
    assert detection_probability(0.01, k) >= 0.99 > detection_probability(0.01, k - 1)
    assert sample_size(0.5, 0.75) == 3 and sample_size(1.0, 0.9) == 3
    with pytest.raises(ConfigError, match="miss_fraction"):
        sample_size(0.0, 0.9)


def _profiles(sizes):
    return {t: TableProfile(t, f"/lake/{t}", "delta", num_rows=10, size_bytes=s) for t, s in sizes.items()}


def _edge(p, c):
    e = Edge(p, c, ("a",), ("a",), ("int",), ("int",))
    e.reached = "verified"
    return e


COSTS = dict(scan_rate_mb_per_s=100.0, storage_cost_per_gb_month=0.023, compute_cost_per_hour=0.5,
             default_access_per_month=1.0, default_latency_limit_s=600.0)


@pytest.mark.parametrize("solver_limit", [100, 0])
def test_plan_keeps_a_parent_for_every_deletion_and_respects_costs_and_latency(solver_limit):
    # A = B (copies), C in A and B, D in A; D is hot, E only has a too-slow parent F.
    profiles = _profiles({"A": 1_000_000, "B": 1_000_000, "C": 400_000, "D": 500_000, "E": 10_000, "F": 10**12})
    edges = [_edge("A", "B"), _edge("B", "A"), _edge("A", "C"), _edge("B", "C"), _edge("A", "D"), _edge("F", "E")]
    costs = CostModel(**COSTS, table_costs={"D": {"access_per_month": 1e6}})
    rows, solver = plan(edges, profiles, costs, ilp_max_tables=solver_limit, ilp_time_limit_s=10)
    assert solver == ("ilp" if solver_limit else "greedy")
    by = {r.table_id: r for r in rows}
    deleted = {t for t, r in by.items() if r.action == "delete"}
    assert deleted == {"B", "C"}
    assert by["B"].parent == "A" and by["C"].parent == "A"
    assert by["A"].reason.startswith("kept: rebuild parent of")
    assert by["D"].reason == "kept: rebuild cost exceeds storage saving"
    assert by["E"].reason == "kept: rebuild latency over its limit"
    assert by["F"].reason == "kept: not contained in another table"
    assert math.isclose(by["C"].storage_cost_per_month, 400_000 / 1e9 * 0.023)
    for t in deleted:
        assert by[by[t].parent].action == "keep"


def test_chain_deletes_both_children_through_the_root():
    profiles = _profiles({"R": 10_000_000, "M": 5_000_000, "L": 1_000_000})
    edges = [_edge("R", "M"), _edge("M", "L"), _edge("R", "L")]
    rows, _ = plan(edges, profiles, CostModel(**COSTS, table_costs={}), ilp_max_tables=10, ilp_time_limit_s=10)
    by = {r.table_id: r for r in rows}
    assert by["M"].action == by["L"].action == "delete" and by["L"].parent == "R"


def _col(name, t, lo, hi, nulls=0, exact=True):
    c = ColumnProfile(name, t, nulls, min_exact=exact, max_exact=exact)
    if isinstance(lo, str):
        c.min_str, c.max_str = lo, hi
    else:
        c.min_num, c.max_num = lo, hi
    return c


def test_candidate_predicates_use_partitions_first_then_all_narrowed_ranges():
    parent = TableProfile("p", "/p", "delta", partition_columns=("region",), columns=[
        _col("region", "string", "APAC", "US"), _col("amount", "double", 5.0, 999.5), _col("id", "bigint", 1, 300)])
    child = TableProfile("c", "/c", "delta", columns=[
        _col("region", "string", "EU", "EU"), _col("amount", "double", 7.25, 999.5), _col("id", "int", 1, 300)])
    e = Edge("p", "c", ("amount", "id", "region"), ("amount", "id", "region"), ("double", "int", "string"),
             ("double", "bigint", "string"))
    preds = candidate_predicates(child, parent, e)
    assert preds == [None, "`region` >= 'EU' AND `region` <= 'EU'",
                     "`amount` >= CAST('7.25' AS DOUBLE) AND `region` >= 'EU' AND `region` <= 'EU'"]
    assert sql_literal("it's", "string") == "'it\\'s'"
    assert sql_literal(19723.0, "date") == "DATE '2024-01-01'"
    assert sql_literal(1.5, "decimal(10,2)") is None


def test_a_table_a_symlink_points_at_is_never_deleted():
    """B is contained in A and worth deleting, but a symlink of the lake points at it: deleting it would
    leave the link dangling, so it is kept, saying why; A, reached by no link, may still be a parent."""
    profiles = _profiles({"A": 1_000_000, "B": 900_000, "C": 800_000})
    profiles["B"].aliases = ("links/b",)
    rows, _ = plan([_edge("A", "B"), _edge("A", "C")], profiles, CostModel(**COSTS, table_costs={}), ilp_max_tables=100,
                   ilp_time_limit_s=10)
    by_id = {r.table_id: r for r in rows}
    assert by_id["B"].action == "keep" and "the symlink 'links/b' points at it" in by_id["B"].reason
    assert by_id["C"].action == "delete" and by_id["C"].parent == "A"


@pytest.mark.parametrize("solver_limit", [100, 0])
def test_protect_globs_and_the_prefer_order_decide_which_copy_is_kept(solver_limit):
    from pipelines.containment.plan import Rules

    # a Delta table, its equal Parquet and CSV copies (the CSV is the largest), and a child of all three
    profiles = {"delta/t": TableProfile("delta/t", "/l/delta/t", "delta", num_rows=10, size_bytes=2_000_000),
                "raw/t.parquet": TableProfile("raw/t.parquet", "/l/raw/t.parquet", "parquet", num_rows=10,
                                              size_bytes=1_000_000),
                "csv/t.csv": TableProfile("csv/t.csv", "/l/csv/t.csv", "csv", num_rows=10, size_bytes=3_000_000),
                "raw/c.parquet": TableProfile("raw/c.parquet", "/l/raw/c.parquet", "parquet", num_rows=5,
                                              size_bytes=500_000)}
    copies = ["delta/t", "raw/t.parquet", "csv/t.csv"]
    edges = [_edge(p, c) for p in copies for c in copies if p != c] + [_edge(p, "raw/c.parquet") for p in copies]
    for e in edges:
        e.relation = "contained" if e.child == "raw/c.parquet" else "equal"
    costs = CostModel(**COSTS, table_costs={})
    run = dict(ilp_max_tables=solver_limit, ilp_time_limit_s=10)
    by = {r.table_id: r for r in plan(edges, profiles, costs, **run)[0]}
    # no rules: the cheapest plan keeps the smallest copy, the Parquet one
    assert {t for t, r in by.items() if r.action == "keep"} == {"raw/t.parquet"}
    rules = Rules(protect=("raw/c*",), prefer=("delta", "parquet"))
    by = {r.table_id: r for r in plan(edges, profiles, costs, rules=rules, **run)[0]}
    assert {t for t, r in by.items() if r.action == "delete"} == {"raw/t.parquet", "csv/t.csv"}
    assert by["raw/t.parquet"].parent == by["csv/t.csv"].parent == "delta/t"
    assert by["raw/c.parquet"].reason == "kept: protected by params.protect 'raw/c*'"
    assert by["delta/t"].reason == "kept: rebuild parent of csv/t.csv, raw/t.parquet"
