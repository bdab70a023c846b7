"""``ContainmentParams``: the containment stage's config, defaults from R2D2 (Shah et al., SIGMOD 2024)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.core.config import param
from pipelines.core.errors import ConfigError

COST_KEYS = ("access_per_month", "latency_limit_s", "storage_cost_per_gb_month")


@dataclass(frozen=True)
class ContainmentParams:
    """Parameters of the containment stage. Each field's ``doc`` says where its default comes from."""

    tables: tuple[str, ...] = param(
        (), doc="extra table references (paths under the lake root or catalog names) profiled with the "
                "tables found by scanning the lake root; empty: scan only")
    scan_lake: bool = param(True, doc="scan the lake root (input 'lake') for Delta / Parquet / CSV tables")
    include: tuple[str, ...] = param(
        (), doc="globs over table ids (paths under the lake root, e.g. 'sales/*'); when given, only matching "
                "tables are profiled, the rest are listed as skipped")
    exclude: tuple[str, ...] = param(
        (), doc="globs over table ids never profiled (listed as skipped with the glob that matched)")
    protect: tuple[str, ...] = param(
        (), doc="globs over table ids the plan never deletes (they may still be parents)")
    prefer: tuple[str, ...] = param(
        (), doc="which of two equal copies to keep, most preferred first: a format ('delta', 'parquet', 'csv', "
                "'catalog') or a glob over table ids (e.g. ['delta', 'raw/*']); a preferred table is never "
                "deleted in favour of an equal, less preferred one. Empty: the cheaper plan decides")
    semantics: Literal["bag", "set"] = param(
        "bag", doc="bag: multiplicities count (R2D2 §3 containment on multisets; only bag containment "
                   "lets a deleted table be rebuilt exactly, so it is the default); set: distinct rows")
    miss_fraction: float = param(
        0.01, doc="content pruning (R2D2 §4.3): the smallest fraction f of a child's distinct rows, absent "
                  "from the parent, that sampling must catch", minimum=0.0, maximum=1.0, exclusive_minimum=True)
    confidence: float = param(
        0.99, doc="content pruning: probability that a sample of k rows hits at least one missing row "
                  "when a fraction miss_fraction is missing, 1-(1-f)^k >= confidence", minimum=0.0,
        maximum=0.999999, exclusive_minimum=True)
    max_sample_rows: int = param(
        10_000, doc="upper bound on the content-pruning sample per child (bounds driver-side sample size)",
        minimum=1)
    tables_per_job: int = param(
        200, doc="tables read together by one aggregation of the views content pruning and verification compare "
                 "(each table is scanned once for all its edges; this bounds the size of one Spark plan)", minimum=1)
    engine: Literal["auto", "spark", "driver"] = param(
        "auto", doc="where content pruning and verification count the views: 'driver' reads each table the live "
                    "edges need once as Arrow into the driver process and counts with polars "
                    "(pipelines/containment/driver_views.py; no Spark job per table); 'spark' aggregates them on the "
                    "executors; 'auto': the driver when those tables hold at most driver_max_rows rows in all")
    driver_max_rows: int = param(
        2_000_000, doc="engine 'auto': the most rows (summed over the tables the live edges need) counted in the "
                       "driver; the driver holds them in memory (about 100 bytes a row and column at most)",
        minimum=0)
    ilp_max_tables: int = param(
        400, doc="solve the deletion plan exactly (ILP, PuLP's CBC; R2D2 §5) when at most this many tables "
                 "are deletion candidates, greedily above", minimum=0)
    ilp_time_limit_s: int = param(60, doc="time limit handed to CBC; the incumbent is used after it", minimum=1)
    scan_rate_mb_per_s: float = param(
        100.0, doc="rebuild scan rate used to estimate a rebuild's latency from the parent's size "
                   "(R2D2 §5 latency constraint; 100 MB/s is one executor reading Parquet from object storage)",
        minimum=0.0, exclusive_minimum=True)
    storage_cost_per_gb_month: float = param(
        0.023, doc="storage price per GB-month (AWS S3 Standard list price), unless a table's cost row says otherwise",
        minimum=0.0)
    compute_cost_per_hour: float = param(
        0.50, doc="price of one compute hour used for rebuilds (one small cluster node)", minimum=0.0)
    default_access_per_month: float = param(
        1.0, doc="expected rebuilds per month of a deleted table without a cost row (R2D2 §5 access frequency)",
        minimum=0.0)
    default_latency_limit_s: float = param(
        600.0, doc="rebuild-latency limit of a table without a cost row, in seconds (R2D2 §5)", minimum=0.0,
        exclusive_minimum=True)
    costs: dict[str, dict[str, float]] = param(
        default_factory=dict, doc="per-table cost rows from YAML: {table_id: {access_per_month, latency_limit_s, "
                                  "storage_cost_per_gb_month}}; the optional input 'costs' (a small table) overrides")
    max_key_rows: int = param(
        1_000_000, doc="largest child a recipe may describe by row keys (row hashes with counts) when no filter "
                       "predicate reproduces it; larger children are kept", minimum=0)

    def __post_init__(self) -> None:
        for table, row in self.costs.items():
            for key, value in row.items():
                if key not in COST_KEYS:
                    raise ConfigError(f"unknown config key 'params.costs.{table}.{key}'; allowed: {', '.join(COST_KEYS)}")
                if value < 0:
                    raise ConfigError(f"config key 'params.costs.{table}.{key}': {value} must be >= 0")
