"""Quality benchmark for TL;DR and SemDeDup: do probes trained on the reduced set beat random subsets?

Data: scikit-learn's digits (1,797 8x8 images, shipped with the package), split 70/30 (stratified,
fixed). Into the training part we inject near-copies: 30% of the training images get 1-3 copies each
with small Gaussian pixel noise (sigma 0.4 on the 0-16 scale), clipped, with the original's label.
Embeddings: PCA-32 of the pixels (fitted on the training part), L2-normalised -- a simple
deterministic featurisation standing in for the encoder. Clustering: FAISS spherical k-means (k=30,
20 iterations) on those vectors, seeded per run; the distance to the centroid is 1 - cosine.

Reductions, through the pipelines' own numpy functions (the code the Spark executors run):
  TL;DR     pipelines.tldr.sampling.sample_clusters at ratio = budget (keeps sum ceil(ratio * size))
  SemDeDup  pipelines.semdedup.epsilon.epsilon_for_target (target kept fraction = budget), then
            pipelines.semdedup.kernel.dedup_cluster with that threshold bin (keep hard, any_earlier)
  random    a uniform random subset of the same size as the method it is compared with
Probes, trained on the reduced set and scored on the untouched test part: 3-NN on the pixels and a
logistic regression on standardised pixels. Mean +- std over 10 seeds (each seed: k-means seed,
TL;DR hash seed and random-subset seed), budgets 10% and 25%.

Also reported: the recall of injected copies removed by SemDeDup (per copy group of g members,
min(removed, g - 1) / (g - 1) summed over groups) at each budget and at fixed epsilons, and how
many rows outside any copy group it removed.

Run:  .venv/bin/python bench/bench_reduction.py  (about a minute; writes bench/results/reduction.md)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.semdedup.epsilon import epsilon_for_target  # noqa: E402
from pipelines.semdedup.kernel import dedup_cluster, max_similarities  # noqa: E402
from pipelines.tldr.sampling import sample_clusters  # noqa: E402

BUDGETS = (0.10, 0.25)
NUM_CLUSTERS = 30
COPY_SHARE, COPY_NOISE = 0.30, 0.4
FIXED_EPSILONS = (0.01, 0.02, 0.05)


def load_data(seed: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(digits.data, digits.target, test_size=0.3, random_state=0,
                                              stratify=digits.target)
    rng = np.random.default_rng(seed)
    originals = rng.choice(len(x_tr), size=int(COPY_SHARE * len(x_tr)), replace=False)
    group = np.full(len(x_tr), -1)
    group[originals] = originals
    xs, ys, gs = [x_tr], [y_tr], [group]
    for o in originals:
        k = int(rng.integers(1, 4))
        noisy = np.clip(x_tr[o] + rng.normal(0, COPY_NOISE, size=(k, x_tr.shape[1])), 0, 16)
        xs.append(noisy)
        ys.append(np.full(k, y_tr[o]))
        gs.append(np.full(k, o))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(gs), x_te, y_te, len(x_tr)


def embed(x_train: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    z = PCA(n_components=32, random_state=0).fit_transform(x_train / 16.0).astype(np.float32)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def cluster(vectors: np.ndarray, seed: int):
    import faiss

    km = faiss.Kmeans(vectors.shape[1], NUM_CLUSTERS, niter=20, seed=seed, spherical=True, verbose=False)
    km.train(vectors)
    sims, labels = km.index.search(vectors, 1)
    return labels[:, 0].astype(np.int64), 1.0 - sims[:, 0].astype(np.float64)


def semdedup_mask(vectors, labels, distances, *, target=None, epsilon=None):
    ids = np.arange(len(vectors))
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    threshold_bin, threshold, resolution = None, None, 1e-4
    if target is not None:
        m = np.full(len(vectors), np.nan)
        for idx in members:
            m[idx] = max_similarities(list(ids[idx]), distances[idx], vectors[idx])
        _, threshold_bin = epsilon_for_target(m, target, resolution=resolution)
        threshold = (threshold_bin - 1) * resolution
    else:
        threshold = 1.0 - epsilon
    keep = np.zeros(len(vectors), dtype=bool)
    for idx in members:
        res = dedup_cluster(list(ids[idx]), distances[idx], vectors[idx], threshold=threshold,
                            threshold_bin=threshold_bin, resolution=resolution)
        keep[idx] = res.kept
    return keep


def copy_recall(keep: np.ndarray, groups: np.ndarray) -> tuple[float, int]:
    """(recall of injected copies removed, rows removed outside any copy group)."""
    found = total = 0
    for g in np.unique(groups[groups >= 0]):
        members = groups == g
        size = int(members.sum())
        removed = int((~keep[members]).sum())
        found += min(removed, size - 1)
        total += size - 1
    return found / total, int((~keep[groups < 0]).sum())


def probes(x_tr, y_tr, x_te, y_te) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    knn = KNeighborsClassifier(n_neighbors=3).fit(x_tr, y_tr).score(x_te, y_te)
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(x_tr, y_tr).score(x_te, y_te)
    return knn, logreg


def fmt(values) -> str:
    a = np.asarray(values) * 100
    return f"{a.mean():.1f} ± {a.std(ddof=1):.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "reduction.md"))
    args = ap.parse_args(argv)
    t0 = time.time()
    x, y, groups, x_te, y_te, n_clean = load_data(0)
    vectors = embed(x)
    n = len(x)
    results: dict[tuple[str, float], dict[str, list]] = {}
    recalls: dict[float, list] = {b: [] for b in BUDGETS}
    fixed: dict[float, list] = {e: [] for e in FIXED_EPSILONS}
    full = probes(x, y, x_te, y_te)
    for seed in range(args.seeds):
        labels, distances = cluster(vectors, seed)
        rng = np.random.default_rng(1000 + seed)
        for budget in BUDGETS:
            chosen = sample_clusters(list(range(n)), list(labels), budget, seed=seed)
            tldr_keep = np.zeros(n, dtype=bool)
            tldr_keep[list(chosen)] = True
            sd_keep = semdedup_mask(vectors, labels, distances, target=budget)
            recalls[budget].append(copy_recall(sd_keep, groups))
            for name, keep in (("TL;DR", tldr_keep), ("SemDeDup", sd_keep)):
                rand_keep = np.zeros(n, dtype=bool)
                rand_keep[rng.choice(n, size=int(keep.sum()), replace=False)] = True
                for label, mask in ((name, keep), (f"random (size of {name})", rand_keep)):
                    r = results.setdefault((label, budget), {"knn": [], "logreg": [], "size": []})
                    knn, lr = probes(x[mask], y[mask], x_te, y_te)
                    r["knn"].append(knn)
                    r["logreg"].append(lr)
                    r["size"].append(int(mask.sum()))
        for eps in FIXED_EPSILONS:
            keep = semdedup_mask(vectors, labels, distances, epsilon=eps)
            fixed[eps].append((*copy_recall(keep, groups), int(keep.sum())))
    seconds = time.time() - t0

    lines = ["# Reduction quality: TL;DR and SemDeDup vs random subsets (sklearn digits)", "",
             f"Command: `.venv/bin/python bench/bench_reduction.py --seeds {args.seeds}` ({seconds:.0f} s on this machine).", "",
             f"Training set: {n_clean} digits + {n - n_clean} injected near-copies = {n} rows "
             f"(copies of {int((groups >= 0).sum() - (n - n_clean))} originals, noise sigma {COPY_NOISE} on 0-16 pixels); "
             f"test set: {len(x_te)} untouched digits. Embeddings: PCA-32 of the pixels, L2-normalised (not the encoder). "
             f"Clusters: FAISS spherical k-means, k={NUM_CLUSTERS}. Accuracy in %, mean ± std over {args.seeds} seeds.", "",
             f"Full training set (no reduction): 3-NN {full[0] * 100:.1f}, logistic regression {full[1] * 100:.1f}.", "",
             "| budget | subset | rows kept | 3-NN acc | logreg acc |", "|---|---|---|---|---|"]
    for budget in BUDGETS:
        for name in ("TL;DR", "random (size of TL;DR)", "SemDeDup", "random (size of SemDeDup)"):
            r = results[(name, budget)]
            lines.append(f"| {budget:.0%} | {name} | {np.mean(r['size']):.0f} | {fmt(r['knn'])} | {fmt(r['logreg'])} |")
    lines += ["", "Does the method beat a random subset of the same size? (difference of means, in points; "
              "'yes' only when the difference exceeds the larger of the two standard deviations)", "",
              "| budget | method | 3-NN diff | beats random (3-NN) | logreg diff | beats random (logreg) |",
              "|---|---|---|---|---|---|"]
    verdicts = []
    for budget in BUDGETS:
        for name in ("TL;DR", "SemDeDup"):
            m, r = results[(name, budget)], results[(f"random (size of {name})", budget)]
            row = [f"{budget:.0%}", name]
            for probe in ("knn", "logreg"):
                diff = (np.mean(m[probe]) - np.mean(r[probe])) * 100
                spread = max(np.std(m[probe], ddof=1), np.std(r[probe], ddof=1)) * 100
                verdict = "yes" if diff > spread else ("no (worse)" if diff < -spread else "no (within noise)")
                row += [f"{diff:+.1f}", verdict]
                verdicts.append((budget, name, probe, verdict))
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", "SemDeDup: recall of injected copies removed, and rows removed that belong to no copy group", "",
              "| setting | epsilon | rows kept | copy recall | non-copy rows removed |", "|---|---|---|---|---|"]
    for budget in BUDGETS:
        rec = np.array([r[0] for r in recalls[budget]])
        other = np.array([r[1] for r in recalls[budget]])
        lines.append(f"| target kept {budget:.0%} | chosen per run | {np.mean(results[('SemDeDup', budget)]['size']):.0f} "
                     f"| {rec.mean():.3f} ± {rec.std(ddof=1):.3f} | {other.mean():.0f} |")
    for eps in FIXED_EPSILONS:
        rows = np.array(fixed[eps])
        lines.append(f"| fixed epsilon | {eps} | {rows[:, 2].mean():.0f} | {rows[:, 0].mean():.3f} ± {rows[:, 0].std(ddof=1):.3f} "
                     f"| {rows[:, 1].mean():.0f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
