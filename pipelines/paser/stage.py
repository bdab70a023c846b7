"""The ``paser`` stage's whole contract: PASER data selection for recovering a pruned LLM (He et al. 2025).

Reads the instructions, the per-sample scores of ``paser-score`` and optionally an embeddings table
(id, vector). See docs/paser.md; ``jobs/paser.py`` is only the entry point.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

from pyspark.sql import functions as F

from pipelines.core.contract import STAGE_METRICS, Column
from pipelines.core.report_items import ReportContext, per_key_bars
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.paser.config import PaserParams
from pipelines.paser.score_stage import INSTRUCTIONS
from pipelines.paser.transform import transform as paser_transform

VIOLATIONS_DDL = "cluster int, rule string, detail string"


def requested_budget(params: PaserParams, num_samples: int) -> int:
    """B as the config asks for it (PASER §3.3: a count, or a fraction of the valid samples), at most N."""
    if params.budget_count is not None:
        return max(0, min(int(params.budget_count), num_samples))
    return max(0, min(int(math.floor(float(params.budget_fraction) * num_samples + 1e-9)), num_samples))


def budget_rule_violations(clusters: Iterable[Mapping], total_budget: int) -> list[tuple]:
    """The clusters whose written budget breaks PASER's allocation rule (§3.3, Eq. 5: n_k ∝ CDS_k, capped
    at the cluster's size, the excess shared among the others), checked from the table alone and
    independently of the allocator: ``[(cluster, rule, detail), ...]``, empty when every rule holds.

    Rules, with U the clusters below their size, R = Σ_U n_k and W = Σ_U CDS_k (sizes when W = 0):
    Σ n_k = min(B, Σ size); 0 ≤ n_k ≤ size_k; in U, |n_k − R·w_k/W| < 1 (largest remainder rounds a
    share down or up); a cluster filled to its size would have had at least about its size at the final
    rate, w_k·(R + c)/W ≥ size_k − 1 with c the number of filled clusters (each filling round can lower
    the rate by at most one sample per filled cluster).
    """
    rows = [{"cluster": int(r["cluster"]), "size": int(r["size"]), "cds": float(r["cds"]), "budget": int(r["budget"])}
            for r in clusters]
    out: list[tuple] = []
    total_size = sum(r["size"] for r in rows)
    expected_total = min(int(total_budget), total_size)
    if sum(r["budget"] for r in rows) != expected_total:
        out.append((-1, "total", f"sum of budgets {sum(r['budget'] for r in rows)} != min(B, N) = {expected_total}"))
    for r in rows:
        if not 0 <= r["budget"] <= r["size"]:
            out.append((r["cluster"], "bounds", f"budget {r['budget']} outside [0, size {r['size']}]"))
    below = [r for r in rows if r["budget"] < r["size"]]
    filled = [r for r in rows if r["budget"] == r["size"] and r["size"] > 0]
    if not below:
        return out
    remaining = sum(r["budget"] for r in below)
    by_cds = sum(r["cds"] for r in below) > 0
    weight = (lambda r: r["cds"]) if by_cds else (lambda r: float(r["size"]))
    total_weight = sum(weight(r) for r in below)
    for r in below:
        share = remaining * weight(r) / total_weight if total_weight > 0 else 0.0
        if abs(r["budget"] - share) >= 1.0 - 1e-9:
            out.append((r["cluster"], "proportional", f"budget {r['budget']} vs share {share:.3f} of {remaining}"))
    if by_cds:
        for r in filled:
            reach = r["cds"] * (remaining + len(filled)) / total_weight
            if reach < r["size"] - 1 - 1e-9:
                out.append((r["cluster"], "filled", f"filled to size {r['size']} but its share is only {reach:.3f}"))
    return out


def budget_fill_violations(clusters: Iterable[Mapping], total_budget: int) -> list[tuple]:
    """The refill rule (``pipelines.paser.budget.fill_budget``) checked from the written table: fewer than
    min(B, N) selected only when no candidate was left untried; no cluster selects more than its
    budget plus what was handed to it; nothing is handed over while the budgets are met."""
    rows = list(clusters)
    out: list[tuple] = []
    selected = sum(int(r["selected"]) for r in rows)
    wanted = min(int(total_budget), sum(int(r["size"]) for r in rows))
    untried = sum(int(r["untried"]) for r in rows)
    if selected < wanted and untried > 0:
        out.append((-1, "filled", f"{selected} of a budget of {wanted} selected while {untried} candidates "
                                  "were never tried"))
    if selected > wanted:
        out.append((-1, "filled", f"{selected} selected, more than the budget {wanted}"))
    for r in rows:
        if int(r["selected"]) > int(r["budget"]) + int(r["reallocated"]):
            out.append((int(r["cluster"]), "filled", f"selected {r['selected']} > budget {r['budget']} + "
                                                     f"reallocated {r['reallocated']}"))
    return out


def _violations_table(params: PaserParams, clusters_df):
    rows = clusters_df.select("cluster", "size", "cds", "budget", "reallocated", "selected", "untried").collect()
    total = requested_budget(params, sum(int(r["size"]) for r in rows))  # one row per cluster (bounded)
    found = budget_rule_violations(rows, total) + budget_fill_violations(rows, total)
    return clusters_df.sparkSession.createDataFrame(found, VIOLATIONS_DDL)


def metrics(params: PaserParams, outputs):
    clusters = outputs["clusters"].agg(
        F.count(F.lit(1)).alias("n"), F.sum("size").alias("size"), F.sum("rejected").alias("rejected"),
        F.sum(F.col("budget_met").cast("long")).alias("met"), F.sum("reallocated").alias("reallocated")).first()
    picked = outputs["selected"].agg(F.sum(F.col("selected").cast("long")).alias("n")).first()["n"] or 0
    return {
        "num_clusters": int(clusters["n"] or 0),
        "budget_total": requested_budget(params, int(clusters["size"] or 0)),
        "selected_count": int(picked),
        "concept_rejections": int(clusters["rejected"] or 0),
        "clusters_budget_met": int(clusters["met"] or 0),
        "budget_reallocated": int(clusters["reallocated"] or 0),
    }


def expectations(params, outputs, metrics_):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    suites = {"selected": [gxe.ExpectColumnValuesToBeUnique(column="id"),
                           gxe.ExpectColumnValuesToNotBeNull(column="selected")]}
    if metrics_.get("num_clusters", 0):
        suites["clusters"] = [
            gxe.ExpectColumnValuesToBeUnique(column="cluster"),
            gxe.ExpectColumnValuesToBeBetween(column="shortfall", min_value=0),
            # selected = budget unless the cluster ran out of consistent candidates
            gxe.ExpectColumnValuesToBeInSet(column="budget_met", value_set=[True]),
        ]
        # budgets follow PASER's rule and the refill fills B while candidates remain, re-checked from the
        # written table: no cluster may break either
        suites["clusters.budget_rule_violations"] = (_violations_table(params, outputs["clusters"]),
                                                     [gxe.ExpectTableRowCountToEqual(value=0)])
    return suites


def report(outputs, context: ReportContext) -> list:
    import polars as pl

    clusters = outputs["clusters"]
    return [per_key_bars(clusters, "cluster", pl.col("budget").sum(), "Budget per cluster (samples)", "cluster", "budget",
                         order_by_value=False),
            per_key_bars(clusters, "cluster", pl.col("cds").max(), "Capability-degradation score (CDS) per cluster",
                         "cluster", "CDS", order_by_value=False)]


def transform(inputs, params: PaserParams) -> dict:
    """The two outputs, and what was decided (K and how, B, the concept scope) as run metrics."""
    result = paser_transform(inputs, params)
    return {"clusters": result.clusters, "selected": result.selected,
            STAGE_METRICS: {f"decided.{k}": v for k, v in result.info.items()}}


STAGE = Stage(
    name="paser", params_cls=PaserParams,
    description="PASER selection: spectral clusters, CDS budgets, efficiency order, concept consistency",
    inputs={
        "instructions": INSTRUCTIONS,
        "scores": InputSpec(columns=(Column("id", "id"), Column("jsd", "numeric"), Column("tokens", "integer")),
                            default="paser-score/scores", doc="paser-score output: id, jsd, tokens"),
        "embeddings": InputSpec(columns=(Column("id", "id"), Column("vector", "vector")), optional=True,
                                doc="precomputed instruction embeddings (id, vector); absent: all-MiniLM-L6-v2 here"),
    },
    outputs=(
        Output("clusters", (Column("cluster", "integer"), Column("size", "integer"), Column("cds", "float"),
                            Column("budget", "integer"), Column("reallocated", "integer"),
                            Column("selected", "integer"), Column("rejected", "integer"), Column("untried", "integer"),
                            Column("shortfall", "integer"), Column("budget_met", "boolean")),
               "one row per cluster: size, CDS, budget (CDS share), slots reallocated to it, selected, concept "
               "rejections, candidates never tried, shortfall"),
        Output("selected", (Column("id", "id"), Column("cluster", "integer"), Column("jsd", "float"),
                            Column("tokens", "integer"), Column("efficiency", "float"), Column("rank", "integer"),
                            Column("selected", "boolean"), Column("reason", "string"), Column("concepts", "array"),
                            Column("conflict_concepts", "array"), Column("conflict_with", "array")),
               "every input row: cluster, jsd, tokens, efficiency, rank, selected, the reason it was not, its "
               "concepts, and for a concept rejection the pair and the selected samples that brought them in"),
    ),
    transform=transform, metrics=metrics, expectations=expectations, report=report,
)
