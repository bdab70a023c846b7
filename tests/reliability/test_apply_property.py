"""Property: over random small lakes — doubles including -0.0, NaN and nulls, Delta and Parquet tables in
nested folders, symlinked aliases — containment's plan deletes only tables truly contained in their parent
*bit for bit*, never one a symlink points at, and apply followed by restore gives every table back
byte-identical.

The oracle is independent of Spark: a child is contained when its rows, as (key, exact 64-bit pattern of
the double, NaN as one value), are a sub-multiset of its parent's. Examples: ``LAKESIEVE_PROPERTY_EXAMPLES``
(default 3 in ``make test``; each runs the stage, an apply and the restores, about a minute).
"""
from __future__ import annotations

import math
import os
import struct
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import jobs.containment as job
from jobs import containment_apply as ops
from jobs import containment_journal as journal
from pipelines.core import lakehouse
from pipelines.core.tables import TableRef

pytestmark = [pytest.mark.spark, pytest.mark.slow]

VALUES = st.one_of(st.none(), st.sampled_from([0.0, -0.0, float("nan"), 1.5, -2.25, 1e300]),
                   st.floats(allow_nan=False, width=64))
ROWS = st.lists(st.tuples(st.integers(0, 4), VALUES), min_size=2, max_size=10)


def _key(row) -> tuple:
    k, x = row
    return (k, None if x is None else "nan" if math.isnan(x) else struct.pack("<d", x))


def _contained(child, parent) -> bool:
    c, p = Counter(map(_key, child)), Counter(map(_key, parent))
    return all(p[k] >= n for k, n in c.items())


@st.composite
def lakes(draw):
    parent = draw(ROWS)
    children = []
    for i in range(draw(st.integers(1, 3))):
        mask = draw(st.lists(st.booleans(), min_size=len(parent), max_size=len(parent)))
        rows = [r for r, m in zip(parent, mask) if m] or parent[:1]
        if draw(st.booleans()):  # flip a sign bit: 0.0 <-> -0.0 (equal to Spark, not the same bits)
            zeros = [j for j, (_, x) in enumerate(rows) if x == 0.0]
            if zeros:
                j = zeros[0]
                rows = rows[:j] + [(rows[j][0], -rows[j][1])] + rows[j + 1:]
        children.append({"id": f"{draw(st.sampled_from(['', 'a/', 'a/b/']))}c{i}", "rows": rows,
                         "format": draw(st.sampled_from(["delta", "parquet"])), "alias": draw(st.booleans())})
    return {"parent": parent, "children": children}


def _write(spark, path: Path, rows, fmt: str) -> None:
    df = spark.createDataFrame(rows, "k int, x double").coalesce(1)
    if fmt == "delta":
        lakehouse.write_table(df, TableRef(path=str(path)), "setup")
    else:
        df.write.parquet(str(path))


@settings(max_examples=int(os.environ.get("LAKESIEVE_PROPERTY_EXAMPLES", "3")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lake=lakes())
# always tried, whatever is drawn: a deletable child in a nested folder, a child differing only by -0.0,
# and an aliased child, so the property is never checked on lakes where nothing moves
@example(lake={"parent": [(1, 0.0), (2, float("nan")), (3, None), (4, 1e300), (1, 2.5)], "children": [
    {"id": "a/b/c0", "rows": [(1, 0.0), (2, float("nan")), (3, None)], "format": "parquet", "alias": False},
    {"id": "c1", "rows": [(1, -0.0), (4, 1e300)], "format": "delta", "alias": False},
    {"id": "a/c2", "rows": [(4, 1e300), (1, 2.5)], "format": "delta", "alias": True}]})
def test_apply_then_restore_is_bit_exact_and_deletes_only_true_containments(spark, lake):
    lh = Path(tempfile.mkdtemp(prefix="prop-")) / "lakehouse"
    root = lh / "demo" / "lake"
    _write(spark, root / "p", lake["parent"], "delta")
    rows = {"p": lake["parent"]}
    for c in lake["children"]:
        _write(spark, root / c["id"], c["rows"], c["format"])
        rows[c["id"]] = c["rows"]
        if c["alias"]:
            (root / "links").mkdir(exist_ok=True)
            (root / "links" / c["id"].replace("/", "_")).symlink_to(root / c["id"], target_is_directory=True)
    before = {t: journal.digest(root / t) for t in rows}
    costs = {t: {"access_per_month": 1e-6} for t in rows}
    job.run(spark, {"quality": {"enabled": False}, "params": {"costs": costs}}, lakehouse_root=str(lh))
    plan = {r["table_id"]: r for r in lakehouse.read_table(spark, TableRef(path=str(lh / "containment" / "plan"))).collect()}
    assert set(plan) == set(rows), "aliases are never tables of their own"
    deleted = {t: r["parent"] for t, r in plan.items() if r["action"] == "delete"}
    for child, parent in deleted.items():
        assert _contained(rows[child], rows[parent]), (child, parent, rows[child], rows[parent])
    assert not [c["id"] for c in lake["children"] if c["alias"] and c["id"] in deleted], "a link would dangle"
    if {c["id"] for c in lake["children"]} == {"a/b/c0", "c1", "a/c2"}:  # the designed example
        assert "a/b/c0" in deleted and "c1" not in deleted and "a/c2" not in deleted, plan
    moved = ops.apply(spark, str(lh / "containment" / "plan"), confirm=True)
    assert sorted(moved) == sorted(deleted)
    for t in moved:
        ops.restore(spark, str(root), t)
    assert {t: journal.digest(root / t) for t in rows} == before
    assert journal.pending(root) == []
