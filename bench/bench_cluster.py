"""Speed: the ``cluster`` stage against raw FAISS (``faiss.Kmeans`` + ``IndexFlat.search``) on the same data.

    .venv/bin/python bench/bench_cluster.py --rows 1000000 --dim 256 --clusters 1024 --niter 10

Both sides get the same float32 vectors (a seeded mixture of Gaussians, L2-normalised), the same k,
iterations, seed and spherical setting, and train on the same number of points (FAISS subsamples to
k x 256 itself; the stage's bounded sample is set to the same size). The raw side starts from a numpy
array in memory; the stage starts from a Parquet table and ends with its three Delta tables written
(read, seeded sample, train, assign every row on the executors, write, ledger). The Spark session is
started before the clock; the stage runs cold (the session's first run) and then warm three times (median), interleaved with raw runs (median). A second
peer, the script a user would write (pyarrow read, FAISS, pyarrow write), shows what reading the
Parquet costs. Figures go to bench/results/cluster.md (notes below its marker line are kept).
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_data(rows: int, dim: int, centres: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1, (centres, dim)).astype(np.float32)
    x = means[rng.integers(centres, size=rows)] + rng.normal(0, 0.5, (rows, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def write_parquet(x: np.ndarray, path: Path, chunk: int = 100_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.mkdir(parents=True, exist_ok=True)
    for part, start in enumerate(range(0, len(x), chunk)):
        block = x[start:start + chunk]
        vec = pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), block.shape[1]).cast(pa.list_(pa.float32()))
        table = pa.table({"id": pa.array(np.arange(start, start + len(block), dtype=np.int64)), "vector": vec})
        pq.write_table(table, path / f"part-{part:05d}.parquet")


def raw_faiss(x: np.ndarray, k: int, niter: int, seed: int) -> tuple[float, np.ndarray]:
    import faiss

    t0 = time.perf_counter()
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, spherical=True, max_points_per_centroid=256)
    km.train(x)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(km.centroids)
    _, labels = index.search(x, 1)
    return time.perf_counter() - t0, labels[:, 0]


def raw_script(src: Path, dst: Path, k: int, niter: int, seed: int) -> float:
    """What a user would write without lakesieve: pyarrow reads the Parquet, FAISS clusters, pyarrow
    writes (id, cluster, distance) and the centroids. Same FAISS calls as :func:`raw_faiss`."""
    import faiss
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    table = pq.read_table(src, columns=["id", "vector"])
    vectors = table.column("vector").combine_chunks()
    x = vectors.flatten().to_numpy().reshape(len(vectors), -1)
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, spherical=True, max_points_per_centroid=256)
    km.train(x)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(km.centroids)
    sims, labels = index.search(x, 1)
    dst.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": table.column("id"), "cluster": labels[:, 0].astype(np.int32),
                             "distance": 1.0 - sims[:, 0].astype(np.float64)}), dst / "assignments.parquet")
    pq.write_table(pa.table({"cluster": np.arange(k, dtype=np.int32),
                             "vector": pa.FixedSizeListArray.from_arrays(pa.array(km.centroids.reshape(-1)), x.shape[1])}),
                   dst / "centroids.parquet")
    return time.perf_counter() - t0


class StepTimer:
    """Seconds spent in the runner's and the stage's steps during one run (wraps the functions; the
    stage's own code is untouched). ``write <n>`` of the first output includes computing it: Spark is
    lazy, so assigning every row happens inside the assignments write."""

    def __init__(self) -> None:
        from pipelines.core import lakehouse, ledger

        self.steps: list[tuple[str, float]] = []
        self._saved = []
        for module, name, label in ((ledger, "stage_runs", "ledger read"), (ledger, "_records", "ledger read"),
                                    (lakehouse, "write_commit", "write")):
            self._wrap(module, name, label)

    def _wrap(self, module, name, label) -> None:
        original = getattr(module, name)
        self._saved.append((module, name, original))

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                tag = label
                if label == "write":  # an output, or a row of the run ledger (_lakesieve/runs)
                    tag = "ledger append" if "_lakesieve" in args[1].label else "write " + Path(args[1].label).name
                self.steps.append((tag, time.perf_counter() - t))

        setattr(module, name, timed)

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for tag, s in self.steps:
            out[tag] = out.get(tag, 0.0) + s
        return out

    def restore(self) -> None:
        for module, name, original in self._saved:
            setattr(module, name, original)


def run_stage(spark, job, cfg: dict, root: Path) -> tuple[float, dict[str, float], int]:
    from pipelines.core import lakehouse
    from pipelines.core.tables import TableRef

    timer = StepTimer()
    try:
        t0 = time.perf_counter()
        result = job.run(spark, cfg, lakehouse_root=str(root))
        seconds = time.perf_counter() - t0
    finally:
        timer.restore()
    assert result.status == "success", result
    sizes = lakehouse.read_table(spark, TableRef.parse("cluster/centroids", str(root))).agg({"size": "sum"}).collect()[0][0]
    steps = timer.totals()
    # the stage's eager steps, as it reports them (engine driver: collect, sample, train, assign; spark: sample, train)
    steps.update({k.split(".", 1)[1]: v for k, v in result.metrics.items()
                  if k in ("seconds.collect", "seconds.sample", "seconds.train", "seconds.assign")})
    steps["other (count, centroid sizes, metrics, cache)"] = seconds - sum(steps.values())
    return seconds, steps, int(sizes)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--clusters", type=int, default=1024)
    ap.add_argument("--niter", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--warm-runs", type=int, default=3, help="warm stage runs; the median is reported")
    ap.add_argument("--fixed-rows", type=int, default=20_000, help="rows of the small run that measures a run's fixed cost")
    ap.add_argument("--engine", default="auto", choices=["auto", "spark", "driver"], help="the stage's params.engine")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "cluster.md"))
    args = ap.parse_args(argv)
    os.environ.setdefault("LAKESIEVE_PROGRESS", "false")
    os.environ.setdefault("LAKESIEVE_DRIVER_MEMORY", "4g")

    from jobs import cluster as job
    from pipelines.core.session import get_spark

    x = make_data(args.rows, args.dim, max(2 * args.clusters, 16), args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench_cluster_"))
    try:
        return _run(args, x, work, job, get_spark)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # about 1 GB per run at 1M x 256


def _run(args: argparse.Namespace, x: np.ndarray, work: Path, job, get_spark) -> int:
    write_parquet(x, work / "in" / "embeddings")
    spark = get_spark("bench-cluster")
    spark.range(10).count()  # start the session before timing

    raw_before, raw_labels = raw_faiss(x, args.clusters, args.niter, args.seed)
    script_s = raw_script(work / "in" / "embeddings", work / "script_out", args.clusters, args.niter, args.seed)
    cfg = {"inputs": {"embeddings": str(work / "in" / "embeddings")}, "quality": {"enabled": False},
           "params": {"num_clusters": args.clusters, "niter": args.niter, "seed": args.seed, "spherical": True,
                      "init": "random", "max_train_samples": min(args.rows, 256 * args.clusters),
                      "engine": args.engine}}
    # cold: the first run in this Spark session (what a spark-submit job pays: Delta's and the Python
    # workers' first use); warm: the same run again into a second lakehouse (a notebook, or the next stage)
    cold_s, cold_steps, cold_rows = run_stage(spark, job, cfg, work / "lake_cold")
    raw_runs = [raw_before, raw_faiss(x, args.clusters, args.niter, args.seed)[0]]
    warm_runs = []
    for i in range(args.warm_runs):  # interleaved with raw runs: both see the same machine
        warm_runs.append(run_stage(spark, job, cfg, work / f"lake_warm{i}"))
        raw_runs.append(raw_faiss(x, args.clusters, args.niter, args.seed)[0])
    warm_s, warm_steps, warm_rows = sorted(warm_runs, key=lambda r: r[0])[len(warm_runs) // 2]  # the median run
    raw_s = float(np.median(raw_runs))
    # What a warm run costs whatever its data (ledger reads and rows, Delta commits, job launches): the
    # same stage on a small slice of the same vectors, k = 16.
    write_parquet(x[:args.fixed_rows], work / "in" / "small")
    small_cfg = {**cfg, "inputs": {"embeddings": str(work / "in" / "small")},
                 "params": {**cfg["params"], "num_clusters": 16, "max_train_samples": min(args.fixed_rows, 4096)}}
    fixed_runs = [run_stage(spark, job, small_cfg, work / f"lake_small{i}")[0] for i in range(3)]
    fixed_s = float(np.median(fixed_runs))
    raw_sizes = np.bincount(raw_labels, minlength=args.clusters)

    def ratios(stage_s: float) -> str:
        return f"{stage_s / raw_s:.2f} | {(stage_s - raw_s) / raw_s:.2f}"

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cmd = "cd /work/main && .venv/bin/python bench/bench_cluster.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out",))
    step_names = list(dict.fromkeys([*cold_steps, *warm_steps]))
    step_rows = "\n".join(f"| {n} | {cold_steps.get(n, 0.0):.1f} | {warm_steps.get(n, 0.0):.1f} |" for n in step_names)
    overhead_met = max(cold_s, warm_s) - raw_s <= 1.5 * raw_s
    text = f"""# cluster: the stage vs raw FAISS

Command: `{cmd}`

{args.rows:,} x {args.dim} float32 vectors, k = {args.clusters}, {args.niter} iterations, spherical, seed {args.seed}.
Raw FAISS (`faiss.Kmeans` + `IndexFlatIP.search` on a numpy array already in memory) ran {len(raw_runs)} times,
interleaved with the stage's runs ({", ".join(f"{r:.1f}" for r in raw_runs)} s); the ratios use their median, {raw_s:.1f} s.
The warm stage ran {len(warm_runs)} times ({", ".join(f"{r[0]:.1f}" for r in warm_runs)} s); the table shows the median run.

| run | seconds | stage / raw FAISS | overhead / raw FAISS = (stage - raw) / raw |
|---|---|---|---|
| raw FAISS, in memory (median of {len(raw_runs)}) | {raw_s:.1f} | 1.00 | 0 |
| raw script: pyarrow reads the Parquet, FAISS, pyarrow writes labels + centroids | {script_s:.1f} | {ratios(script_s)} |
| cluster stage, cold: first run in the Spark session (a spark-submit job) | {cold_s:.1f} | {ratios(cold_s)} |
| cluster stage, warm: the same run again, into a new lakehouse (a notebook, a pipeline's next stage); median of {len(warm_runs)} | {warm_s:.1f} | {ratios(warm_s)} |
| a warm run's fixed cost: the stage on the first {args.fixed_rows:,} rows, k = 16 (median of {len(fixed_runs)}) | {fixed_s:.1f} | {fixed_s / raw_s:.2f} | |
| warm stage minus that fixed cost: what grows with the data | {warm_s - fixed_s:.1f} | {ratios(warm_s - fixed_s)} |

The stage (params.engine: {args.engine}) reads the Parquet table, takes its seeded training sample, trains, assigns
every row (engine driver: in the driver, on the rows collected once; spark: on the executors), writes three Delta
tables (assignments, centroids, rejected) and records the run in the ledger.
Rows assigned: {cold_rows:,} (cold) and {warm_rows:,} (warm) of {args.rows:,}; raw FAISS's largest cluster
{int(raw_sizes.max())}, empty clusters {int((raw_sizes == 0).sum())}. Both train on
{min(args.rows, 256 * args.clusters):,} points (FAISS's k x 256 subsample; the stage's bounded sample set to the same size).

- Issue 5's goal, "the stage's overhead <= 1.5x raw FAISS on CPU": overhead / raw is
  {(cold_s - raw_s) / raw_s:.2f} cold and {(warm_s - raw_s) / raw_s:.2f} warm (median; the {len(warm_runs)} warm runs: {", ".join(f"{(r[0] - raw_s) / raw_s:.2f}" for r in warm_runs)}):
  {'met' if overhead_met else 'NOT met'} in this run (both readings must be under 1.5 for "met").
  Read as "the whole stage <= 1.5x raw FAISS" (stage / raw <= 1.5) it is not met: see where the time goes below.
  Of the warm run, {fixed_s:.1f} s is paid by any run of the stage whatever its size (the small run's
  {", ".join(f"{r:.1f}" for r in fixed_runs)} s); what grows with the data is {(warm_s - fixed_s) / raw_s:.2f}x raw FAISS
  (overhead {(warm_s - fixed_s - raw_s) / raw_s:.2f}). The fixed part is amortised on larger tables; the goal is judged on the whole run above.

Where the stage's time goes (seconds, timed around the runner's and the stage's functions in this run):

| step | cold | warm |
|---|---|---|
{step_rows}

Machine: {platform.machine()}, {os.cpu_count()} cores shared with other developers (1-minute load average at the
end: {load:.1f}); FAISS on the CPU ({'faiss-gpu' if getattr(__import__('faiss'), 'get_num_gpus', lambda: 0)() else 'faiss-cpu'}).
Absolute seconds depend on that load; the ratios compare runs in the same script.
"""
    out = Path(args.out)
    marker = "<!-- kept by bench_cluster.py: notes below this line -->"
    notes = out.read_text().split(marker, 1)[1] if out.exists() and marker in out.read_text() else "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n" + marker + notes)
    print(text)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
