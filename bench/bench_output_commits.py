"""Output commits by delta-rs (small local outputs) against Spark's Delta writer, side by side in one process.

Each stage runs on the demo's data through ``jobs.runner.run`` (what `lakesieve run` does after the JVM starts),
alternating LAKESIEVE_OUTPUT_DRIVER_MAX_BYTES=0 (Spark's writer commits every output) and the default (small
outputs by delta-rs), ``--rounds`` times each after one warm-up run of each; the table shows the median seconds of
the whole run and of its output writes (``seconds.run.write_*``: the lazy part of the transformation included).

    .venv/bin/python bench/bench_output_commits.py --rounds 2
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LAKESIEVE_PROGRESS", "false")


def _one(spark, stage, root: str, driver_max: str | None) -> tuple[float, float, int]:
    from jobs import registry, runner

    if driver_max is None:
        os.environ.pop("LAKESIEVE_OUTPUT_DRIVER_MAX_BYTES", None)
    else:
        os.environ["LAKESIEVE_OUTPUT_DRIVER_MAX_BYTES"] = driver_max
    t0 = time.perf_counter()
    config = registry.config_path(registry.entry(stage.name))  # the demo's config (embed: its random weights)
    result = runner.run(spark, stage, config, lakehouse_root=root, force=True)
    total = time.perf_counter() - t0
    writes = sum(v for k, v in result.metrics.items() if k.startswith("seconds.run.write_"))
    by_rs = sum("delta-rs" in (Path(root) / stage.name / out.name / "_delta_log" / f"{v:020d}.json").read_text()
                for out, v in ((o, result.output_versions[o.name]) for o in stage.outputs))
    return total, writes, by_rs


def main() -> None:
    from jobs import demo, registry
    from pipelines.core.session import get_spark

    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", default="containment,minhash,embed,cluster,semdedup")  # in the order of their inputs
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    spark = get_spark("bench-output-commits")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_output_commits_") as tmp:
        root = str(Path(tmp) / "lakehouse")
        demo.write_all(spark, root)
        for name in args.stages.split(","):
            stage = registry.load_stage(name)
            runs: dict[str, list] = {"spark": [], "delta-rs": []}
            _one(spark, stage, root, "0"), _one(spark, stage, root, None)  # warm-up
            for _ in range(args.rounds):
                runs["spark"].append(_one(spark, stage, root, "0"))
                runs["delta-rs"].append(_one(spark, stage, root, None))
            med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v), v[-1][2])
                   for k, v in runs.items()}
            rows.append((name, len(stage.outputs), med))
    load = os.getloadavg()[0]
    lines = ["## Output commits: delta-rs for small local outputs vs Spark's Delta writer (#18)", "",
             f"Command: `cd /work/main && .venv/bin/python bench/bench_output_commits.py --stages {args.stages} "
             f"--rounds {args.rounds}` (one process, warm Spark session; the two settings alternate; medians of "
             f"{args.rounds}; 1-minute load average at the end: {load:.1f})", "",
             "| stage | outputs | by delta-rs | run s, Spark's writer | run s, delta-rs | writes s, Spark's writer "
             "| writes s, delta-rs | run: delta-rs / Spark |", "|---|---|---|---|---|---|---|---|"]
    for name, n, med in rows:
        s, d = med["spark"], med["delta-rs"]
        lines.append(f"| {name} | {n} | {d[2]} | {s[0]:.1f} | {d[0]:.1f} | {s[1]:.1f} | {d[1]:.1f} | {d[0] / s[0]:.2f} |")
    lines += ["", "Writes: the runner's `seconds.run.write_*`, which include the lazy part of the transformation "
                  "(computed as the output is written); `by delta-rs`: outputs whose last commit delta-rs made."]
    from assemble_results import write_section

    write_section("output_commits", lines)


if __name__ == "__main__":
    main()
