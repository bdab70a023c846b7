"""minhash on a corpus of real documents, end to end through the CLI, against SlimPajama's single-process
datasketch recipe on the same corpus, with F1 against the exact char-13 Jaccard truth.

    .venv/bin/python bench/bench_minhash_real.py [--man 2000 --copyright 900 --python 3000]

Corpus (what this machine's packages ship; nothing downloaded): manual pages (troff source,
/usr/share/man/**.gz, a seeded sample), the Debian copyright files (/usr/share/doc/*/copyright) and Python
sources of the project's venv (site-packages, a seeded sample); documents of 200-100,000 characters.
Real near-duplication: licence texts copied between packages, vendored modules, man pages of sibling
commands.

Truth: the exact Jaccard of the normalised char 13-gram sets (SlimPajama's `get_features`, hashed to 64
bits: `udfs.minhash.shingle_set`) of every pair that a low-threshold LSH (datasketch, 128 permutations,
threshold 0.5) proposes; duplicate pairs are those at >= 0.8. Found pairs: all pairs of each output
cluster (a pair joined only through a third document counts as a false positive, as in --part quality of
bench_minhash.py).

Peers, each timed in this script: SlimPajama's recipe in one process (datasketch `MinHash.bulk` over the
13-gram bytes, `MinHashLSH` 9x13, union-find: `bench_minhash._datasketch_pipeline`), and the stage run as a
user runs it, `lakesieve run minhash` in a subprocess (JVM start, ledger, Delta commits and the quality
suite included), with `verify: false` (the default) and `verify: true`; its `seconds.*` step metrics come
from the ledger.

Figures go to bench/results/minhash_real.md.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from assemble_results import write_section  # noqa: E402

MAX_CHARS = 100_000


def corpus(n_man: int, n_copyright: int, n_python: int, seed: int = 0) -> list[tuple[str, str]]:
    """[(source, text)] of real documents, 200-100,000 characters."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []

    def take(paths, source, n, reader):
        paths = sorted(paths)
        rng.shuffle(paths)
        got = 0
        for p in paths:
            if got >= n:
                break
            try:
                text = reader(p)
            except (OSError, EOFError, UnicodeError, gzip.BadGzipFile):
                continue
            if 200 <= len(text) <= MAX_CHARS:
                out.append((source, text))
                got += 1

    take(glob.glob("/usr/share/man/**/*.gz", recursive=True), "man", n_man,
         lambda p: gzip.open(p).read().decode("utf-8", "replace"))
    take(glob.glob("/usr/share/doc/*/copyright"), "copyright", n_copyright,
         lambda p: Path(p).read_text(encoding="utf-8", errors="replace"))
    site = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    take([str(p) for p in site.rglob("*.py")], "python", n_python,
         lambda p: Path(p).read_text(encoding="utf-8", errors="replace"))
    return out


def truth_pairs(texts: list[str], threshold: float = 0.8) -> tuple[set, dict, float]:
    """({(i, j): exact >= threshold}, {i: shingle count}, seconds)."""
    from datasketch import MinHash, MinHashLSH

    from udfs import minhash as K
    from udfs.text import normalize_for_hashing

    t0 = time.perf_counter()
    sets = [K.shingle_set(normalize_for_hashing(t), 13, "char") for t in texts]
    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    sigs = MinHash.bulk(((s.view(np.uint64) >> np.uint64(32)).astype(np.uint32).tolist() for s in sets), num_perm=128, seed=1,
                        hashfunc=int)
    pairs = set()
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            a, b = sets[i], sets[j]
            inter = np.intersect1d(a, b, assume_unique=True).size
            if inter / (a.size + b.size - inter) >= threshold:
                pairs.add((min(i, j), max(i, j)))
        lsh.insert(i, m)
    return pairs, {i: len(s) for i, s in enumerate(sets)}, time.perf_counter() - t0


def cluster_pairs(rep_of: dict) -> set:
    groups = defaultdict(list)
    for doc, rep in rep_of.items():
        groups[rep].append(doc)
    pairs = set()
    for rep, members in groups.items():
        pairs.update((min(a, b), max(a, b)) for a, b in combinations(sorted(set(members) | {rep}), 2))
    return pairs


def prf(found: set, truth: set) -> tuple[float, float, float]:
    tp = len(found & truth)
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def datasketch_recipe(texts: list[str]) -> tuple[float, dict]:
    """SlimPajama's script in one process (``bench_minhash._datasketch_pipeline``) on the documents that
    pass its length filter: (seconds, {removed id: cluster root})."""
    from bench_minhash import _datasketch_pipeline

    from udfs import minhash as K

    kept = {i: t for i, t in enumerate(texts) if K.prepare(t, 200)[1] is None}
    return _datasketch_pipeline(kept, (9, 13))


