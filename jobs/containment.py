"""``containment``: the stage's entry point and its loader (scanning and profiling the lake); its
contract is :mod:`pipelines.containment.stage` (docs/containment.md).

``lakesieve run containment`` writes ``profile``, ``edges``, ``plan`` and ``recipes``. It never
deletes anything: that is the explicit ``lakesieve containment apply --plan ... --confirm`` and
``lakesieve containment restore TABLE`` (:mod:`jobs.containment_apply`).
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from jobs.entry import entrypoints
from pipelines.containment.config import ContainmentParams
from pipelines.containment.pipeline import SNAPSHOT_KEY, LakeSnapshot
from pipelines.containment.stage import COSTS_COLUMNS
from pipelines.containment.stage import STAGE as DECLARED
from pipelines.core import lakehouse
from pipelines.core.contract import check_columns
from pipelines.core.errors import ConfigError


def load(spark, refs, params: ContainmentParams):
    """Scan and profile the lake (jobs.containment_lake); read the optional costs table."""
    from jobs.containment_lake import build_lake

    lake_ref = refs["lake"]
    if lake_ref.path is None:
        raise ConfigError("config key 'inputs.lake' must be a folder path (the lake root), not a catalog name")
    t0 = time.perf_counter()
    profiles, tables = build_lake(spark, lake_ref.path, params.tables, params.scan_lake,
                                 params.include, params.exclude, small_csv_in_driver=params.engine != "spark")
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
    snapshot = LakeSnapshot(spark, str(Path(lake_ref.path)), profiles, tables, table_costs,
                            seconds_profile=time.perf_counter() - t0, arrow=tables)
    return {SNAPSHOT_KEY: snapshot}, prints


STAGE = replace(DECLARED, load=load)
run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
