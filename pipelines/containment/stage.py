"""The ``containment`` stage's whole contract: R2D2 dataset containment across a lake (Shah et al.,
SIGMOD 2024), a deletion plan and rebuild recipes.

The input ``lake`` is a folder scanned for Delta / Parquet / CSV tables (plus ``params.tables``);
scanning and profiling it is storage work, so the stage's ``load`` is bound in ``jobs/containment.py``.
The stage never deletes anything: that is the explicit ``lakesieve containment apply --plan ... --confirm``
and ``lakesieve containment restore TABLE`` (:mod:`jobs.containment_apply`). See docs/containment.md.
"""
from __future__ import annotations

from pyspark.sql import functions as F

from pipelines.containment.config import ContainmentParams
from pipelines.containment.pipeline import transform
from pipelines.core.contract import Column
from pipelines.core.local_frames import held_arrow
from pipelines.core.report_items import MAX_EDGES, Graph, ReportContext, Table, top_rows
from pipelines.core.stage import InputSpec, Output, Stage

COSTS_COLUMNS = (Column("table_id", "string"), Column("access_per_month", "numeric"),
                 Column("latency_limit_s", "numeric"))
CURRENCY = "USD"  # the unit of every price in ContainmentParams (AWS list prices)
LARGEST_CONTAINED = 5


_METRIC_OUTPUTS = ("profile", "edges", "plan")


def metrics(params: ContainmentParams, outputs) -> dict:
    """How many pairs each step removed, what was verified, what the plan saves: counted with polars where the
    driver holds the outputs as written (:func:`_held_counts`), else by Spark (:func:`_spark_counts`); the same
    numbers (tests/integration/test_containment.py computes both on one run's outputs)."""
    held = {n: held_arrow(outputs[n]) for n in _METRIC_OUTPUTS}
    c = _held_counts(held) if all(t is not None for t in held.values()) else _spark_counts(outputs)
    ok = c["ok"]
    return {
        "tables": c["tables"], "tables_skipped": c["tables"] - ok,
        "pairs.all": ok * (ok - 1), "pairs.schema_candidates": c["schema"],
        "pairs.removed_by_schema": ok * (ok - 1) - c["schema"],
        "pairs.removed_by_minmax": c["minmax"], "pairs.removed_by_content": c["content"],
        "pairs.removed_by_verification": c["verification"], "pairs.verified": c["verified"],
        "pairs.equal": c["equal"], "plan.deletions": c["deletions"],
        "plan.bytes_saved": c["bytes"], "plan.saving_per_month": c["saving"],
    }


def _held_counts(tables) -> dict:
    """:func:`_spark_counts` with polars on the outputs' Arrow rows (no Spark job)."""
    import polars as pl

    prof = pl.from_arrow(tables["profile"].select(["status"]))
    edges = pl.from_arrow(tables["edges"].select(["pruned_by", "reached", "relation"]))
    plan = pl.from_arrow(tables["plan"].select(["action", "size_bytes", "net_saving_per_month"]))
    pruned = pl.col("pruned_by").fill_null("")
    e = edges.select(pl.len().alias("schema"), pruned.str.starts_with("minmax").sum().alias("minmax"),
                     pruned.str.starts_with("content").sum().alias("content"),
                     pruned.str.starts_with("verification").sum().alias("verification"),
                     (pl.col("reached") == "verified").sum().alias("verified"),
                     (pl.col("relation") == "equal").sum().alias("equal")).row(0, named=True)
    deleted = plan.filter(pl.col("action") == "delete")
    return {"tables": prof.height, "ok": int((prof["status"] == "ok").sum()),
            **{k: int(v or 0) for k, v in e.items()}, "deletions": deleted.height,
            "bytes": int(deleted["size_bytes"].sum() or 0), "saving": float(deleted["net_saving_per_month"].sum() or 0.0)}


