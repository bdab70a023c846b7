"""Schema containment graph, type widening and min-max pruning on designed profiles (no Spark)."""
import pytest

from pipelines.containment import graph, minmax
from pipelines.containment.profile import ColumnProfile, TableProfile
from pipelines.containment.types import compare_type, family, unsupported_reason, widens_to


def col(name, t, lo=None, hi=None, nulls=0, exact=True):
    c = ColumnProfile(name, t, nulls)
    if isinstance(lo, str) or isinstance(hi, str):
        c.min_str, c.max_str = lo, hi
    else:
        c.min_num, c.max_num = lo, hi
    c.min_exact = c.max_exact = exact
    return c


def table(tid, rows, *cols):
    return TableProfile(tid, f"/lake/{tid}", "delta", num_rows=rows, size_bytes=rows * 10, columns=list(cols))


@pytest.mark.parametrize("child,parent,ok", [
    ("int", "bigint", True), ("bigint", "int", False), ("float", "double", True), ("double", "float", False),
    ("int", "double", False), ("decimal(10,2)", "decimal(12,2)", True), ("decimal(12,2)", "decimal(12,3)", False),
    ("decimal(11,1)", "decimal(12,2)", True), ("varchar(5)", "string", True), ("date", "timestamp", False),
    ("string", "string", True), ("boolean", "boolean", True),
])
def test_widening(child, parent, ok):
    assert widens_to(child, parent) is ok


@pytest.mark.parametrize("child,parent,common", [
    ("int", "bigint", "bigint"), ("bigint", "int", "bigint"), ("tinyint", "smallint", "bigint"),
    ("float", "double", "double"), ("double", "float", "double"), ("int", "double", "double"),
    ("double", "bigint", "double"), ("decimal(10,4)", "decimal(12,2)", "decimal(14,4)"),
    ("int", "decimal(10,2)", "decimal(21,2)"), ("decimal(5,1)", "double", None),
    ("string", "bigint", "string"), ("string", "date", "string"), ("int", "string", "int"),
    ("double", "string", "double"), ("date", "timestamp", None), ("boolean", "int", None),
    ("boolean", "boolean", "boolean"), ("varchar(5)", "string", "string"), ("map<string,int>", "string", None),
])
def test_compare_type_is_by_value_family_in_either_direction(child, parent, common):
    assert compare_type(child, parent) == common


def test_unsupported_types_have_reasons():
    assert "map" in unsupported_reason("map<string,int>")
    assert "binary" in unsupported_reason("binary")
    assert unsupported_reason("array<int>") and family("int") == "int" and unsupported_reason("bigint") is None


def test_inverted_index_finds_exactly_the_superset_schemas():
    p = table("p", 10, col("id", "bigint", 1, 10), col("name", "string", "a", "z"), col("v", "double", 0, 1))
    c = table("c", 5, col("ID", "int", 2, 6), col("v", "float", 0, 0.5))
    other = table("o", 5, col("id", "bigint", 1, 5), col("w", "double", 0, 1))
    typed = table("t", 5, col("id", "string", "1", "5"), col("v", "double", 0, 1))
    skipped = table("s", 5, col("id", "bigint", 1, 2)).skip("empty")
    boolean = table("b", 5, col("id", "boolean"), col("v", "double", 0, 1))
    edges, stats = graph.schema_candidates([p, c, other, typed, skipped, boolean])
    # t's id is text: it compares with the integers as text (t the child) or parsed (t the parent)
    assert sorted(e.key for e in edges) == [("b", "t"), ("c", "t"), ("p", "c"), ("p", "t"), ("t", "b"), ("t", "c")]
    e = next(e for e in edges if e.key == ("p", "c"))
    assert e.columns == ("ID", "v") and e.parent_columns == ("id", "v")
    assert e.casts() == [("ID", "int", "bigint"), ("v", "float", "double")]
    assert e.compare_types == ("bigint", "double")
    assert next(e for e in edges if e.key == ("t", "c")).compare_types == ("int", "double")
    assert next(e for e in edges if e.key == ("c", "t")).compare_types == ("string", "double")
    assert stats.type_mismatches == 3  # a boolean id and an integer id: b -> p, b <-> c
    assert graph.inverted_index([p, c, skipped])["id"] == ["c", "p"]


def test_minmax_rules_each_fire_and_truncated_bounds_never_prune():
    p = table("p", 10, col("id", "bigint", 1, 10, nulls=1), col("s", "string", "b", "m"))
    cases = {
        "ok": (table("ok", 5, col("id", "int", 2, 9, nulls=1), col("s", "string", "b", "m")), None),
        "rows": (table("rows", 11, col("id", "int", 2, 9), col("s", "string", "b", "m")), "minmax:more_rows"),
        "min": (table("min", 5, col("id", "int", 0, 9), col("s", "string", "b", "m")), "minmax:min_below_parent"),
        "max": (table("max", 5, col("id", "int", 1, 9), col("s", "string", "b", "z")), "minmax:max_above_parent"),
        "nulls": (table("nulls", 5, col("id", "int", 1, 9, nulls=2), col("s", "string", "b", "m")), "minmax:more_nulls"),
        "trunc": (table("trunc", 5, col("id", "int", 1, 9), col("s", "string", "a", "m", exact=False)), None),
    }
    p2 = table("p2", 10, col("id", "bigint", 1, 10), col("s", "string", "b", "m"))
    for name, (child, rule) in cases.items():
        edges = [e for e in graph.schema_candidates([p, child])[0] if e.parent == "p"]
        assert len(edges) == 1
        minmax.prune(edges, {"p": p, name: child}, "bag")
        assert edges[0].pruned_by == rule, name
    nulls_child = table("n", 5, col("id", "int", 1, 9, nulls=1), col("s", "string", "b", "m"))
    edges = [e for e in graph.schema_candidates([p2, nulls_child])[0] if e.parent == "p2"]
    minmax.prune(edges, {"p2": p2, "n": nulls_child}, "set")
    assert edges[0].pruned_by == "minmax:nulls_absent_in_parent"
    # set semantics: more rows than the parent is allowed (duplicates)
    many = table("many", 50, col("id", "int", 2, 9), col("s", "string", "b", "m"))
    edges = [e for e in graph.schema_candidates([p2, many])[0] if e.parent == "p2"]
    minmax.prune(edges, {"p2": p2, "many": many}, "set")
    assert edges[0].alive and edges[0].reached == "minmax"


def test_integers_compared_as_doubles_only_within_two_to_the_53():
    parent = table("p", 10, col("x", "double", 0.0, 2.0 ** 60))
    small = table("small", 5, col("x", "bigint", 1, 2 ** 40))
    huge = table("huge", 5, col("x", "bigint", 1, 2 ** 53 + 2))
    edges = [e for e in graph.schema_candidates([parent, small, huge])[0] if e.parent == "p"]
    minmax.prune(edges, {"p": parent, "small": small, "huge": huge}, "bag")
    got = {e.child: e.pruned_by for e in edges}
    assert got == {"small": None, "huge": "minmax:int_not_exact_as_double"}
