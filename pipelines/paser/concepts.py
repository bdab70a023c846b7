"""Concept-consistency filter and the sequential selection of PASER (§3.3–§3.4).

The concept consistency graph (CCG) holds the concepts (RAKE key phrases, :mod:`udfs.rake`) of the
samples selected so far as nodes, with an edge between two concepts that occurred in one selected
sample. A candidate is *inconsistent* when two of its concepts are both already nodes but not
connected: it would relate known concepts in a way no selected sample did (§3.4). It is rejected,
with that pair and the selected samples that brought each concept into the graph as its reason, and
its slot goes to the next candidate.

Scope (``params.concept_scope``): ``global`` (default) keeps one graph for the whole selection, as the
released code does (``select_samples`` builds one ``nx.Graph`` and walks the clusters in turn);
``cluster`` keeps one graph per cluster, so clusters can be selected in parallel. See docs/paser.md.
"""
from __future__ import annotations

from itertools import combinations
from typing import Hashable, Iterable

import numpy as np
import pandas as pd

from udfs.rake import extract_concepts

REASON_BUDGET_FILLED = "budget_filled"
REASON_CONFLICT = "concept_conflict"


class ConceptGraph:
    """An undirected graph of concepts: adjacency sets keyed by concept, and for each concept the
    selected sample that first brought it in (its *origin*, for the audit of a rejection)."""

    def __init__(self) -> None:
        self._adjacent: dict[str, set[str]] = {}
        self._origin: dict[str, Hashable] = {}

    def __contains__(self, concept: str) -> bool:
        return concept in self._adjacent

    def __len__(self) -> int:
        return len(self._adjacent)

    def connected(self, a: str, b: str) -> bool:
        return b in self._adjacent.get(a, ())

    def origin(self, concept: str):
        """The id of the selected sample that added ``concept`` to the graph (None if unknown)."""
        return self._origin.get(concept)

    def conflict(self, concepts: Iterable[str]) -> tuple[str, str] | None:
        """The first (sorted) pair of ``concepts`` that are both nodes but not adjacent, else None."""
        known = sorted({c for c in concepts if c in self._adjacent})
        for a, b in combinations(known, 2):
            if not self.connected(a, b):
                return a, b
        return None

    def connect(self, concepts: Iterable[str], sample_id: Hashable = None) -> None:
        """Add the concepts as nodes (new ones remember ``sample_id``) and connect every pair of them
        (a selected sample's clique)."""
        unique = sorted(set(concepts))
        for c in unique:
            if c not in self._adjacent:
                self._adjacent[c] = set()
                self._origin[c] = sample_id
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


def conflict_reason(pair: tuple[str, str], origins: tuple) -> str:
    """``concept_conflict: 'a' (from <id>) | 'b' (from <id>) are known but unconnected``."""
    (a, b), (ia, ib) = pair, origins
    return f"{REASON_CONFLICT}: '{a}' (from {ia!r}) | '{b}' (from {ib!r}) are known but unconnected"


class ClusterWalk:
    """One cluster's candidates in efficiency order (high first, ties by id), walked against a concept
    graph that is the cluster's own or shared with other clusters (``concept_scope``).

    ``advance(budget)`` tries candidates until ``budget`` are selected or none is left; it can be called
    again with a larger budget and goes on where it stopped (PASER's walk is greedy, so a larger budget
    extends the same selection).
    """

    def __init__(self, frame: pd.DataFrame, graph: ConceptGraph | None = None, *, max_concepts: int = 20,
                 max_words: int = 4) -> None:
        self.ordered = frame.assign(_neg=-frame["efficiency"].astype("float64")).sort_values(
            ["_neg", "id"], kind="mergesort").drop(columns="_neg").reset_index(drop=True)
        self._texts = sample_text(self.ordered).tolist()
        self._ids = self.ordered["id"].tolist()
        self.graph = graph if graph is not None else ConceptGraph()
        self._max_concepts, self._max_words = max_concepts, max_words
        n = len(self._ids)
        self.position = 0   # candidates tried
        self.taken = 0      # candidates selected
        self._selected = np.zeros(n, dtype=bool)
        self._reasons: list[str | None] = [None] * n
        self._concepts: list[list[str] | None] = [None] * n
        self._pairs: list[list[str] | None] = [None] * n
        self._with: list[list | None] = [None] * n

    @property
    def untried(self) -> int:
        return len(self._ids) - self.position

    def advance(self, budget: int) -> None:
        while self.taken < budget and self.position < len(self._ids):
            i = self.position
            self.position += 1
            concepts = extract_concepts(self._texts[i], max_concepts=self._max_concepts, max_words=self._max_words)
            self._concepts[i] = list(concepts)
            pair = self.graph.conflict(concepts)
            if pair is not None:
                origins = (self.graph.origin(pair[0]), self.graph.origin(pair[1]))
                self._reasons[i] = conflict_reason(pair, origins)
                self._pairs[i], self._with[i] = list(pair), list(origins)
                continue
            self.graph.connect(concepts, self._ids[i])
            self._selected[i] = True
            self.taken += 1

    def result(self) -> pd.DataFrame:
        """The cluster's rows with ``rank`` (1-based position in the walk), ``selected``, ``reason`` (None
        when selected; the conflict, or ``budget_filled`` for candidates never tried), ``concepts`` (of
        tried candidates), ``conflict_concepts`` and ``conflict_with`` (the pair and its origins)."""
        out = self.ordered.copy()
        n = len(out)
        tried = np.arange(n) < self.position
        out["rank"] = np.arange(1, n + 1, dtype=np.int64)
        out["selected"] = self._selected
        out["reason"] = pd.Series([r if t else REASON_BUDGET_FILLED for r, t in zip(self._reasons, tried)],
                                  index=out.index, dtype="object")
        out["concepts"] = pd.Series(self._concepts, index=out.index, dtype="object")
        out["conflict_concepts"] = pd.Series(self._pairs, index=out.index, dtype="object")
        out["conflict_with"] = pd.Series(self._with, index=out.index, dtype="object")
        return out


def select_in_cluster(frame: pd.DataFrame, budget: int, *, max_concepts: int = 20, max_words: int = 4) -> pd.DataFrame:
    """One cluster with its own graph, walked to ``budget`` (see :class:`ClusterWalk`)."""
    walk = ClusterWalk(frame, max_concepts=max_concepts, max_words=max_words)
    walk.advance(budget)
    return walk.result()


class AcceptedRanks:
    """A cluster walked in full with its own graph, seen through the ranks of the candidates it would
    accept: walked to budget b it has selected the first min(b, A) of them and tried every candidate up
    to the b-th (all when b > A). Lets the driver run :func:`pipelines.paser.budget.fill_budget` for
    ``concept_scope: cluster`` from one row per cluster while the walks ran on the executors."""

    def __init__(self, accepted_ranks: Iterable[int], size: int) -> None:
        self._ranks = sorted(int(r) for r in accepted_ranks)
        self.size = int(size)
        self.taken = 0
        self.position = 0

    @property
    def untried(self) -> int:
        return self.size - self.position

    def advance(self, budget: int) -> None:
        b = max(int(budget), self.taken)
        self.taken = min(b, len(self._ranks))
        self.position = self._ranks[b - 1] if 0 < b <= len(self._ranks) else (self.size if b > 0 else 0)
