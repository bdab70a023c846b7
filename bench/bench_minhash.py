"""Benchmarks of the minhash stage against its peers, each measured in this script on this machine.

    .venv/bin/python bench/bench_minhash.py --part speed     # signature kernel vs datasketch MinHash.bulk
    .venv/bin/python bench/bench_minhash.py --part quality   # P/R/F1 vs exact Jaccard on the designed corpus
    .venv/bin/python bench/bench_minhash.py --part e2e       # Spark stage vs datasketch MinHashLSH and Spark ML MinHashLSH
    .venv/bin/python bench/bench_minhash.py --part scale     # 1x/2x/4x corpus: time and driver peak memory

Each part prints a markdown section; ``--write`` appends it to bench/results/minhash.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from udfs import minhash as K  # noqa: E402
from udfs.text import char_ngrams, normalize_for_hashing, word_ngrams  # noqa: E402


def _corpus(seed: int, base_per_source: int):
    from pipelines.demo_data.corpus import generate

    docs, truth = generate(seed=seed, base_per_source=base_per_source)
    return docs, truth


def _texts(n_docs: int) -> list[str]:
    docs, _ = _corpus(3, max(1, n_docs // 4))
    texts = [normalize_for_hashing(t) for t in docs.frame.text if isinstance(t, str) and len(t) > 300]
    return (texts * (n_docs // max(1, len(texts)) + 1))[:n_docs]


# --------------------------------------------------------------------------- speed
def part_speed(args) -> str:
    return "\n".join(kernel_table(_texts(args.docs), f"{args.docs} documents of the bulk corpus"))


def kernel_table(texts: list[str], corpus: str) -> list[str]:
    """The signature kernels alone, one process and one thread each, on the same normalised texts: lakesieve's
    (n-grams formed and hashed inside the timing; best of three), datasketch's ``MinHash.bulk`` given the 13-gram
    bytes ready-made and given lakesieve's 32-bit shingle hashes, and rensa's ``RMinHash`` (Rust) given the
    13-gram strings ready-made and with them formed by ``char_ngrams`` inside the timing. 128 permutations.
    rensa's rows say so where it is not installed."""
    from datasketch import MinHash

    grams = [char_ngrams(t, 13) for t in texts]
    n_grams = sum(len(g) for g in grams)
    encoded = [[g.encode("utf-8") for g in gs] for gs in grams]
    inputs32 = [K.to_permutation_input(np.concatenate(list(K.shingle_hashes(t, 13)))).tolist() for t in texts]

    def timed(fn, repeat=1):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    rows = [("lakesieve `udfs.minhash.signatures` (text -> signature: n-grams formed and hashed)",
             timed(lambda: K.signatures(texts, num_perm=128, seed=1, ngram_size=13), repeat=3)),
            ("datasketch `MinHash.bulk` (13-gram bytes ready-made, sha1_hash32)",
             timed(lambda: MinHash.bulk(encoded, num_perm=128, seed=1))),
            ("datasketch `MinHash.bulk` (lakesieve's 32-bit shingle hashes ready-made, identity hashfunc)",
             timed(lambda: MinHash.bulk(inputs32, num_perm=128, seed=1, hashfunc=lambda v: v)))]
    try:
        from rensa import RMinHash
    except ImportError:
        rows.append(("rensa: not installed (`pip install rensa`)", float("nan")))
    else:
        def rensa(token_lists):
            for tokens in token_lists:
                m = RMinHash(num_perm=128, seed=1)
                m.update(tokens)
                m.digest()

        rows.append(("rensa `RMinHash` (Rust; 13-gram strings ready-made)", timed(lambda: rensa(grams))))
        rows.append(("rensa `RMinHash`, its 13-grams formed by `udfs.text.char_ngrams` inside the timing "
                     "(text -> signature, as lakesieve's row)",
                     timed(lambda: rensa(char_ngrams(t, 13) for t in texts))))
    ours = rows[0][1]
    out = [f"### The signature kernels alone, one thread each ({corpus}: {len(texts):,} documents, {n_grams:,} char "
           "13-grams, 128 permutations)", "",
           "| kernel | seconds | 13-grams / s | lakesieve's speed-up |", "|---|---|---|---|"]
    out += [f"| {name} | {sec:.2f} | {n_grams / sec:,.0f} | {sec / ours:.2f}x |" for name, sec in rows]
    return out