def _spark_counts(outputs) -> dict:
    """The metrics' counts by Spark: one aggregate per output."""
    prof = outputs["profile"].agg(
        F.count(F.lit(1)).alias("tables"), F.sum(F.when(F.col("status") == "ok", 1).otherwise(0)).alias("ok")).first()
    e = outputs["edges"].agg(
        F.count(F.lit(1)).alias("schema"),
        F.sum(F.when(F.col("pruned_by").startswith("minmax"), 1).otherwise(0)).alias("minmax"),
        F.sum(F.when(F.col("pruned_by").startswith("content"), 1).otherwise(0)).alias("content"),
        F.sum(F.when(F.col("pruned_by").startswith("verification"), 1).otherwise(0)).alias("verification"),
        F.sum(F.when(F.col("reached") == "verified", 1).otherwise(0)).alias("verified"),
        F.sum(F.when(F.col("relation") == "equal", 1).otherwise(0)).alias("equal")).first()
    p = outputs["plan"].where(F.col("action") == "delete").agg(
        F.count(F.lit(1)).alias("n"), F.sum("size_bytes").alias("bytes"),
        F.sum("net_saving_per_month").alias("saving")).first()
    return {"tables": int(prof["tables"]), "ok": int(prof["ok"] or 0),
            **{k: int(e[k] or 0) for k in ("schema", "minmax", "content", "verification", "verified", "equal")},
            "deletions": int(p["n"] or 0), "bytes": int(p["bytes"] or 0), "saving": float(p["saving"] or 0.0)}


def expectations(params: ContainmentParams, outputs, metrics_):
    from pipelines.core.quality import gx_expectations, where_equal

    gxe = gx_expectations()
    # every planned deletion has a recipe and every recipe is for a planned deletion (ids unique below)
    unmatched = _unmatched(outputs["plan"], outputs["recipes"])
    return {
        "profile": [gxe.ExpectColumnValuesToBeUnique(column="table_id"),
                    gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "skipped"]),
                    gxe.ExpectColumnValuesToNotBeNull(column="reason", row_condition=where_equal("status", "skipped"))],
        "edges": [gxe.ExpectColumnValuesToBeInSet(column="reached", value_set=["schema", "minmax", "content", "verified"]),
                  gxe.ExpectColumnValuesToNotBeNull(column="relation", row_condition=where_equal("reached", "verified"))],
        "plan": [gxe.ExpectColumnValuesToBeUnique(column="table_id"),
                 gxe.ExpectColumnValuesToBeInSet(column="action", value_set=["keep", "delete"]),
                 gxe.ExpectColumnValuesToNotBeNull(column="parent", row_condition=where_equal("action", "delete"))],
        "recipes": [gxe.ExpectColumnValuesToBeUnique(column="table_id"),
                    gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["projection", "filter", "row_keys"]),
                    gxe.ExpectColumnValuesToNotBeNull(column="checksum")],
        "recipes.unmatched_deletions": (unmatched, [gxe.ExpectTableRowCountToEqual(value=0)]),
    }


def _unmatched(plan, recipes):
    """Planned deletions without a recipe and recipes without a planned deletion (expected: none): pandas where
    the driver holds both outputs' rows, else a Spark frame."""
    held_plan, held_recipes = held_arrow(plan), held_arrow(recipes)
    if held_plan is None or held_recipes is None:
        deleted = plan.where(F.col("action") == "delete").select("table_id")
        ids = recipes.select("table_id")
        return deleted.join(ids, "table_id", "left_anti").unionByName(ids.join(deleted, "table_id", "left_anti"))
    import pandas as pd

    frame = held_plan.select(["table_id", "action"]).to_pandas()
    deleted = set(frame.loc[frame["action"] == "delete", "table_id"])
    ids = set(held_recipes.column("table_id").to_pylist())
    return pd.DataFrame({"table_id": sorted(deleted ^ ids)}, dtype=object)


