"""The containment stage's transformation: profile -> graph -> min-max -> content -> verify -> plan -> recipes.

Pure: it receives a :class:`LakeSnapshot` built by the job (profiles read from Delta logs, Parquet
footers or one aggregate pass, and a mapping table id -> DataFrame at the profiled version) and
returns the four output DataFrames. The graph and plan work on profiles, a bounded summary of one
row per table; rows stay in Spark (only per-edge and per-table counts come back to the driver).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.containment import content, graph, minmax, verify
from pipelines.containment import plan as planning
from pipelines.containment import recipes as recipe_mod
from pipelines.containment.config import ContainmentParams
from pipelines.containment.graph import EDGES_DDL, Edge
from pipelines.containment.plan import PLAN_DDL, CostModel
from pipelines.containment.profile import PROFILE_DDL, TableProfile, profile_rows
from pipelines.containment.recipes import RECIPES_DDL
from pipelines.containment.rowhash import canonical_order, checksum_columns, format_checksum, hash_rows
from pipelines.containment.sampling import sample_size
from pipelines.containment.views import ViewCounts, interpreted
from pipelines.core.contract import STAGE_METRICS
from pipelines.core.stepclock import StepClock

SNAPSHOT_KEY = "lake_snapshot"
log = logging.getLogger("lakesieve.containment")


@dataclass
class LakeSnapshot:
    """What the job hands the transformation: the lake's profiles and its tables as DataFrames."""

    spark: Any
    lake_root: str
    profiles: list[TableProfile]
    tables: Mapping[str, DataFrame]                 # table id -> DataFrame at the profiled version (lazy)
    table_costs: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    seconds_profile: float = 0.0                    # scanning and profiling the lake (the job's loader)


@dataclass
class Findings:
    """Everything the search found, before it becomes DataFrames (also used by the benchmark)."""

    edges: list[Edge]
    graph_stats: graph.GraphStats
    minmax_pruned: int
    content_stats: content.ContentStats
    verify_rows_compared: int
    sample_rows: int
    seconds: dict = field(default_factory=dict)     # step -> wall seconds


def find_containments(snapshot: LakeSnapshot, params: ContainmentParams) -> Findings:
    """Steps 2-5 of R2D2: candidate edges, min-max pruning, content pruning, exact verification."""
    clock = StepClock()
    profiles = {p.table_id: p for p in snapshot.profiles}
    edges, gstats = graph.schema_candidates(snapshot.profiles)
    clock.lap("schema_graph")
    pruned = minmax.prune(edges, profiles, params.semantics)
    clock.lap("minmax")
    log.info("schema graph: %d edges; min-max pruned %d", len(edges), pruned)
    k = min(sample_size(params.miss_fraction, params.confidence), params.max_sample_rows)
    rows = {t: int(p.num_rows or 0) for t, p in profiles.items()}
    counted = ViewCounts(snapshot.spark, snapshot.tables, [e for e in edges if e.alive],
                         tables_per_job=params.tables_per_job)
    clock.lap("read_views")
    cstats = content.prune(edges, counted, rows, k)
    clock.lap("content")
    log.info("content pruning: pruned %d of %d", cstats.pruned, len(edges) - pruned)
    compared = verify.verify(edges, counted, params.semantics)
    clock.lap("verification")
    log.info("verification: %d verified", sum(e.reached == "verified" for e in edges))
    return Findings(edges, gstats, pruned, cstats, compared, k, clock.seconds)


def cost_model(params: ContainmentParams, table_costs: Mapping[str, Mapping[str, float]]) -> CostModel:
    merged = {t: dict(v) for t, v in params.costs.items()}
    for t, row in table_costs.items():
        merged.setdefault(t, {}).update({k: v for k, v in row.items() if v is not None})
    return CostModel(params.scan_rate_mb_per_s, params.storage_cost_per_gb_month, params.compute_cost_per_hour,
                     params.default_access_per_month, params.default_latency_limit_s, merged)