# --------------------------------------------------------------------------- quality
def _exact_pairs(texts: dict, ngram_size: int, unit: str, threshold: float) -> set:
    grams = char_ngrams if unit == "char" else word_ngrams
    sets = {i: set(grams(normalize_for_hashing(t), ngram_size)) for i, t in texts.items()}
    # candidate filter: pairs sharing any shingle (unrelated designed documents share none)
    owners: dict = {}
    for i, s in sets.items():
        for g in s:
            owners.setdefault(g, set()).add(i)
    cands = set()
    for ids in owners.values():
        if 1 < len(ids) < 50:
            cands.update(combinations(sorted(ids), 2))
    return {(a, b) for a, b in cands if len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= threshold}


def _cluster_pairs(duplicates) -> set:
    clusters: dict = {}
    for r in duplicates:
        clusters.setdefault(r.cluster_id, {r.representative_id}).add(r.id)
    return {p for members in clusters.values() for p in combinations(sorted(members), 2)}


def _prf(found: set, truth: set) -> tuple[float, float, float]:
    tp = len(found & truth)
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _spark():
    os.environ.setdefault("LAKESIEVE_PROGRESS", "false")
    os.environ.setdefault("LAKESIEVE_SHUFFLE_PARTITIONS", "4")
    from pipelines.core.session import get_spark

    return get_spark("bench-minhash")


def part_quality(args) -> str:
    from pipelines.core.config import build_config
    from pipelines.minhash.config import MinhashParams
    from pipelines.minhash.transform import transform as minhash_transform

    spark = _spark()
    docs, _ = _corpus(0, args.base)
    frame = docs.frame
    texts = {int(i): t for i, t in zip(frame.id, frame.text)
             if isinstance(t, str) and K.prepare(t, 200)[1] is None}
    df = spark.createDataFrame(frame, docs.schema)
    recall_first = {"num_bands": None, "rows_per_band": None, "false_positive_weight": 0.1,
                    "false_negative_weight": 0.9, "verify": True}
    configs = [
        ("SlimPajama recipe: char 13-grams, 9x13, no verification", {}, ("char", 13)),
        ("char 13-grams, threshold 0.8, bands for recall (fp/fn weights 0.1/0.9), verified", recall_first,
         ("char", 13)),
        ("word 5-grams, threshold 0.8, bands for recall (0.1/0.9), verified",
         {"ngram_unit": "word", "ngram_size": 5, **recall_first}, ("word", 5)),
        ("word 5-grams, threshold 0.8, datasketch-optimal bands (0.5/0.5), verified",
         {"ngram_unit": "word", "ngram_size": 5, "num_bands": None, "rows_per_band": None, "verify": True},
         ("word", 5)),
    ]
    out = [f"### Quality on the designed corpus (seed 0, {len(frame)} documents, {len(texts)} hashed; truth = "
           "all pairs with exact Jaccard >= 0.8 of the same shingles; found = pairs in one output cluster, so a "
           "pair joined only through a third document counts as a false positive)", "",
           "| configuration | bands x rows | truth pairs | found pairs | precision | recall | F1 |",
           "|---|---|---|---|---|---|---|"]
    for name, overrides, (unit, size) in configs:
        params = build_config(MinhashParams, overrides)
        truth = _exact_pairs(texts, size, unit, 0.8)
        found = _cluster_pairs(minhash_transform({"documents": df}, params).duplicates.collect())
        p, r, f = _prf(found, truth)
        b, rw = params.bands
        out.append(f"| {name} | {b}x{rw} | {len(truth)} | {len(found)} | {p:.3f} | {r:.3f} | {f:.3f} |")
    return "\n".join(out)


# --------------------------------------------------------------------------- end to end and scale
def _datasketch_pipeline(texts: dict, bands: tuple[int, int]) -> tuple[float, dict]:
    """Single-process peer: normalise, 13-grams, MinHash, MinHashLSH (same bands), union-find.
    Returns (seconds, {removed id: the root of its cluster})."""
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    lsh = MinHashLSH(num_perm=128, params=bands)
    parent = {}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    ids = sorted(texts)
    sigs = MinHash.bulk(([g.encode() for g in char_ngrams(normalize_for_hashing(texts[i]), 13)] for i in ids),
                        num_perm=128, seed=1)
    for i, m in zip(ids, sigs):
        parent[i] = i
        for other in lsh.query(m):
            a, b = find(i), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
        lsh.insert(i, m)
    seconds = time.perf_counter() - t0
    return seconds, {i: find(i) for i in ids if find(i) != i}