def report(outputs, context: ReportContext) -> list:
    """The surviving containment graph, the planned savings and deletions, the largest contained tables."""
    import polars as pl

    plan, edges, profile = outputs["plan"], outputs["edges"], outputs["profile"]
    deleted = plan.filter(pl.col("action") == "delete")
    m = context.metrics  # metrics() aggregated the plan's deletions when the run ended: no second pass
    actions = {r["table_id"]: r["action"]
               for r in plan.select("table_id", "action").head(MAX_EDGES * 2).collect().rows(named=True)}
    alive = edges.filter(pl.col("pruned_by").is_null())
    rows = alive.select("parent", "child").sort("parent", "child").head(MAX_EDGES + 1).collect().rows(named=True)
    pairs = [(r["parent"], r["child"]) for r in rows[:MAX_EDGES]]
    candidates = context.metrics.get("pairs.schema_candidates", "?")
    graph = Graph("Containment graph (parent -> contained child)", {n: actions.get(n, "keep") for p in pairs for n in p},
                  pairs, f"{len(pairs)} containment edge(s) survive pruning out of {candidates} schema candidates"
                  + (f"; first {MAX_EDGES} drawn" if len(rows) > MAX_EDGES else ""))
    savings = Table("Planned savings", ["tables to delete", "storage freed", "net saving per month"],
                    [[m.get("plan.deletions"), m.get("plan.bytes_saved"), m.get("plan.saving_per_month")]],
                    units={"storage freed": "bytes", "net saving per month": "money"}, currency=CURRENCY)
    deletions = top_rows(deleted.select("table_id", "parent", "size_bytes", "net_saving_per_month", "reason"),
                         "Planned deletions", ["table_id"],
                         units={"size_bytes": "bytes", "net_saving_per_month": "money"}, currency=CURRENCY)
    sizes = profile.select(pl.col("table_id").alias("child"), "size_bytes", "num_rows")
    largest = top_rows(edges.filter(pl.col("reached") == "verified").join(sizes, on="child")
                       .select("child", "parent", "relation", "num_rows", "size_bytes"),
                       "Largest contained tables (verified)", ["size_bytes", "child", "parent"],
                       descending=[True, False, False], limit=LARGEST_CONTAINED, units={"size_bytes": "bytes"})
    return [graph, savings, largest, deletions]


STAGE = Stage(
    name="containment",
    params_cls=ContainmentParams,
    description="R2D2: find tables contained in other tables, plan deletions, write rebuild recipes",
    inputs={
        "lake": InputSpec(default="demo/lake", doc="the lake root folder scanned for Delta / Parquet / CSV tables"),
        "costs": InputSpec(columns=COSTS_COLUMNS, optional=True,
                           doc="optional small table of per-table access_per_month and latency_limit_s"),
    },
    outputs=(
        Output("profile", (
            Column("table_id", "string"), Column("path", "string"), Column("format", "string"),
            Column("delta_version", "integer"), Column("fingerprint", "string"), Column("status", "string"),
            Column("reason", "string"), Column("num_rows", "integer"), Column("size_bytes", "integer"),
            Column("num_columns", "integer"), Column("partition_columns", "array"), Column("stats_source", "string"),
            Column("columns", "array"), Column("schema_parents", "integer"), Column("schema_children", "integer")),
            "one row per table: schema, rows, size, column stats, status and skip reason"),
        Output("edges", (
            Column("parent", "string"), Column("child", "string"), Column("columns", "array"),
            Column("parent_columns", "array"), Column("casts", "array"), Column("reached", "string"),
            Column("pruned_by", "string"), Column("detail", "string"), Column("semantics", "string"),
            Column("sample_rows", "integer"), Column("rows_child_not_in_parent", "integer"),
            Column("rows_parent_not_in_child", "integer"), Column("relation", "string")),
            "every schema-containment candidate parent -> child, the step it reached and the rule that pruned it"),
        Output("plan", (
            Column("table_id", "string"), Column("action", "string"), Column("parent", "string"),
            Column("reason", "string"), Column("size_bytes", "integer"), Column("storage_cost_per_month", "float"),
            Column("rebuild_cost_per_month", "float"), Column("net_saving_per_month", "float"),
            Column("rebuild_latency_s", "float"), Column("latency_limit_s", "float"),
            Column("access_per_month", "float"), Column("solver", "string")),
            "keep or delete for each table, the rebuild parent and the costs (USD)"),
        Output("recipes", (
            Column("table_id", "string"), Column("path", "string"), Column("format", "string"),
            Column("child_fingerprint", "string"), Column("child_version", "integer"), Column("parent", "string"),
            Column("parent_path", "string"), Column("parent_format", "string"), Column("parent_version", "integer"),
            Column("parent_fingerprint", "string"), Column("columns", "array"), Column("parent_columns", "array"),
            Column("child_types", "array"), Column("casts", "array"), Column("child_schema", "string"),
            Column("partition_columns", "array"), Column("kind", "string"), Column("filter_predicate", "string"),
            Column("row_keys", "array"), Column("row_count", "integer"), Column("checksum", "string"),
            Column("semantics", "string")),
            "how to rebuild each planned deletion from its parent, with its checksum"),
    ),
    transform=transform, metrics=metrics, expectations=expectations, report=report,
)
