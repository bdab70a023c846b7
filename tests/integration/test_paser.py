"""The paser stage on real Delta tables with designed clusters, scores and a crafted concept conflict.

Design (eligible rows only): clusters A (ids 0-9, CDS .12), B (ids 10-19, CDS .08), C (ids 20-22,
CDS .6); budget_count = 12. Hand-computed budgets: shares 12·(.12, .08, .6)/.8 = 1.8, 1.2, 9 -> C
is capped at its size 3; the 9 left split .12 : .08 = 5.4, 3.6 -> 5, 3 + the remainder to B -> 4.
In B, id 17 ("Translate cat" -> "chien") links two concepts already in the graph but never linked
(from ids 19 and 18): it is rejected and the budget is refilled by ids 16 and 15. In C (capped at its
size), id 20 ("Paint house" -> "bateau") relates concepts of 22 and 21: rejected, so C selects 2 of
3 and its lost slot goes to A and B by CDS share, .12 : .08 -> A, which selects id 4 too: 12 in all.
Ids 30-32 cannot take part: no score, blank instruction, no embedding.
"""
from __future__ import annotations

import numpy as np
import pytest

from jobs import paser as paser_job
from jobs.cli import main as cli_main
from pipelines.core import lakehouse
from pipelines.core.errors import ConfigError, DataError, SchemaContractError
from pipelines.core.tables import TableRef

pytestmark = pytest.mark.spark

A, B, C = list(range(0, 10)), list(range(10, 20)), [20, 21, 22]
CRAFTED = {19: ("Translate cat", "chat"), 18: ("Describe dog", "chien"), 17: ("Translate cat", "chien"),
           22: ("Paint house", "maison"), 21: ("Paint boat", "bateau"), 20: ("Paint house", "bateau")}
CHOSEN = [4, 5, 6, 7, 8, 9, 15, 16, 18, 19, 21, 22]


def _jsd(i: int) -> float:
    if i in A:
        return 0.12 + (i - 4.5) * 0.01
    if i in B:
        return 0.08 + (i - 14.5) * 0.005
    return {20: 0.5, 21: 0.6, 22: 0.7}[i]


def _write(spark, root, name, rows, schema):
    lakehouse.write_table(spark.createDataFrame(rows, schema).coalesce(1), TableRef.parse(name, root), "setup")


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("paser_lake"))
    instr = []
    for i in A + B + C:
        ins, out = CRAFTED.get(i, (f"Describe item{i}", f"answer{i}"))
        instr.append((i, ins, "", out))
    instr += [(30, "Describe item30", "", "answer30"), (31, "   ", "", "x"), (32, "Describe item32", "", "answer32")]
    _write(spark, root, "in/instructions", instr, "id long, instruction string, input string, output string")
    scores = [(i, _jsd(i), 20) for i in A + B + C] + [(31, 0.1, 20), (32, 0.1, 20)]
    _write(spark, root, "in/scores", scores, "id long, jsd double, tokens long")
    rng = np.random.default_rng(0)
    emb = []
    for i in A + B + C + [30, 31]:
        axis = 0 if i in A else 1 if i in B else 2
        v = np.zeros(8)
        v[axis] = 1.0
        emb.append((i, [float(x) for x in v + 0.02 * rng.normal(size=8)]))
    _write(spark, root, "in/embeddings", emb, "id long, vector array<float>")
    return root


def _config(**params):
    base = {"budget_count": 12, "budget_fraction": None, "knn_neighbors": 4, "min_clusters": 2, "max_clusters": 6}
    base.update(params)
    return {"inputs": {"instructions": "in/instructions", "scores": "in/scores", "embeddings": "in/embeddings"},
            "params": base}


@pytest.fixture(scope="module")
def first_run(spark, lake):
    result = paser_job.run(spark, _config(), lakehouse_root=lake)
    clusters = lakehouse.read_table(spark, TableRef.parse("paser/clusters", lake)).toPandas()
    selected = lakehouse.read_table(spark, TableRef.parse("paser/selected", lake)).toPandas().set_index("id")
    return result, clusters, selected


def _cluster_of(selected, ids):
    found = set(selected.loc[ids, "cluster"])
    assert len(found) == 1, f"ids {ids} are split over clusters {found}"
    return found.pop()


