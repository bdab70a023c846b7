"""Speed: the ``cluster`` stage against raw FAISS (``faiss.Kmeans`` + ``IndexFlat.search``) on the same data.

    .venv/bin/python bench/bench_cluster.py --rows 1000000 --dim 256 --clusters 1024 --niter 10

Both sides get the same float32 vectors (a seeded mixture of Gaussians, L2-normalised), the same k,
iterations, seed and spherical setting, and train on the same number of points (FAISS subsamples to
k x 256 itself; the stage's bounded sample is set to the same size). The raw side starts from a numpy
array in memory; the stage starts from a Parquet table and ends with its three Delta tables written
(read, seeded sample, train, assign every row on the executors, write, ledger). The Spark session is
started before the clock. Figures go to bench/results/cluster.md.
"""
from __future__ import annotations

import argparse
import os
import platform
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--clusters", type=int, default=1024)
    ap.add_argument("--niter", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "cluster.md"))
    args = ap.parse_args(argv)
    os.environ.setdefault("LAKESIEVE_PROGRESS", "false")
    os.environ.setdefault("LAKESIEVE_DRIVER_MEMORY", "4g")

    from jobs import cluster as job
    from pipelines.core import lakehouse
    from pipelines.core.session import get_spark
    from pipelines.core.tables import TableRef

    x = make_data(args.rows, args.dim, max(2 * args.clusters, 16), args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench_cluster_"))
    write_parquet(x, work / "in" / "embeddings")
    spark = get_spark("bench-cluster")
    spark.range(10).count()  # warm the session before timing

    raw_s, raw_labels = raw_faiss(x, args.clusters, args.niter, args.seed)
    cfg = {"inputs": {"embeddings": "in/embeddings"}, "quality": {"enabled": False},
           "params": {"num_clusters": args.clusters, "niter": args.niter, "seed": args.seed, "spherical": True,
                      "init": "random", "max_train_samples": min(args.rows, 256 * args.clusters)}}
    t0 = time.perf_counter()
    result = job.run(spark, cfg, lakehouse_root=str(work))
    stage_s = time.perf_counter() - t0
    assert result.status == "success", result
    sizes = lakehouse.read_table(spark, TableRef.parse("cluster/centroids", str(work))).agg({"size": "sum"}).collect()[0][0]
    raw_sizes = np.bincount(raw_labels, minlength=args.clusters)
    ratio = stage_s / raw_s
    cores = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cmd = "cd /work/main && .venv/bin/python bench/bench_cluster.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out",))
    text = f"""# cluster: the stage vs raw FAISS

Command: `{cmd}`

| rows | dim | k | niter | raw faiss.Kmeans + search (s) | cluster stage, Parquet in -> 3 Delta tables out (s) | ratio stage / raw |
|---|---|---|---|---|---|---|
| {args.rows:,} | {args.dim} | {args.clusters} | {args.niter} | {raw_s:.1f} | {stage_s:.1f} | {ratio:.2f} |

- Goal: ratio <= 1.5 on CPU. {'Met' if ratio <= 1.5 else 'NOT met'} in this run.
- Both trained on {min(args.rows, 256 * args.clusters):,} points (FAISS's k x 256 subsample; the stage's bounded
  sample set to the same size), spherical, random initialisation, seed {args.seed}.
- Rows assigned by the stage: {sizes:,} (of {args.rows:,}); raw FAISS's largest cluster {int(raw_sizes.max())},
  empty clusters {int((raw_sizes == 0).sum())}.
- Machine: {platform.machine()}, {cores} cores shared with other developers (1-minute load average at the end:
  {load:.1f}); FAISS on the CPU ({'faiss-gpu' if getattr(__import__('faiss'), 'get_num_gpus', lambda: 0)() else 'faiss-cpu'}).
  Absolute seconds depend on that load; the ratio compares two runs in the same script.
"""
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
