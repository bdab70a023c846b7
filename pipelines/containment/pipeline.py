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

from pipelines.containment import content, graph, minmax, sparkhash, verify
from pipelines.containment import plan as planning
from pipelines.containment import recipes as recipe_mod
from pipelines.containment.config import ContainmentParams
from pipelines.containment.driver_views import DriverViews
from pipelines.containment.filters import count_trials
from pipelines.containment.graph import EDGES_DDL, Edge
from pipelines.containment.plan import PLAN_DDL, CostModel
from pipelines.containment.profile import PROFILE_DDL, TableProfile, profile_rows
from pipelines.containment.recipes import RECIPES_DDL
from pipelines.containment.rowhash import canonical_order, checksum_columns, format_checksum, hash_rows
from pipelines.containment.sampling import sample_size
from pipelines.containment.views import ViewCounts, interpreted
from pipelines.core.contract import STAGE_METRICS
from pipelines.core.errors import ConfigError
from pipelines.core.local_frames import held_arrow, local_frame
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
    arrow: Any = None                               # an ArrowSource (driver_views) over the same tables, or None


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
    engine: str = "spark"                           # where the views were counted (choose_engine)
    views: Any = None                               # the DriverViews (engine 'driver'): the children's Arrow rows
    rows_in_driver: int = 0                         # rows the driver engine read


def choose_engine(params: ContainmentParams, snapshot: "LakeSnapshot", live: list[Edge], rows: Mapping[str, int]) -> str:
    """'driver' or 'spark': where the views of the live edges are counted (``params.engine``; 'auto' picks the
    driver when the tables those edges need hold at most ``params.driver_max_rows`` rows in all)."""
    if params.engine != "auto":
        if params.engine == "driver" and snapshot.arrow is None:
            raise ConfigError("config key 'params.engine': 'driver' needs a lake the job can read as Arrow")
        return params.engine
    needed = {t for e in live for t in (e.parent, e.child)}
    if snapshot.arrow is None or sum(int(rows.get(t, 0)) for t in needed) > params.driver_max_rows:
        return "spark"
    return "driver"


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
    live = [e for e in edges if e.alive]
    engine = choose_engine(params, snapshot, live, rows)
    if engine == "driver":
        counted = DriverViews(snapshot.arrow, live)
    else:
        counted = ViewCounts(snapshot.spark, snapshot.tables, live, tables_per_job=params.tables_per_job)
    clock.lap("read_views")
    log.info("views counted on %s", engine)
    cstats = content.prune(edges, counted, rows, k)
    clock.lap("content")
    log.info("content pruning: pruned %d of %d", cstats.pruned, len(edges) - pruned)
    compared = verify.verify(edges, counted, params.semantics)
    clock.lap("verification")
    log.info("verification: %d verified", sum(e.reached == "verified" for e in edges))
    return Findings(edges, gstats, pruned, cstats, compared, k, clock.seconds, engine,
                    counted if engine == "driver" else None, getattr(counted, "rows_read", 0))


def cost_model(params: ContainmentParams, table_costs: Mapping[str, Mapping[str, float]]) -> CostModel:
    merged = {t: dict(v) for t, v in params.costs.items()}
    for t, row in table_costs.items():
        merged.setdefault(t, {}).update({k: v for k, v in row.items() if v is not None})
    return CostModel(params.scan_rate_mb_per_s, params.storage_cost_per_gb_month, params.compute_cost_per_hour,
                     params.default_access_per_month, params.default_latency_limit_s, merged)


def _schema_of(snapshot: LakeSnapshot, table: str):
    """``table``'s Spark schema: the one profiling found (no DataFrame built), else its DataFrame's."""
    known = getattr(snapshot.tables, "schema_of", None)
    return known(table) if known is not None else snapshot.tables[table].schema


