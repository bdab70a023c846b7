"""``paser``: PASER data selection for recovering a pruned LLM (He et al. 2025).

    lakesieve run paser --config jobs/configs/paser.yaml
    spark-submit jobs/paser.py --config jobs/configs/paser.yaml

Reads the instructions, the per-sample scores of ``paser-score`` and optionally an embeddings table
(id, vector); writes ``clusters`` (cluster, size, cds, budget, selected, rejected, shortfall,
budget_met) and ``selected`` (every input row: id, cluster, jsd, tokens, efficiency, rank,
selected, reason).
"""
from __future__ import annotations

from pipelines.core.contract import Column
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.paser.config import PaserParams
from pipelines.paser.transform import paser_select
from jobs.runner import entrypoints


def _transform(inputs, params: PaserParams):
    out = paser_select(inputs["instructions"], inputs["scores"], inputs.get("embeddings"), params)
    return {"clusters": out["clusters"], "selected": out["selected"]}


def _metrics(params: PaserParams, outputs):
    """Counts, and the budget formula re-checked on the written clusters table (quality uses both)."""
    from pyspark.sql import functions as F

    from pipelines.paser.budget import allocate_budget, resolve_total_budget

    rows = outputs["clusters"].select("cluster", "size", "cds", "budget", "selected", "rejected", "budget_met").collect()
    sizes = {r["cluster"]: int(r["size"]) for r in rows}
    total = resolve_total_budget(params.budget_count, params.budget_fraction, sum(sizes.values()))
    expected = allocate_budget({r["cluster"]: float(r["cds"]) for r in rows}, sizes, total)
    picked = outputs["selected"].agg(F.sum(F.col("selected").cast("long")).alias("n")).first()["n"] or 0
    return {
        "num_clusters": len(rows),
        "budget_total": total,
        "selected_count": int(picked),
        "concept_rejections": int(sum(r["rejected"] for r in rows)),
        "clusters_matching_budget_formula": sum(1 for r in rows if int(r["budget"]) == expected[r["cluster"]]),
        "clusters_budget_met": sum(1 for r in rows if r["budget_met"]),
    }


def _expectations(params, outputs, metrics):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    n_clusters = metrics.get("num_clusters", 0)
    return {
        "selected": [gxe.ExpectColumnValuesToBeUnique(column="id"),
                     gxe.ExpectColumnValuesToNotBeNull(column="selected")],
        "clusters": [
            gxe.ExpectColumnValuesToBeUnique(column="cluster"),
            gxe.ExpectColumnValuesToBeBetween(column="shortfall", min_value=0),
            # selected = budget unless the cluster ran out of consistent candidates
            gxe.ExpectColumnValuesToBeInSet(column="budget_met", value_set=[True]),
            # budgets follow n_k = floor(B·CDS_k/ΣCDS) + largest remainders, capped (re-computed in metrics)
            gxe.ExpectTableRowCountToEqual(value=metrics.get("clusters_matching_budget_formula", -1)),
            gxe.ExpectColumnSumToBeBetween(column="budget", min_value=metrics.get("budget_total", 0),
                                           max_value=metrics.get("budget_total", 0)),
        ] if n_clusters else [],
    }


STAGE = Stage(
    name="paser", params_cls=PaserParams,
    description="PASER selection: spectral clusters, CDS budgets, efficiency order, concept consistency",
    inputs={
        "instructions": InputSpec(columns=(Column("id", "id"), Column("instruction", "string"),
                                           Column("output", "string")),
                                  default="demo/instructions/instructions",
                                  doc="instruction data: id, instruction, output and optionally input"),
        "scores": InputSpec(columns=(Column("id", "id"), Column("jsd", "numeric"), Column("tokens", "integer")),
                            default="paser-score/scores", doc="paser-score output: id, jsd, tokens"),
        "embeddings": InputSpec(columns=(Column("id", "id"), Column("vector", "vector")), optional=True,
                                doc="precomputed instruction embeddings (id, vector); absent: all-MiniLM-L6-v2 here"),
    },
    outputs=(Output("clusters", "one row per cluster: size, CDS, budget, selected, rejected, shortfall"),
             Output("selected", "every input row: cluster, jsd, tokens, efficiency, rank, selected, reason")),
    transform=_transform, metrics=_metrics, expectations=_expectations,
)

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
