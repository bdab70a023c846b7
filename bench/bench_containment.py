"""Benchmark: R2D2 containment vs brute-force except-all on every schema-compatible pair.

Generates lakes of 50, 200 and 800 Parquet tables (written with pyarrow, no Spark) made of schema
families of 10 tables: 8 disjoint daily extracts, the union of the first two extracts, and a copy
of the first extract with one value changed. Within a family every pair is schema-compatible
(90 ordered pairs); 2 are true containments. Both methods run in the same Spark session on the same
lake; the brute force computes, for every schema-compatible pair, the exact bag difference
|C EXCEPT ALL P| (one grouped job per lake: every table's rows counted once, joined pair-wise).

Reported per size: pairs left after each R2D2 step, rows compared (parent rows hashed + sampled child
rows + rows of both sides of each verified pair; brute force: rows of both sides of every pair),
seconds per step, and whether both found the same containments.

    .venv/bin/python bench/bench_containment.py [--sizes 50,200,800] [--rows 40]
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FAMILY = 10


def write_lake(root: Path, tables: int, rows: int, seed: int = 0) -> None:
    """``tables`` Parquet tables in families of 10 (see the module docstring)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    for f in range((tables + FAMILY - 1) // FAMILY):
        names = {"id": f"id_{f}", "cat": f"cat_{f}", "x": f"x_{f}", "day": f"day_{f}"}

        def extract(i: int, names: dict = names) -> dict:
            return {names["id"]: np.arange(i * rows, (i + 1) * rows, dtype=np.int64),
                    names["cat"]: rng.choice(["a", "b", "c", "d"], rows),
                    names["x"]: np.round(rng.uniform(0, 100, rows), 2),
                    names["day"]: [dt.date(2024, 1, 1) + dt.timedelta(days=i * 10 + int(d))
                                   for d in rng.integers(0, 10, rows)]}

        parts = [extract(i) for i in range(8)]
        members = {f"fam{f:03d}/extract_{i}": p for i, p in enumerate(parts)}
        members[f"fam{f:03d}/union_0_1"] = {k: list(parts[0][k]) + list(parts[1][k]) for k in parts[0]}
        edited = {k: list(v) for k, v in parts[0].items()}
        edited[names["x"]][rows // 2] = round(edited[names["x"]][rows // 2] + 0.01, 2)
        members[f"fam{f:03d}/extract_0_edited"] = edited
        for i, (name, data) in enumerate(sorted(members.items())):
            if f * FAMILY + i >= tables:
                break
            path = root / name / "part-0.parquet"  # one folder per table, as Spark writes them
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(data), path)


def brute_force(spark, snapshot, pairs) -> tuple[set, int]:
    """Exact |C EXCEPT ALL P| for every pair: (contained pairs, rows compared)."""
    from pyspark.sql import functions as F

    from pipelines.containment.verify import encode_rows, project_cast

    # Every table's rows once, encoded in the columns of each projection a pair needs.
    needed: dict[tuple[str, tuple[str, ...]], tuple] = {}
    for e in pairs:
        needed.setdefault((e.child, e.columns), (e.columns, e.parent_columns, e.parent_types))
        needed.setdefault((e.parent, e.parent_columns), (e.parent_columns, e.parent_columns, e.parent_types))
    keys = sorted(needed)
    frames = []
    for i, (table, _) in enumerate(keys):
        cols, names, types = needed[(table, _)]
        rows = encode_rows(project_cast(snapshot.tables[table], cols, names, types), list(names))
        frames.append(rows.select(F.lit(i).alias("side"), "row"))
    union = frames[0]
    for fr in frames[1:]:
        union = union.unionByName(fr)
    counts = union.groupBy("side", "row").agg(F.count(F.lit(1)).alias("n"))
    index = {k: i for i, k in enumerate(keys)}
    pair_rows = [(j, index[(e.child, e.columns)], index[(e.parent, e.parent_columns)]) for j, e in enumerate(pairs)]
    pair_df = spark.createDataFrame(pair_rows, "pair int, c_side int, p_side int")
    c = counts.select(F.col("side").alias("c_side"), "row", F.col("n").alias("nc"))
    p = counts.select(F.col("side").alias("p_side"), "row", F.col("n").alias("np"))
    joined = pair_df.join(c, "c_side").join(p, ["p_side", "row"], "left")
    diff = joined.groupBy("pair").agg(F.sum(F.greatest(F.col("nc") - F.coalesce(F.col("np"), F.lit(0)), F.lit(0))).alias("missing"))
    missing = {r["pair"]: r["missing"] for r in diff.collect()}
    rows = {p.table_id: int(p.num_rows or 0) for p in snapshot.profiles}
    contained = {(pairs[j].parent, pairs[j].child) for j in range(len(pairs)) if missing.get(j, 0) == 0}
    compared = sum(rows[e.child] + rows[e.parent] for e in pairs)
    return contained, compared


def run_size(spark, tables: int, rows: int, workdir: Path) -> dict:
    from jobs.containment_lake import build_lake
    from pipelines.containment import content, graph, minmax, verify
    from pipelines.containment.config import ContainmentParams
    from pipelines.containment.pipeline import LakeSnapshot
    from pipelines.containment.sampling import sample_size
    from pipelines.containment.views import ViewCounts

    root = workdir / f"lake{tables}"
    write_lake(root, tables, rows)
    params = ContainmentParams()
    t0 = time.time()
    profiles, lake_tables = build_lake(spark, str(root), (), True)
    t_profile = time.time() - t0
    snapshot = LakeSnapshot(spark, str(root), profiles, lake_tables)
    by_id = {p.table_id: p for p in profiles}
    row_counts = {t: int(p.num_rows or 0) for t, p in by_id.items()}
    t0 = time.time()
    edges, gstats = graph.schema_candidates(profiles)
    t_graph = time.time() - t0
    t0 = time.time()
    minmax.prune(edges, by_id, params.semantics)
    after_minmax = sum(e.alive for e in edges)
    t_minmax = time.time() - t0
    t0 = time.time()
    counted = ViewCounts(spark, lake_tables, [e for e in edges if e.alive])
    cstats = content.prune(edges, counted, row_counts, sample_size(params.miss_fraction, params.confidence))
    after_content = sum(e.alive for e in edges)
    t_content = time.time() - t0
    t0 = time.time()
    verify_rows = verify.verify(edges, counted, params.semantics)
    t_verify = time.time() - t0
    found = {e.key for e in edges if e.reached == "verified"}
    pairs, _ = graph.schema_candidates(profiles)  # every schema-compatible pair, fresh
    t0 = time.time()
    brute, brute_rows = brute_force(spark, snapshot, pairs)
    t_brute = time.time() - t0
    r2d2_rows = cstats.parent_rows_hashed + cstats.sample_rows + verify_rows
    return {
        "tables": tables, "pairs_all": tables * (tables - 1), "schema_pairs": len(edges),
        "after_minmax": after_minmax, "after_content": after_content, "verified": len(found),
        "identical": found == brute, "r2d2_rows": r2d2_rows, "brute_rows": brute_rows,
        "t_profile": t_profile, "t_graph": t_graph, "t_minmax": t_minmax, "t_content": t_content,
        "t_verify": t_verify, "t_r2d2": t_graph + t_minmax + t_content + t_verify, "t_brute": t_brute,
        "posting_lookups": gstats.posting_lookups,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,200,800")
    parser.add_argument("--rows", type=int, default=40, help="rows per daily extract")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "containment.md"))
    args = parser.parse_args(argv)
    os.environ.setdefault("LAKESIEVE_PROGRESS", "false")
    os.environ.setdefault("LAKESIEVE_SHUFFLE_PARTITIONS", "4")
    from pipelines.core.session import get_spark

    spark = get_spark("bench-containment")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_containment_") as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            r = run_size(spark, n, args.rows, Path(tmp))
            results.append(r)
            print({k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
            write_report(results, args)  # after each size, so a long run keeps what it finished
    return 0 if all(r["identical"] for r in results) else 1


def write_report(results: list[dict], args) -> None:
    """Write the figures table to ``args.out``."""
    lines = [
        "# containment benchmark: R2D2 vs brute-force except-all",
        "",
        f"Command: `.venv/bin/python bench/bench_containment.py --sizes {args.sizes} --rows {args.rows}` "
        f"(local Spark, {os.cpu_count()} cores shared with other jobs; ratios are within one run).",
        "",
        "Lake: Parquet tables in schema families of 10 (8 disjoint daily extracts, the union of two, an edited copy);",
        "brute force: exact `C EXCEPT ALL P` (bag) on every schema-compatible pair, in one grouped job.",
        "",
        "| tables | all pairs | schema pairs | after min-max | after content | verified | same result | rows compared R2D2 | rows compared brute | rows ratio | R2D2 s (graph+minmax+content+verify) | brute s | time ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['tables']} | {r['pairs_all']} | {r['schema_pairs']} | {r['after_minmax']} | {r['after_content']} | "
            f"{r['verified']} | {'yes' if r['identical'] else 'NO'} | {r['r2d2_rows']} | {r['brute_rows']} | "
            f"{r['brute_rows'] / max(r['r2d2_rows'], 1):.1f}x | {r['t_r2d2']:.1f} ({r['t_graph']:.2f}+{r['t_minmax']:.2f}+"
            f"{r['t_content']:.1f}+{r['t_verify']:.1f}) | {r['t_brute']:.1f} | {r['t_brute'] / max(r['t_r2d2'], 1e-9):.2f}x |")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        scale = math.log(b["tables"] / a["tables"])
        lines += ["", f"Growth from {a['tables']} to {b['tables']} tables (exponent of n; 2 = quadratic): "
                      f"all pairs {math.log(b['pairs_all'] / a['pairs_all']) / scale:.2f}, "
                      f"R2D2 rows compared {math.log(b['r2d2_rows'] / a['r2d2_rows']) / scale:.2f}, "
                      f"R2D2 time {math.log(b['t_r2d2'] / a['t_r2d2']) / scale:.2f}, "
                      f"schema-graph posting lookups {math.log(b['posting_lookups'] / a['posting_lookups']) / scale:.2f}."]
    lines += ["", "Profiling (Parquet footers; Spark only for columns without statistics) seconds: " +
              ", ".join(f"{r['tables']}: {r['t_profile']:.1f}" for r in results), ""]
    Path(args.out).write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