def _recipes_frame(snapshot: LakeSnapshot, params: ContainmentParams,
                   found: Mapping[str, recipe_mod.Recipe]) -> DataFrame:
    spark = snapshot.spark
    profiles = {p.table_id: p for p in snapshot.profiles}
    if not found:
        return spark.createDataFrame([], RECIPES_DDL)
    # every deleted child hashed once: its checksum and (for row-key recipes) its keys come from the same pass
    hashed = recipe_mod.union_all([
        hash_rows(snapshot.tables[t], canonical_order(r.columns)).withColumn("_table", F.lit(t))
        for t, r in sorted(found.items())]).localCheckpoint()
    sums = {r["_table"]: (int(r["rows"]), format_checksum(r["rows"], r["sum_high"], r["sum_low"]))
            for r in hashed.groupBy("_table").agg(*checksum_columns()).collect()}  # one row per table
    base = []
    for t, r in sorted(found.items()):
        child, parent = profiles[t], profiles[r.parent]
        schema = recipe_mod.schema_json(snapshot.tables[t])  # the child's own column order
        base.append((t, child.path, child.format, child.fingerprint, child.delta_version, r.parent, parent.path,
                     parent.format, parent.delta_version, parent.fingerprint, list(r.columns), list(r.parent_columns),
                     list(r.child_types), [(c["column"], c["child_type"], c["parent_type"]) for c in r.casts],
                     schema, list(child.partition_columns), r.kind, r.filter_predicate, None,
                     sums[t][0], sums[t][1], params.semantics))
    frame = spark.createDataFrame(base, RECIPES_DDL)
    keyed = [t for t, r in found.items() if r.kind == "row_keys"]
    if not keyed:
        return frame
    keys = hashed.where(F.col("_table").isin(keyed)).groupBy("_table", "row_hash").count()
    keys = keys.groupBy("_table").agg(F.sort_array(F.collect_list(F.struct(
        F.col("row_hash"), F.col("count").cast("bigint").alias("count")))).alias("_keys"))
    return (frame.join(keys, frame["table_id"] == keys["_table"], "left")
            .withColumn("row_keys", F.col("_keys")).drop("_table", "_keys").select(*frame.columns))


def transform(inputs: Mapping[str, Any], params: ContainmentParams) -> dict[str, DataFrame]:
    """The stage transformation (see the module docstring)."""
    snapshot: LakeSnapshot = inputs[SNAPSHOT_KEY]
    spark = snapshot.spark
    found = find_containments(snapshot, params)
    clock = StepClock()
    profiles = {p.table_id: p for p in snapshot.profiles}
    parents, children = graph.neighbour_counts(found.edges)
    profile_df = spark.createDataFrame(profile_rows(snapshot.profiles, parents, children), PROFILE_DDL)
    edges_df = spark.createDataFrame([e.row(params.semantics) for e in found.edges], EDGES_DDL)
    clock.lap("outputs")
    rows, solver = planning.plan(found.edges, profiles, cost_model(params, snapshot.table_costs),
                                 ilp_max_tables=params.ilp_max_tables, ilp_time_limit_s=params.ilp_time_limit_s,
                                 rules=planning.Rules(params.protect, params.prefer))
    clock.lap("plan")
    chosen = {r.table_id: r.parent for r in rows if r.action == "delete"}
    with interpreted(spark):  # unions over many tables: compiling one class per branch costs more than running it
        recipes = recipe_mod.choose_recipes(chosen, {e.key: e for e in found.edges}, profiles, snapshot.tables,
                                             params.semantics)
    # A recipe by row keys stores one key per distinct row: children above max_key_rows are kept.
    for r in rows:
        rec = recipes.get(r.table_id)
        if rec is not None and rec.kind == "row_keys" and int(profiles[r.table_id].num_rows or 0) > params.max_key_rows:
            del recipes[r.table_id]
            r.action, r.parent, r.net_saving_per_month = "keep", None, 0.0
            r.reason = f"kept: no filter reproduces it and it has more than max_key_rows={params.max_key_rows} rows"
    plan_df = spark.createDataFrame([r.row() for r in rows], PLAN_DDL)
    with interpreted(spark):
        recipes_df = _recipes_frame(snapshot, params, recipes).cache()  # built here so its time is its own
        recipes_df.count()
    clock.lap("recipes")
    seconds = {"profile": round(snapshot.seconds_profile, 3), **found.seconds, **clock.seconds}
    return {"profile": profile_df, "edges": edges_df, "plan": plan_df, "recipes": recipes_df,
            STAGE_METRICS: {f"seconds.{step}": s for step, s in seconds.items()}}