def bulk_corpus(n_docs: int, seed: int = 0, dup_rate: float = 0.15, substitution: float = 0.03):
    """A corpus of ``n_docs`` documents built fast enough for scaling runs (numpy, no Jaccard search):
    base documents of 150-400 random words from a 20k-word vocabulary in four sources, and a
    ``dup_rate`` share of near copies of earlier documents (``substitution`` of their words replaced,
    some in another source). Returns a pandas frame (id, source, text)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = np.array(["".join(rng.choice(letters, rng.integers(2, 10))) for _ in range(20000)])
    sources = np.array(["web", "wiki", "code", "books"])
    texts, words_of = [], []
    for i in range(n_docs):
        if i > 10 and rng.random() < dup_rate:
            words = words_of[int(rng.integers(0, i))].copy()
            swap = rng.random(len(words)) < substitution
            words[swap] = rng.choice(vocab, int(swap.sum()))
        else:
            words = rng.choice(vocab, int(rng.integers(150, 400)))
        words_of.append(words)
        texts.append(" ".join(words))
    return pd.DataFrame({"id": np.arange(n_docs, dtype=np.int64),
                         "source": sources[rng.integers(0, 4, n_docs)], "text": texts})


def _corpus_file(n_docs: int) -> Path:
    """The bulk corpus of ``n_docs`` documents as a Parquet file (written once, then reused)."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"lakesieve-bench-minhash-{n_docs}.parquet"
    if not path.exists():
        bulk_corpus(n_docs).to_parquet(path, index=False)
    return path


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: Linux carries that across
    fork+exec, so a child would report its parent's peak (the corpus generator's)."""
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kb / 1024


def _stage_once(n_docs: int) -> dict:
    """One stage run (Spark local) on the bulk corpus read from Parquet; outputs computed; peak memories."""
    from pipelines.minhash.config import MinhashParams
    from pipelines.minhash.transform import transform as minhash_transform

    spark = _spark()
    df = spark.read.parquet(str(_corpus_file(n_docs)))
    t0 = time.perf_counter()
    out = minhash_transform({"documents": df}, MinhashParams())
    counts = {n: getattr(out, n).count() for n in ("kept", "duplicates", "rejected", "index")}
    seconds = time.perf_counter() - t0
    jvm = spark._jvm.java.lang.management.ManagementFactory
    heap_peak = sum(p.getPeakUsage().getUsed() for p in jvm.getMemoryPoolMXBeans()
                    if str(p.getType()) == "Heap memory")
    return {"documents": n_docs, "seconds": seconds, "counts": counts,
            "python_driver_peak_mb": _peak_rss_mb(),
            "jvm_heap_peak_mb": heap_peak / 2**20}


def _spark_ml_once(n_docs: int) -> dict:
    """The Spark peer: Spark ML's MinHashLSH on the same corpus and shingles (normalised char 13-grams,
    built in Spark SQL, HashingTF to 2^24 binary features), 9 hash tables, ``approxSimilarityJoin`` at
    Jaccard distance <= 0.2, pairs counted. It stops at candidate pairs (no components, no outputs),
    so it does less than the stage. Spark ML amplifies by OR only (one hash per table), not 9x13 bands."""
    from pyspark.ml.feature import HashingTF, MinHashLSH
    from pyspark.sql import functions as F

    spark = _spark()
    df = spark.read.parquet(str(_corpus_file(n_docs)))
    t0 = time.perf_counter()
    norm = F.trim(F.regexp_replace(F.regexp_replace(F.lower("text"), r"[!-/:-@\[-`{-~]", ""), r"\s+", " "))
    grams = F.expr("transform(sequence(0, greatest(length(t) - 13, 0)), i -> substring(t, i + 1, 13))")
    shingled = df.select("id", norm.alias("t")).where(F.length(F.regexp_replace("t", " ", "")) >= 200) \
        .select("id", grams.alias("grams"))
    features = HashingTF(inputCol="grams", outputCol="features", numFeatures=1 << 24, binary=True) \
        .transform(shingled).select("id", "features").cache()
    model = MinHashLSH(inputCol="features", outputCol="hashes", numHashTables=9, seed=1).fit(features)
    pairs = model.approxSimilarityJoin(features, features, 0.2, distCol="distance") \
        .where(F.col("datasetA.id") < F.col("datasetB.id"))
    n_pairs = pairs.count()
    return {"documents": n_docs, "seconds": time.perf_counter() - t0, "pairs": n_pairs}


def part_e2e(args) -> str:
    import pandas as pd

    frame = pd.read_parquet(_corpus_file(args.docs))
    peers = set(args.peers.split(","))
    stage = _run_child(args.docs)
    mb = frame.text.str.len().sum() / 1e6
    rows = [f"### End to end (SlimPajama recipe, {stage['documents']:,} documents, {mb:.0f} MB of text)", "",
            "| pipeline | seconds | duplicates removed |", "|---|---|---|",
            f"| lakesieve minhash stage (Spark local[*], both cores; signatures, LSH, components, all outputs) | "
            f"{stage['seconds']:.1f} | {stage['counts']['duplicates']} |"]
    ratios = []
    if "datasketch" in peers:
        texts = {int(i): t for i, t in zip(frame.id, frame.text) if K.prepare(t, 200)[1] is None}
        peer_s, peer_clusters = _datasketch_pipeline(texts, (9, 13))
        peer_removed = len(peer_clusters)
        rows.append(f"| datasketch MinHash.bulk + MinHashLSH (9x13) + union-find, one process | {peer_s:.1f} | "
                    f"{peer_removed} |")
        ratios.append(f"over datasketch {peer_s / stage['seconds']:.2f}x")
    if "spark-ml" in peers:
        ml = _run_child(args.docs, "--child-ml")
        rows.append(f"| Spark ML MinHashLSH (9 one-hash tables), approxSimilarityJoin at Jaccard >= 0.8, same Spark; "
                    f"stops at candidate pairs | {ml['seconds']:.1f} | ({ml['pairs']} pairs) |")
        ratios.append(f"over Spark ML {ml['seconds'] / stage['seconds']:.2f}x")
    return "\n".join(rows + ["", "speed-up of the stage: " + "; ".join(ratios)])


def _run_child(n_docs: int, flag: str = "--child") -> dict:
    _corpus_file(n_docs)
    cmd = [sys.executable, __file__, flag, str(n_docs)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def part_scale(args) -> str:
    rows = ["### Scaling (SlimPajama recipe, bulk corpus; each size in a fresh process)", "",
            "| corpus | documents | stage seconds | seconds per 10k documents | Python driver peak RSS MB | "
            "JVM heap peak MB |", "|---|---|---|---|---|---|"]
    for factor in (1, 2, 4):
        r = _run_child(args.docs * factor)
        rows.append(f"| {factor}x | {r['documents']:,} | {r['seconds']:.1f} | {1e4 * r['seconds'] / r['documents']:.1f} | "
                    f"{r['python_driver_peak_mb']:.0f} | {r['jvm_heap_peak_mb']:.0f} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["speed", "quality", "e2e", "scale"])
    parser.add_argument("--docs", type=int, default=2000, help="documents (speed, e2e; the 1x size of scale)")
    parser.add_argument("--base", type=int, default=60, help="base documents per source of the designed corpus (quality)")
    parser.add_argument("--write", action="store_true", help="append the section to bench/results/minhash.md")
    parser.add_argument("--peers", default="datasketch,spark-ml", help="e2e peers: datasketch, spark-ml")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-ml", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None or args.child_ml is not None:
        print(json.dumps(_stage_once(args.child) if args.child is not None else _spark_ml_once(args.child_ml)))
        return 0
    text = {"speed": part_speed, "quality": part_quality, "e2e": part_e2e, "scale": part_scale}[args.part](args)
    cmd = "python bench/bench_minhash.py " + " ".join(a for a in sys.argv[1:] if a != "--write")
    section = f"{text}\n\nCommand: `{cmd}`; machine: {os.cpu_count()} cores (shared), " \
              f"load average at the end {os.getloadavg()[0]:.1f}.\n"
    print(section)
    if args.write:
        path = ROOT / "bench" / "results" / "minhash.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text("# minhash benchmarks\n\n")
        with path.open("a") as fh:
            fh.write(section + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
