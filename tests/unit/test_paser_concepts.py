"""RAKE (Rose et al. 2010), the concept graph and the per-cluster selection (PASER §3.3–§3.4)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.paser.concepts import ConceptGraph, efficiency, select_in_cluster
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
    assert out.loc[3, "reason"].startswith("concept_conflict: 'chien' | 'translate cat'")
    assert out.loc[5, "reason"] == "budget_filled"
