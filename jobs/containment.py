"""The ``containment`` stage: R2D2 dataset containment across a lake, a deletion plan and recipes.

``lakesieve run containment`` profiles every table of the lake (input ``lake``: a folder scanned
for Delta / Parquet / CSV tables, plus ``params.tables``), finds the contained tables, and writes
``profile``, ``edges``, ``plan`` and ``recipes``. It never deletes anything: that is the explicit
``lakesieve containment apply --plan ... --confirm`` and ``lakesieve containment restore TABLE``
(see :mod:`jobs.containment_apply`).
"""
from __future__ import annotations

from pathlib import Path

from pipelines.containment.config import ContainmentParams
from pipelines.containment.pipeline import SNAPSHOT_KEY, LakeSnapshot, transform
from pipelines.core import lakehouse
from pipelines.core.contract import Column, check_columns
from pipelines.core.stage import InputSpec, Output, Stage

from jobs.runner import entrypoints

COSTS_COLUMNS = (Column("table_id", "string"), Column("access_per_month", "numeric"),
                 Column("latency_limit_s", "numeric"))


def load(spark, refs, params: ContainmentParams):
    """Scan and profile the lake (jobs.containment_lake); read the optional costs table."""
    from jobs.containment_lake import build_lake

    lake_ref = refs["lake"]
    if lake_ref.path is None:
        from pipelines.core.errors import ConfigError

        raise ConfigError("config key 'inputs.lake' must be a folder path (the lake root), not a catalog name")
    profiles, tables = build_lake(spark, lake_ref.path, params.tables, params.scan_lake)
    prints = {f"table:{p.table_id}": p.fingerprint or p.status for p in profiles}
    table_costs = {}
    costs_ref = refs.get("costs")
    if costs_ref is not None and lakehouse.table_exists(spark, costs_ref):
        df = lakehouse.read_table(spark, costs_ref)
        check_columns(df, COSTS_COLUMNS, costs_ref.label)
        for row in df.select(*[c.name for c in COSTS_COLUMNS]).limit(100_000).collect():  # small cost table
            table_costs[row["table_id"]] = {"access_per_month": row["access_per_month"],
                                            "latency_limit_s": row["latency_limit_s"]}
        prints["costs"] = lakehouse.input_fingerprint(spark, costs_ref)
    snapshot = LakeSnapshot(spark, str(Path(lake_ref.path)), profiles, tables, table_costs)
    return {SNAPSHOT_KEY: snapshot}, prints


def metrics(params: ContainmentParams, outputs) -> dict:
    """How many pairs each step removed, what was verified, what the plan saves."""
    from pyspark.sql import functions as F

    prof = outputs["profile"].groupBy().agg(
        F.count(F.lit(1)).alias("tables"), F.sum(F.when(F.col("status") == "ok", 1).otherwise(0)).alias("ok")).collect()[0]
    ok = int(prof["ok"] or 0)
    e = outputs["edges"].groupBy().agg(
        F.count(F.lit(1)).alias("schema"),
        F.sum(F.when(F.col("pruned_by").startswith("minmax"), 1).otherwise(0)).alias("minmax"),
        F.sum(F.when(F.col("pruned_by").startswith("content"), 1).otherwise(0)).alias("content"),
        F.sum(F.when(F.col("pruned_by").startswith("verification"), 1).otherwise(0)).alias("verification"),
        F.sum(F.when(F.col("reached") == "verified", 1).otherwise(0)).alias("verified"),
        F.sum(F.when(F.col("relation") == "equal", 1).otherwise(0)).alias("equal")).collect()[0]
    p = outputs["plan"].where(F.col("action") == "delete").groupBy().agg(
        F.count(F.lit(1)).alias("n"), F.sum("size_bytes").alias("bytes"),
        F.sum("net_saving_per_month").alias("saving")).collect()[0]
    return {
        "tables": int(prof["tables"]), "tables_skipped": int(prof["tables"]) - ok,
        "pairs.all": ok * (ok - 1), "pairs.schema_candidates": int(e["schema"] or 0),
        "pairs.removed_by_schema": ok * (ok - 1) - int(e["schema"] or 0),
        "pairs.removed_by_minmax": int(e["minmax"] or 0), "pairs.removed_by_content": int(e["content"] or 0),
        "pairs.removed_by_verification": int(e["verification"] or 0), "pairs.verified": int(e["verified"] or 0),
        "pairs.equal": int(e["equal"] or 0), "plan.deletions": int(p["n"] or 0),
        "plan.bytes_saved": int(p["bytes"] or 0), "plan.saving_per_month": float(p["saving"] or 0.0),
    }


def expectations(params: ContainmentParams, outputs, metrics_):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    return {
        "profile": [gxe.ExpectColumnValuesToBeUnique(column="table_id"),
                    gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "skipped"]),
                    gxe.ExpectColumnValuesToNotBeNull(column="reason", row_condition='status=="skipped"',
                                                      condition_parser="spark")],
        "edges": [gxe.ExpectColumnValuesToBeInSet(column="reached", value_set=["schema", "minmax", "content", "verified"]),
                  gxe.ExpectColumnValuesToNotBeNull(column="relation", row_condition='reached=="verified"',
                                                    condition_parser="spark")],
        "plan": [gxe.ExpectColumnValuesToBeUnique(column="table_id"),
                 gxe.ExpectColumnValuesToBeInSet(column="action", value_set=["keep", "delete"])],
        "recipes": [gxe.ExpectTableRowCountToEqual(value=int(metrics_.get("plan.deletions", 0))),
                    gxe.ExpectColumnValuesToBeUnique(column="table_id"),
                    gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["projection", "filter", "row_keys"]),
                    gxe.ExpectColumnValuesToNotBeNull(column="checksum")],
    }


def register_commands(subparsers) -> None:
    from jobs.containment_apply import register

    register(subparsers)


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
        Output("profile", "one row per table: schema, rows, size, column stats, status and skip reason"),
        Output("edges", "every schema-containment candidate P -> C, the step it reached and the rule that pruned it"),
        Output("plan", "keep or delete for each table, the rebuild parent and the costs"),
        Output("recipes", "how to rebuild each planned deletion from its parent, with checksum"),
    ),
    transform=transform, load=load, metrics=metrics, expectations=expectations,
    register_commands=register_commands,
)

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