def _recipes_frame(snapshot: LakeSnapshot, params: ContainmentParams,
                   found: Mapping[str, recipe_mod.Recipe], driver_data: Mapping[str, Any] | None = None) -> DataFrame:
    """One row per deleted child: its recipe, row count and checksum (and row keys for ``row_keys`` recipes).

    Every deleted child is hashed once; its checksum and (for row-key recipes) its keys come from the same
    pass: in the driver from the Arrow rows the driver engine holds (``driver_data``,
    :func:`pipelines.containment.sparkhash.checksums`, bit for bit Spark's hash), else in one Spark job."""
    spark = snapshot.spark
    profiles = {p.table_id: p for p in snapshot.profiles}
    if not found:
        return local_frame(spark, [], RECIPES_DDL, defer=True)
    keyed = [t for t, r in found.items() if r.kind == "row_keys"]
    row_keys: dict[str, list] = {}
    if driver_data is not None and all(t in driver_data for t in found):
        types = {t: {c.name: c.data_type for c in profiles[t].columns} for t in found}
        sums, row_keys = sparkhash.checksums(spark, {t: driver_data[t] for t in found},
                                             {t: canonical_order(r.columns) for t, r in found.items()}, types, keyed)
        hashed = None
    else:
        hashed = recipe_mod.union_all([
            hash_rows(snapshot.tables[t], canonical_order(r.columns)).withColumn("_table", F.lit(t))
            for t, r in sorted(found.items())]).localCheckpoint()
        sums = {r["_table"]: (int(r["rows"]), format_checksum(r["rows"], r["sum_high"], r["sum_low"]))
                for r in hashed.groupBy("_table").agg(*checksum_columns()).collect()}  # one row per table
    base = []
    for t, r in sorted(found.items()):
        child, parent = profiles[t], profiles[r.parent]
        schema = recipe_mod.schema_json(_schema_of(snapshot, t))
        base.append((t, child.path, child.format, child.fingerprint, child.delta_version, r.parent, parent.path,
                     parent.format, parent.delta_version, parent.fingerprint, list(r.columns), list(r.parent_columns),
                     list(r.child_types), [(c["column"], c["child_type"], c["parent_type"]) for c in r.casts],
                     schema, list(child.partition_columns), r.kind, r.filter_predicate, row_keys.get(t),
                     sums[t][0], sums[t][1], params.semantics))
    frame = local_frame(spark, base, RECIPES_DDL, defer=hashed is None)
    if not keyed or hashed is None:
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
    profile_df = local_frame(spark, profile_rows(snapshot.profiles, parents, children), PROFILE_DDL, defer=True)
    edges_df = local_frame(spark, [e.row(params.semantics) for e in found.edges], EDGES_DDL, defer=True)
    clock.lap("outputs")
    rows, solver = planning.plan(found.edges, profiles, cost_model(params, snapshot.table_costs),
                                 ilp_max_tables=params.ilp_max_tables, ilp_time_limit_s=params.ilp_time_limit_s,
                                 rules=planning.Rules(params.protect, params.prefer))
    clock.lap("plan")
    chosen = {r.table_id: r.parent for r in rows if r.action == "delete"}
    with interpreted(spark):  # unions over many tables: compiling one class per branch costs more than running it
        counter = (lambda trials: count_trials(snapshot.arrow, trials)) if found.engine == "driver" else None
        recipes = recipe_mod.choose_recipes(chosen, {e.key: e for e in found.edges}, profiles, snapshot.tables,
                                             params.semantics, counter)
    clock.lap("recipe_trials")
    # A recipe by row keys stores one key per distinct row: children above max_key_rows are kept.
    for r in rows:
        rec = recipes.get(r.table_id)
        if rec is not None and rec.kind == "row_keys" and int(profiles[r.table_id].num_rows or 0) > params.max_key_rows:
            del recipes[r.table_id]
            r.action, r.parent, r.net_saving_per_month = "keep", None, 0.0
            r.reason = f"kept: no filter reproduces it and it has more than max_key_rows={params.max_key_rows} rows"
    plan_df = local_frame(spark, [r.row() for r in rows], PLAN_DDL, defer=True)
    with interpreted(spark):
        recipes_df = _recipes_frame(snapshot, params, recipes, found.views.data if found.views else None)
        if held_arrow(recipes_df) is None:  # rows computed by Spark: once, before the write and the metrics
            recipes_df = recipes_df.cache()
            recipes_df.count()
    clock.lap("recipes")
    seconds = {"profile": round(snapshot.seconds_profile, 3), **found.seconds, **clock.seconds}
    return {"profile": profile_df, "edges": edges_df, "plan": plan_df, "recipes": recipes_df,
            STAGE_METRICS: {**{f"seconds.{step}": s for step, s in seconds.items()},
                            "views.engine_driver": int(found.engine == "driver"), "views.rows_in_driver": found.rows_in_driver,
                            **{f"views.tables_read_by_{k}": v
                               for k, v in (getattr(snapshot.arrow, "arrow_reads", None) or {}).items()}}}
