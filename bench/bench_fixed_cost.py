"""Fixed cost: every stage on the demo's small data, where a run's cost is almost all fixed, split into
ledger, Delta commits, quality, transformation and the rest; cold (a fresh `lakesieve run` process, JVM
start included) and warm (the same stage again in one process, ``force``).

    .venv/bin/python bench/bench_fixed_cost.py [--stages minhash,cluster] [--skip-cold]

The data is the demo's (`lakesieve demo --data-only` into a temporary lakehouse): tens to a few
hundred rows per input, so what is measured is what a run costs whatever its size. The peer of a warm
run's total is its own transformation share (what the stage is for); the rest is the run's overhead.
Phases (seconds spent in, outermost only, so nothing counts twice):

- **ledger**: reading the run ledger (recovery, reuse, the concurrency check) and its two appends;
- **inputs**: resolving and fingerprinting the inputs, the input row checks;
- **write**: the stage's Spark work and the Delta commits of its outputs (a stage's transformation is
  lazy: its jobs run when the output is written, so the two are one figure);
- **metrics**: the stage's metrics over the written outputs;
- **quality**: the Great Expectations suites, Data Docs and the quality table's append;
- **other**: the rest (building the transformation's plan, the lease, version reads).

Also `lakesieve runs` and `lakesieve stages` (no JVM), each the best of 3 subprocess runs.
Figures go to bench/results/fixed_cost.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from assemble_results import write_section  # noqa: E402

PHASES = ("ledger", "inputs", "write", "metrics", "quality", "other")


class PhaseClock:
    """Seconds per phase; only the outermost timed call counts (a phase calling another is its own)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth = 0

    def wrap(self, owner, attr: str, phase: str) -> None:
        setattr(owner, attr, self.timed(getattr(owner, attr), phase))

    def timed(self, fn, phase: str):
        @functools.wraps(fn)
        def timed(*a, **k):
            if self._depth:
                return fn(*a, **k)
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[phase] += time.perf_counter() - t0
                self._depth -= 1

        return timed

    def reset(self) -> None:
        self.seconds.clear()


def instrument(clock: PhaseClock) -> None:
    from jobs import runner
    from pipelines.core import lakehouse

    for attr in ("stage_runs", "find_reusable", "append"):
        clock.wrap(runner.ledger, attr, "ledger")
    for attr in ("recover_unfinished", "_refuse_if_concurrent"):
        clock.wrap(runner, attr, "ledger")
    for attr in ("load_inputs", "check_input_rows"):
        clock.wrap(runner, attr, "inputs")
    clock.wrap(runner, "_run_quality", "quality")
    clock.wrap(lakehouse, "write_commit", "write")


def warm_runs(stages: list[str], root: str, repeats: int) -> dict[str, dict[str, float]]:
    from jobs import demo, registry, runner
    from pipelines.core.session import get_spark

    spark = get_spark("bench-fixed-cost")
    demo.write_all(spark, root)
    clock = PhaseClock()
    instrument(clock)
    out = {}
    for name in stages:
        entry = registry.entry(name)
        stage = registry.load_stage(name)
        if stage.metrics is not None:
            stage = dataclasses.replace(stage, metrics=clock.timed(stage.metrics, "metrics"))
        best = None
        for i in range(repeats + 1):  # the first run in the process warms the stage's code paths
            clock.reset()
            t0 = time.perf_counter()
            runner.run(spark, stage, registry.config_path(entry), lakehouse_root=root, force=True)
            total = time.perf_counter() - t0
            phases = dict(clock.seconds)
            phases["other"] = total - sum(phases.values())
            phases["total"] = total
            if i and (best is None or total < best["total"]):
                best = phases
        out[name] = best
        print(f"warm {name}: " + ", ".join(f"{k} {best.get(k, 0.0):.1f}" for k in (*PHASES, "total")), flush=True)
    return out


def cli_seconds(args: list[str], cwd: str, repeats: int = 1) -> float:
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([str(ROOT / ".venv" / "bin" / "lakesieve"), *args], cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        took = time.perf_counter() - t0
        best = took if best is None else min(best, took)
    return best


def main() -> None:
    from jobs import registry

    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", default=",".join(e.name for e in registry.STAGES))
    ap.add_argument("--repeats", type=int, default=2, help="warm runs per stage after the first (best kept)")
    ap.add_argument("--skip-cold", action="store_true")
    args = ap.parse_args()
    stages = args.stages.split(",")
    with tempfile.TemporaryDirectory(prefix="lakesieve-fixed-") as tmp:
        root = os.path.join(tmp, "lakehouse")
        warm = warm_runs(stages, root, args.repeats)
        cold = {}
        if not args.skip_cold:
            for name in stages:
                cfg = registry.config_path(registry.entry(name))
                cold[name] = cli_seconds(["run", name, "--config", str(cfg), "--lakehouse", root, "--force"], tmp)
                print(f"cold {name}: {cold[name]:.1f} s", flush=True)
        runs_s = cli_seconds(["runs", "--lakehouse", root], tmp, repeats=3)
        stages_s = cli_seconds(["stages"], tmp, repeats=3)
    lines = ["## Fixed cost of a run (#18): every stage on the demo's small data", "",
             f"Command: `cd /work/main && .venv/bin/python bench/bench_fixed_cost.py --stages {args.stages}"
             f"{' --skip-cold' if args.skip_cold else ''}`", "",
             "| stage | cold `lakesieve run` (s) | warm total (s) | ledger | inputs | write (transform + commits) "
             "| metrics | quality | other | run overhead share |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name in stages:
        w = warm[name]
        # the run's own cost, whatever the stage: ledger, inputs, metrics and quality (a stage's eager steps
        # run in its transformation, counted under "other", and its lazy ones under "write")
        overhead = sum(w.get(k, 0.0) for k in ("ledger", "inputs", "metrics", "quality")) / w["total"]
        lines.append(f"| {name} | {cold.get(name, float('nan')):.1f} | {w['total']:.1f} | "
                     + " | ".join(f"{w.get(k, 0.0):.1f}" for k in PHASES) + f" | {overhead:.0%} |")
    lines += ["", "Run overhead share: (ledger + inputs + metrics + quality) / warm total.", "",
              f"`lakesieve runs`: {runs_s:.2f} s; `lakesieve stages`: {stages_s:.2f} s (best of 3, no JVM)."]
    write_section("fixed_cost", lines)


if __name__ == "__main__":
    main()