def stage_cli(table: str, lakehouse: str, verify: bool) -> tuple[float, dict, dict, bool]:
    """`lakesieve run minhash` in a subprocess: (wall seconds, {id: representative_id}, run metrics, whether the run
    started Spark)."""
    import polars as pl

    cmd = [str(Path(sys.executable).with_name("lakesieve")), "run", "minhash", "--lakehouse", lakehouse,
           "--set", f"inputs.documents={table}", "--set", f"verify={'true' if verify else 'false'}", "--force"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"stage failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    dups = pl.read_delta(str(Path(lakehouse) / "minhash" / "duplicates")).select("id", "representative_id")
    from pipelines.core.ledger import latest_states_local

    run = latest_states_local(lakehouse, stage="minhash", limit=1)[0]
    return (seconds, dict(zip(dups["id"].to_list(), dups["representative_id"].to_list())), json.loads(run["metrics"]),
            "Spark was not started" not in proc.stdout)


def kernels_per_thread(texts: list[str], every: int) -> list[str]:
    """The kernels' table (:func:`bench_minhash.kernel_table`) on every ``every``-th document of the corpus,
    normalised, at least 200 characters."""
    from bench_minhash import kernel_table

    from udfs import minhash as K

    sample = [n for t in texts[::every] if (n := K.prepare(t, 200)[0]) is not None]
    return ["", *kernel_table(sample, f"every {every}th document of the real corpus")]


def main(argv=None) -> int:
    import pyarrow as pa
    from deltalake import write_deltalake

    parser = argparse.ArgumentParser()
    parser.add_argument("--man", type=int, default=2000)
    parser.add_argument("--copyright", type=int, default=900)
    parser.add_argument("--python", type=int, default=3000)
    parser.add_argument("--kernel-every", type=int, default=4, help="the kernels' table: every n-th document")
    args = parser.parse_args(argv)
    t_all = time.perf_counter()
    docs = corpus(args.man, args.copyright, args.python)
    texts = [t for _, t in docs]
    work = Path(tempfile.mkdtemp(prefix="lakesieve-minhash-real-"))
    table = str(work / "documents")
    write_deltalake(table, pa.table({"id": pa.array(range(len(docs)), pa.int64()),
                                     "source": [s for s, _ in docs], "text": texts}))
    truth, _, t_truth = truth_pairs(texts)
    chars = sum(len(t) for t in texts)
    by_source = defaultdict(int)
    for s, _ in docs:
        by_source[s] += 1

    peer_s, peer_reps = datasketch_recipe(texts)
    rows = []
    peer_f = prf(cluster_pairs(peer_reps), truth)
    rows.append(("SlimPajama recipe, datasketch, one process (normalise, 13-grams, MinHash.bulk, MinHashLSH 9x13, "
                 "union-find)", peer_s, len(peer_reps), peer_f, 1.0, ""))
    for verify in (False, True):
        seconds, reps, metrics, jvm = stage_cli(table, str(work / f"lh-{verify}"), verify)
        steps = ", ".join(f"{k.split('.', 1)[1]} {v:.1f}" for k, v in sorted(metrics.items())
                          if k.startswith("seconds.") and isinstance(v, (int, float)))
        started = "Spark started" if jvm else "no JVM: the run stayed in the driver"
        rows.append((f"`lakesieve run minhash`, verify: {str(verify).lower()} (subprocess: the whole CLI run, {started}; "
                     "ledger, commits, quality suite)", seconds, len(reps), prf(cluster_pairs(reps), truth), peer_s / seconds, steps))
    lines = ["# minhash on real documents (end to end through the CLI)", "",
             f"Command: `.venv/bin/python bench/bench_minhash_real.py --man {args.man} --copyright {args.copyright} "
             f"--python {args.python}` on {os.cpu_count()} CPU cores (load average at start {os.getloadavg()[0]:.1f}). "
             f"Corpus: {len(docs):,} real documents ({', '.join(f'{k} {v}' for k, v in sorted(by_source.items()))}), "
             f"{chars / 1e6:.1f} M characters, longest {max(len(t) for t in texts):,}; {len(truth):,} pairs at exact "
             f"char-13 Jaccard >= 0.8 (truth computed in {t_truth:.0f} s).", "",
             "| pipeline | seconds | documents removed | precision | recall | F1 | speed-up vs datasketch | stage steps (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, seconds, removed, (p, r, f), ratio, steps in rows:
        lines.append(f"| {name} | {seconds:.1f} | {removed:,} | {p:.3f} | {r:.3f} | {f:.3f} | {ratio:.2f}x | {steps} |")
    lines += kernels_per_thread(texts, args.kernel_every)
    lines += ["", f"Whole benchmark: {time.perf_counter() - t_all:.0f} s."]
    write_section("minhash_real", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
