"""Concept-consistency filter and the sequential selection inside one cluster (PASER §3.3–§3.4).

The concept consistency graph (CCG) holds the concepts (RAKE key phrases, :mod:`udfs.rake`) of the
samples selected so far as nodes, with an edge between two concepts that occurred in one selected
sample. A candidate is *inconsistent* when two of its concepts are both already nodes but not
connected: it would relate known concepts in a way no selected sample did (§3.4). It is rejected
with that pair as its reason and the cluster's budget is refilled by the next candidate.

Scope: one graph per cluster (the paper keeps one graph for the whole selection). Each cluster is
processed on an executor (``groupBy(cluster).applyInPandas``) in a deterministic order, so the
result does not depend on partitioning and no state is held on the driver; conflicts between
samples of different clusters are not checked. See docs/paser.md.
"""
from __future__ import annotations

from itertools import combinations
from typing import Iterable

import numpy as np
import pandas as pd

from udfs.rake import extract_concepts

REASON_BUDGET_FILLED = "budget_filled"
REASON_CONFLICT = "concept_conflict"


class ConceptGraph:
    """An undirected graph of concepts: adjacency sets keyed by concept."""

    def __init__(self) -> None:
        self._adjacent: dict[str, set[str]] = {}

    def __contains__(self, concept: str) -> bool:
        return concept in self._adjacent

    def __len__(self) -> int:
        return len(self._adjacent)

    def connected(self, a: str, b: str) -> bool:
        return b in self._adjacent.get(a, ())

    def conflict(self, concepts: Iterable[str]) -> tuple[str, str] | None:
        """The first (sorted) pair of ``concepts`` that are both nodes but not adjacent, else None."""
        known = sorted({c for c in concepts if c in self._adjacent})
        for a, b in combinations(known, 2):
            if not self.connected(a, b):
                return a, b
        return None

    def connect(self, concepts: Iterable[str]) -> None:
        """Add the concepts as nodes and connect every pair of them (a selected sample's clique)."""
        unique = sorted(set(concepts))
        for c in unique:
            self._adjacent.setdefault(c, set())
        for a, b in combinations(unique, 2):
            self._adjacent[a].add(b)
            self._adjacent[b].add(a)


def efficiency(jsd: np.ndarray, tokens: np.ndarray, min_cost_tokens: int = 2) -> np.ndarray:
    """Individual efficiency JSD / log(cost) (§3.3, Eq. 6), cost = prompt + output tokens.

    The paper's code uses (tokens + characters)²; log(c²) = 2·log(c) orders samples the same way, so
    only the unit mix-up is corrected here. The cost is floored at ``min_cost_tokens`` (>= 2) so that
    log(cost) > 0.
    """
    cost = np.maximum(np.asarray(tokens, dtype=np.float64), float(min_cost_tokens))
    return np.asarray(jsd, dtype=np.float64) / np.log(cost)


def sample_text(frame: pd.DataFrame) -> pd.Series:
    """instruction + input + output, the text concepts are extracted from (§3.4)."""
    parts = [frame[c].fillna("").astype(str) if c in frame else "" for c in ("instruction", "input", "output")]
    return parts[0] + "\n" + parts[1] + "\n" + parts[2]  # a line break ends a RAKE phrase


def select_in_cluster(frame: pd.DataFrame, budget: int, *, max_concepts: int = 20, max_words: int = 4) -> pd.DataFrame:
    """Walk one cluster's candidates by efficiency (high first, ties by id) and select up to ``budget``.

    ``frame`` has ``id``, ``efficiency`` and the text columns. Returns ``frame`` with ``rank`` (1-based
    position in that order), ``selected`` and ``reason`` (None when selected; ``concept_conflict: 'a' |
    'b'`` or ``budget_filled`` otherwise).
    """
    ordered = frame.assign(_neg=-frame["efficiency"].astype("float64")).sort_values(
        ["_neg", "id"], kind="mergesort").drop(columns="_neg").reset_index(drop=True)
    texts = sample_text(ordered)
    graph = ConceptGraph()
    selected = np.zeros(len(ordered), dtype=bool)
    reasons: list[str | None] = [None] * len(ordered)
    taken = 0
    for i, text in enumerate(texts):
        if taken >= budget:
            reasons[i] = REASON_BUDGET_FILLED
            continue
        concepts = extract_concepts(text, max_concepts=max_concepts, max_words=max_words)
        pair = graph.conflict(concepts)
        if pair is not None:
            reasons[i] = f"{REASON_CONFLICT}: '{pair[0]}' | '{pair[1]}' are known but unconnected"
            continue
        graph.connect(concepts)
        selected[i] = True
        taken += 1
    ordered["rank"] = np.arange(1, len(ordered) + 1, dtype=np.int64)
    ordered["selected"] = selected
    ordered["reason"] = pd.Series(reasons, index=ordered.index, dtype="object")
    return ordered
