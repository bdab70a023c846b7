"""RAKE (Rose et al. 2010), the concept graph and the per-cluster selection (PASER §3.3–§3.4)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.paser.budget import fill_budget
from pipelines.paser.concepts import AcceptedRanks, ClusterWalk, ConceptGraph, efficiency, select_in_cluster
from udfs.rake import candidate_phrases, extract_concepts, rake_phrases


def test_rake_scores_match_the_paper_example():
    # The worked example of Rose et al. (2010), Table 1.2: deg/freq sums.
    text = ("Compatibility of systems of linear constraints over the set of natural numbers. Criteria of "
            "compatibility of a system of linear Diophantine equations, strict inequations, and nonstrict "
            "inequations are considered.")
    scores = dict(rake_phrases(text))
    assert scores["linear diophantine equations"] == 8.5
    assert scores["linear constraints"] == 4.5
    assert scores["natural numbers"] == 4.0
    assert scores["strict inequations"] == 4.0
    assert scores["compatibility"] == 1.0


def test_candidates_split_at_stopwords_numbers_and_punctuation():
    assert candidate_phrases("Add 12 and 7, then print the sum!") == [("add",), ("print",), ("sum",)]
    assert extract_concepts("Translate the word cat into French.") == ["word cat", "french", "translate"]


def test_concept_graph_conflict_needs_two_known_unconnected_concepts():
    g = ConceptGraph()
    g.connect(["cat", "french"])
    g.connect(["dog", "spanish"])
    assert g.conflict(["cat", "french", "new"]) is None      # known pair is connected
    assert g.conflict(["cat", "unknown"]) is None            # only one concept known
    assert g.conflict(["cat", "spanish"]) == ("cat", "spanish")
    assert g.connected("french", "cat") and not g.connected("cat", "dog")


def _cluster(rows):
    return pd.DataFrame(rows, columns=["id", "efficiency", "instruction", "input", "output"])


def test_efficiency_orders_by_jsd_over_log_tokens():
    eff = efficiency(np.array([0.2, 0.2, 0.1, 0.3]), np.array([10, 1000, 10, 1]), min_cost_tokens=2)
    assert np.allclose(eff, [0.2 / np.log(10), 0.2 / np.log(1000), 0.1 / np.log(10), 0.3 / np.log(2)])
    assert list(np.argsort(-eff)) == [3, 0, 2, 1]


def test_selection_follows_efficiency_then_id_within_budget():
    frame = _cluster([(4, 0.5, "alpha task", "", ""), (2, 0.9, "beta task", "", ""),
                      (3, 0.5, "gamma task", "", ""), (1, 0.1, "delta task", "", "")])
    out = select_in_cluster(frame, 2)
    assert list(out["id"]) == [2, 3, 4, 1]          # efficiency desc, tie 0.5 by id
    assert list(out["selected"]) == [True, True, False, False]
    assert list(out["reason"]) == [None, None, "budget_filled", "budget_filled"]
    assert list(out["rank"]) == [1, 2, 3, 4]


def test_concept_conflict_is_rejected_and_budget_refilled():
    frame = _cluster([
        (1, 0.9, "Translate cat", "", "chat"),         # concepts {translate cat, chat}
        (2, 0.8, "Describe dog", "", "chien"),         # {describe dog, chien}
        (3, 0.7, "Translate cat", "", "chien"),        # {translate cat, chien}: both known, unconnected
        (4, 0.6, "Describe dog", "", "chien"),         # same concepts as 2: consistent
        (5, 0.5, "Paint house", "", "maison"),         # new concepts
    ])
    out = select_in_cluster(frame, 3).set_index("id")
    assert list(out.index[out["selected"]]) == [1, 2, 4]
    assert out.loc[3, "reason"] == ("concept_conflict: 'chien' (from 2) | 'translate cat' (from 1) "
                                    "are known but unconnected")
    assert list(out.loc[3, "conflict_concepts"]) == ["chien", "translate cat"]
    assert list(out.loc[3, "conflict_with"]) == [2, 1]
    assert sorted(out.loc[3, "concepts"]) == ["chien", "translate cat"]
    assert out.loc[5, "reason"] == "budget_filled" and out.loc[5, "concepts"] is None


def _walks(frames, shared: bool):
    graph = ConceptGraph() if shared else None
    return {k: ClusterWalk(f, graph) for k, f in frames.items()}


def test_slots_lost_to_rejections_in_a_capped_cluster_go_to_the_others():
    # cluster 2 (3 candidates, capped at its size) loses one to a conflict: 'bateau' and 'paint house'
    # are known (from 21 and 22) but never in one selected sample. The lost slot goes by CDS share to
    # cluster 0 (CDS .12 beats .08); the total is the budget, 7.
    frames = {
        0: _cluster([(i, 0.5 - i / 100, f"Describe item{i}", "", f"answer{i}") for i in range(0, 5)]),
        1: _cluster([(i, 0.5 - i / 100, f"Describe item{i}", "", f"answer{i}") for i in range(10, 15)]),
        2: _cluster([(22, 0.9, "Paint house", "", "maison"), (21, 0.8, "Paint boat", "", "bateau"),
                     (20, 0.7, "Paint house", "", "bateau")]),
    }
    walks = _walks(frames, shared=True)
    final = fill_budget(walks, {0: 2, 1: 2, 2: 3}, {0: 0.12, 1: 0.08, 2: 0.6}, 7)
    assert final == {0: 3, 1: 2, 2: 3}
    assert [walks[k].taken for k in (0, 1, 2)] == [3, 2, 2]
    out = walks[2].result().set_index("id")
    assert out.loc[20, "reason"] == ("concept_conflict: 'bateau' (from 21) | 'paint house' (from 22) "
                                     "are known but unconnected")
    assert list(walks[0].result()["selected"]) == [True, True, True, False, False]


def test_budget_stays_short_only_when_every_candidate_was_tried():
    frames = {0: _cluster([(1, 0.9, "Paint house", "", "maison"), (2, 0.8, "Paint boat", "", "bateau"),
                           (3, 0.7, "Paint house", "", "bateau")])}
    walks = _walks(frames, shared=True)
    assert fill_budget(walks, {0: 3}, {0: 1.0}, 3) == {0: 3}
    assert walks[0].taken == 2 and walks[0].untried == 0


def test_one_graph_for_the_selection_catches_conflicts_across_clusters():
    # 'cat' and 'spanish' come in with cluster 0; cluster 1's sample relates them unlike any selected one
    frames = {0: _cluster([(1, 0.9, "cat", "", "french"), (2, 0.8, "dog", "", "spanish")]),
              1: _cluster([(3, 0.9, "cat", "", "spanish"), (4, 0.8, "bird", "", "german")])}
    shared = _walks(frames, shared=True)
    fill_budget(shared, {0: 2, 1: 1}, {0: 1.0, 1: 1.0}, 3)
    one = shared[1].result().set_index("id")
    assert one.loc[3, "reason"].startswith("concept_conflict: 'cat' (from 1) | 'spanish' (from 2)")
    assert bool(one.loc[4, "selected"])
    own = _walks(frames, shared=False)
    fill_budget(own, {0: 2, 1: 1}, {0: 1.0, 1: 1.0}, 3)
    assert list(own[1].result()["selected"]) == [True, False]  # per-cluster graphs: 3 is consistent


def test_refill_from_accepted_ranks_equals_walking_each_cluster():
    # concept_scope: cluster runs the refill on the driver from the full walks' accepted ranks
    rng = np.random.default_rng(3)
    words = ["cat", "dog", "french", "spanish", "house", "boat", "maison", "bateau"]
    for trial in range(30):
        frames = {}
        for k in range(3):
            n = int(rng.integers(1, 9))
            frames[k] = _cluster([(100 * k + i, float(rng.random()), str(rng.choice(words)), "",
                                   str(rng.choice(words))) for i in range(n)])
        sizes = {k: len(f) for k, f in frames.items()}
        total = int(rng.integers(1, sum(sizes.values()) + 1))
        cds = {k: float(rng.random()) for k in frames}
        from pipelines.paser.budget import allocate_budget
        initial = allocate_budget(cds, sizes, total)
        walks = _walks(frames, shared=False)
        expected = fill_budget(walks, initial, cds, total)
        ranks = {}
        for k, f in frames.items():
            full = ClusterWalk(f)
            full.advance(len(f))
            res = full.result()
            ranks[k] = AcceptedRanks(res.loc[res["selected"], "rank"], len(f))
        assert fill_budget(ranks, initial, cds, total) == expected, trial
        assert {k: r.position for k, r in ranks.items()} == {k: w.position for k, w in walks.items()}, trial
        assert {k: r.taken for k, r in ranks.items()} == {k: w.taken for k, w in walks.items()}, trial