def test_clusters_budgets_follow_the_formula_with_cap(first_run):
    result, clusters, selected = first_run
    assert result.status == "success" and result.quality_failures == []
    by = clusters.set_index("cluster")
    a, b, c = (_cluster_of(selected, ids) for ids in (A, B, C))
    assert len({a, b, c}) == 3 and len(by) == 3
    assert [int(by.loc[k, "size"]) for k in (a, b, c)] == [10, 10, 3]
    assert [int(by.loc[k, "budget"]) for k in (a, b, c)] == [5, 4, 3]
    assert by.loc[a, "cds"] == pytest.approx(0.12) and by.loc[c, "cds"] == pytest.approx(0.6)
    assert [int(by.loc[k, "reallocated"]) for k in (a, b, c)] == [1, 0, 0]
    assert [int(by.loc[k, "selected"]) for k in (a, b, c)] == [6, 4, 2]
    assert [int(by.loc[k, "rejected"]) for k in (a, b, c)] == [0, 1, 1]
    assert [int(by.loc[k, "untried"]) for k in (a, b, c)] == [4, 5, 0]
    assert [int(by.loc[k, "shortfall"]) for k in (a, b, c)] == [0, 0, 1]
    assert by["budget_met"].all()
    assert result.metrics["budget_total"] == 12 and result.metrics["selected_count"] == 12
    assert result.metrics["clusters_budget_met"] == 3 and result.metrics["budget_reallocated"] == 1
    assert result.metrics["decided.concept_scope"] == "global" and result.metrics["decided.num_clusters"] == 3


def test_selection_is_efficiency_ordered_with_conflict_refilled(first_run):
    _, _, selected = first_run
    chosen = sorted(selected.index[selected["selected"]])
    assert chosen == CHOSEN
    assert selected.loc[17, "reason"] == ("concept_conflict: 'chien' (from 18) | 'translate cat' (from 19) "
                                          "are known but unconnected")
    assert list(selected.loc[17, "conflict_concepts"]) == ["chien", "translate cat"]
    assert list(selected.loc[17, "conflict_with"]) == [18, 19]
    assert sorted(selected.loc[17, "concepts"]) == ["chien", "translate cat"]
    assert list(selected.loc[20, "conflict_with"]) == [21, 22]
    assert list(selected.loc[[9, 8, 7, 6, 5, 4, 3], "rank"]) == [1, 2, 3, 4, 5, 6, 7]
    assert selected.loc[3, "reason"] == "budget_filled" and selected.loc[3, "concepts"] is None
    assert selected.loc[9, "efficiency"] == pytest.approx(_jsd(9) / np.log(20))


def test_one_graph_per_cluster_selects_the_same_here(spark, lake, first_run):
    # the designed conflicts are inside clusters, so concept_scope: cluster (walked on the executors,
    # refilled on the driver from the accepted ranks) gives the same selection and the same audit
    result = paser_job.run(spark, _config(concept_scope="cluster"), lakehouse_root=lake)
    assert result.status == "success" and result.quality_failures == []
    selected = lakehouse.read_table(spark, TableRef.parse("paser/selected", lake)).toPandas().set_index("id")
    assert sorted(selected.index[selected["selected"]]) == CHOSEN
    assert list(selected.loc[20, "conflict_with"]) == [21, 22]
    assert selected.loc[3, "reason"] == "budget_filled" and selected.loc[3, "concepts"] is None
    assert result.metrics["budget_reallocated"] == 1 and result.metrics["decided.concept_scope"] == "cluster"


def test_rows_that_cannot_take_part_keep_their_reason(first_run):
    _, _, selected = first_run
    assert len(selected) == 26  # every input row once
    assert selected.loc[30, "reason"] == "missing_score"
    assert selected.loc[31, "reason"] == "empty_instruction"
    assert selected.loc[32, "reason"] == "missing_embedding"
    assert not selected.loc[[30, 31, 32], "selected"].any()


def test_bad_inputs_and_config_fail_with_named_errors(spark, lake):
    _write(spark, lake, "in/dup_scores", [(1, 0.1, 5), (1, 0.2, 5)], "id long, jsd double, tokens long")
    cfg = _config()
    cfg["inputs"]["scores"] = "in/dup_scores"
    with pytest.raises(DataError, match=r"table 'scores' column 'id' has duplicate values, e\.g\. 1 \(x2\)"):
        paser_job.run(spark, cfg, lakehouse_root=lake)
    _write(spark, lake, "in/no_jsd", [(1, 5)], "id long, tokens long")
    cfg["inputs"]["scores"] = "in/no_jsd"
    with pytest.raises(SchemaContractError, match="no column 'jsd'"):
        paser_job.run(spark, cfg, lakehouse_root=lake)
    with pytest.raises(ConfigError, match="budget_count.*budget_fraction"):
        paser_job.run(spark, {"params": {"budget_fraction": None}}, lakehouse_root=lake)
    assert cli_main(["run", "paser", "--lakehouse", lake, "--set", "min_clusters=9", "--set", "max_clusters=3"]) == 2
