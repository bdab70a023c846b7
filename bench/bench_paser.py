"""PASER benchmark: cluster agreement, recovery of a pruned tiny GPT-2, clustering speed and memory.

    .venv/bin/python bench/bench_paser.py [--quick]

1. ARI of clusters vs the known capabilities of the demo's templated instructions (all-MiniLM-L6-v2
   embeddings): our kNN spectral clustering (eigengap K and K = 5) vs their code's dense diffusion
   kernel + eigsh('SM') on the random-walk Laplacian + NMF (re-implemented from BokwaiHo/PASER).
2. Recovery: a tiny GPT-2 trained for a few CPU minutes on the five capabilities, Wanda-pruned to
   50%, then fine-tuned briefly (sparsity mask kept) on a PASER subset vs a random subset of the same
   size; per-capability held-out loss recovery (pruned - recovered) / (pruned - original), mean ± std
   over seeds. PASER here calls the stage's kernels directly (no Spark): spectral_cluster,
   allocate_budget, efficiency, select_in_cluster, and JsdScorer for the scores.
3. Speed: clustering 100k embeddings within the bound (10k spectral sample + kNN-vote assignment of
   the rest) vs the dense-kernel implementation of their code on 10k samples, each in its own process
   (wall time and peak RSS growth), in this same script.

Figures go to bench/results/paser.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


# --- their clustering, dense (from BokwaiHo/PASER paser.py) -----------------------------------------

def dense_paper_clustering(embeddings: np.ndarray, num_clusters: int) -> np.ndarray:
    """Their ``apply_diffusion_kernel`` + ``nmf_spectral_clustering``: dense N×N Gaussian kernel
    (σ = median distance), L = I − D⁻¹A (non-symmetric), eigsh(k, 'SM'), NMF on |UUᵀ|, argmax.
    One change: D⁻¹ is taken elementwise instead of ``np.linalg.inv`` of the dense diagonal (O(N³))."""
    from scipy.sparse.linalg import eigsh
    from sklearn.decomposition import NMF
    from sklearn.metrics import pairwise_distances

    distances = pairwise_distances(embeddings)
    sigma = np.median(distances)
    a = np.exp(-distances ** 2 / (2 * sigma ** 2))
    del distances
    lap = np.eye(len(embeddings)) - a / a.sum(axis=1, keepdims=True)
    del a
    _, vectors = eigsh(lap, k=num_clusters, which="SM")
    del lap
    s = np.abs(vectors @ vectors.T)
    w = NMF(n_components=num_clusters, init="random", random_state=0).fit_transform(s)
    return np.argmax(w, axis=1)


def ours_bounded(embeddings: np.ndarray, num_clusters: int | None, sample_size: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """The stage's clustering without Spark: spectral on a seeded sample, kNN vote for the rest."""
    from pipelines.paser.spectral import assign_by_knn_vote, spectral_cluster

    rng = np.random.default_rng(seed)
    n = len(embeddings)
    picked = np.sort(rng.choice(n, size=min(sample_size, n), replace=False))
    result = spectral_cluster(embeddings[picked], num_clusters=num_clusters, min_clusters=2, max_clusters=30,
                              knn_neighbors=10, seed=seed)
    labels = np.empty(n, dtype=np.int64)
    labels[picked] = result.labels
    rest = np.setdiff1d(np.arange(n), picked)
    for start in range(0, len(rest), 20000):  # executors see the rest in partitions
        chunk = rest[start:start + 20000]
        labels[chunk] = assign_by_knn_vote(embeddings[picked], result.labels, embeddings[chunk], 10)
    return labels, result.num_clusters


def synthetic_embeddings(n: int, dim: int = 384, clusters: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)).astype(np.float32)
    truth = rng.integers(0, clusters, size=n)
    x = centers[truth] + np.float32(1.5) * rng.standard_normal(size=(n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, truth


def _child(method: str, n: int, k: int) -> None:
    """Run one clustering in this (fresh) process; print JSON with seconds, peak RSS growth and ARI."""
    import tracemalloc

    from sklearn.metrics import adjusted_rand_score

    x, truth = synthetic_embeddings(n)
    import faiss  # noqa: F401,E401 - import before the baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()  # numpy and Python allocations made by the clustering (not FAISS's C++ buffers)
    t0 = time.perf_counter()
    if method == "ours":
        labels, _ = ours_bounded(x, k, 10000)
    else:
        labels = dense_paper_clustering(x, k)
    seconds = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak / 1024, "traced_peak_mib": traced_peak / 2**20,
                      "ari": adjusted_rand_score(truth, labels)}))


def run_child(method: str, n: int, k: int, timeout: int) -> dict:
    cmd = [sys.executable, __file__, "--child", method, str(n), str(k)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {"seconds": float("inf"), "peak_rss_mib": float("nan"), "traced_peak_mib": float("nan"),
                "ari": float("nan"), "timeout": timeout}


# --- 1. ARI on templated instructions ---------------------------------------------------------------

def encode_instructions(per_capability: int) -> np.ndarray:
    from pipelines.demo_data.instructions import instruction_frame
    from udfs.encoders import EncoderSpec, encode_texts

    frame = instruction_frame(per_capability, seed=0)
    spec = EncoderSpec(family="sentence_transformers", model="all-MiniLM-L6-v2", device="auto")
    return encode_texts(list(frame["instruction"]), spec)


def ari_section(per_capability: int, embeddings_path: str | None) -> tuple[list[str], dict]:
    from sklearn.metrics import adjusted_rand_score

    from pipelines.demo_data.instructions import instruction_frame
    from pipelines.paser.spectral import spectral_cluster

    frame = instruction_frame(per_capability, seed=0)
    emb = np.load(embeddings_path) if embeddings_path else encode_instructions(per_capability)
    if len(emb) != len(frame):
        raise SystemExit(f"{embeddings_path} holds {len(emb)} vectors, not {len(frame)}")
    truth = frame["capability"].astype("category").cat.codes.to_numpy()
    rows, chosen = [], None
    for knn in (10, 20):
        auto = spectral_cluster(emb, num_clusters=None, min_clusters=2, max_clusters=12, knn_neighbors=knn)
        five = spectral_cluster(emb, num_clusters=5, knn_neighbors=knn)
        default = " (the default)" if knn == 20 else ""
        rows += [f"| ours, kNN k = {knn}{default}, K by {auto.chosen_by} (K = {auto.num_clusters}) | "
                 f"{adjusted_rand_score(truth, auto.labels):.3f} |",
                 f"| ours, kNN k = {knn}{default}, K = 5 | {adjusted_rand_score(truth, five.labels):.3f} |"]
        if knn == 20:
            chosen = auto.labels
    dense = dense_paper_clustering(emb.astype(np.float64), 5)
    rows.append(f"| their code (dense kernel, eigsh 'SM' on I − D⁻¹A, NMF), K = 5 | {adjusted_rand_score(truth, dense):.3f} |")
    return rows, {"frame": frame, "embeddings": emb, "labels": chosen, "n": len(frame)}


# --- 2. recovery ------------------------------------------------------------------------------------

def _texts(frame):
    return [f"{r.instruction}\n{r.input}\n{r.output}" for r in frame.itertuples()]


def _mean_loss(model, tokenizer, texts, max_length=64) -> float:
    import torch

    losses = []
    with torch.no_grad():
        for t in texts:
            ids = tokenizer(t, add_special_tokens=False)["input_ids"][: max_length - 1] + [tokenizer.eos_token_id]
            x = torch.tensor([ids])
            losses.append(float(model(input_ids=x, labels=x).loss))
    return float(np.mean(losses))


def _masked_finetune(model, tokenizer, texts, steps, seed):
    """Fine-tune keeping the pruning mask (zeros stay zero), as recovery of a sparse model must."""
    import torch

    from udfs.causal_lm import prunable_layers
    from udfs.tiny_lm import train_causal_lm

    masks = [(m, m.weight != 0) for _, m, _ in prunable_layers(model)]
    orig_step = torch.optim.AdamW.step

    def step(self, *a, **kw):
        out = orig_step(self, *a, **kw)
        with torch.no_grad():
            for m, mask in masks:
                m.weight.mul_(mask)
        return out

    torch.optim.AdamW.step = step
    try:
        train_causal_lm(model, tokenizer, texts, steps=steps, batch_size=16, lr=3e-4, seed=seed)
    finally:
        torch.optim.AdamW.step = orig_step


def paser_subset(frame, labels, scores, budget, seed=0) -> list[int]:

    from pipelines.paser.budget import allocate_budget
    from pipelines.paser.concepts import efficiency, select_in_cluster

    df = frame.assign(cluster=labels, jsd=scores["jsd"], tokens=scores["tokens"])
    df["efficiency"] = efficiency(df["jsd"].to_numpy(), df["tokens"].to_numpy())
    stats = df.groupby("cluster").agg(size=("id", "size"), cds=("jsd", "mean"))
    alloc = allocate_budget(stats["cds"].to_dict(), stats["size"].to_dict(), budget)
    picked = []
    for cluster, group in df.groupby("cluster"):
        out = select_in_cluster(group, alloc[cluster])
        picked += list(out.loc[out["selected"], "id"])
    return sorted(picked)


def recovery_section(ari_state, train_steps, finetune_steps, budget, seeds, prune_ratio) -> list[str]:
    import copy

    import torch

    from pipelines.demo_data.instructions import CAPABILITIES, instruction_frame
    from udfs.causal_lm import JsdScorer, ScorerSpec, wanda_prune
    from udfs.tiny_lm import build_tiny_gpt2, save_model, train_causal_lm

    torch.set_num_threads(min(8, os.cpu_count() or 2))
    frame, labels = ari_state["frame"], ari_state["labels"]
    held_out = instruction_frame(30, seed=99)
    train_texts = _texts(frame)
    model, tok = build_tiny_gpt2(train_texts + _texts(held_out), seed=0, n_layer=2, n_embd=96, n_head=4)
    t0 = time.perf_counter()
    train_causal_lm(model, tok, train_texts, steps=train_steps, batch_size=16, lr=3e-3, seed=0)
    train_s = time.perf_counter() - t0
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"paser_bench_{os.getpid()}"
    save_model(model, tok, folder)
    pruned = copy.deepcopy(model)
    calib = [tok(t, add_special_tokens=False)["input_ids"][:64] for t in train_texts[:64]]
    wanda_prune(pruned, prune_ratio, calib)
    scorer = JsdScorer(ScorerSpec(str(folder), None, "wanda", prune_ratio, tuple(train_texts[:64]), 64, "cpu"))
    scores = scorer.score([f"{r.instruction}\n{r.input}\n" for r in frame.itertuples()], list(frame["output"]), 32)
    chosen = paser_subset(frame, labels, scores, budget)
    by_cap = {c: _texts(held_out[held_out["capability"] == c]) for c in CAPABILITIES}
    base = {c: _mean_loss(model, tok, t) for c, t in by_cap.items()}
    hurt = {c: _mean_loss(pruned, tok, t) for c, t in by_cap.items()}
    results = {"paser": {c: [] for c in CAPABILITIES}, "random": {c: [] for c in CAPABILITIES}}
    mix = {"paser": frame.set_index("id").loc[chosen, "capability"].value_counts().to_dict()}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        subsets = {"paser": chosen, "random": sorted(rng.choice(frame["id"].to_numpy(), size=len(chosen), replace=False))}
        for name, ids in subsets.items():
            tuned = copy.deepcopy(pruned)
            _masked_finetune(tuned, tok, _texts(frame.set_index("id").loc[ids].reset_index()), finetune_steps, seed)
            for c, texts in by_cap.items():
                gap = hurt[c] - base[c]
                results[name][c].append((hurt[c] - _mean_loss(tuned, tok, texts)) / gap if gap > 1e-9 else float("nan"))
    rows = [f"Original model: {train_steps} training steps ({train_s:.0f} s); Wanda {prune_ratio:.0%}; budget {len(chosen)} of "
            f"{len(frame)} samples (PASER picked per capability: {mix['paser']}); fine-tune {finetune_steps} steps; "
            f"(AdamW lr 3e-4, batch 16, zeros kept); seeds {list(seeds)}.", "",
            "| capability | loss original | loss pruned | recovery PASER (mean ± std) | recovery random (mean ± std) |",
            "|---|---|---|---|---|"]
    for c in CAPABILITIES:
        p, r = np.array(results["paser"][c]), np.array(results["random"][c])
        rows.append(f"| {c} | {base[c]:.3f} | {hurt[c]:.3f} | {p.mean():.3f} ± {p.std():.3f} | {r.mean():.3f} ± {r.std():.3f} |")
    p_all = np.mean([np.mean(v) for v in results["paser"].values()])
    r_all = np.mean([np.mean(v) for v in results["random"].values()])
    rows.append(f"| **mean over capabilities** | | | {p_all:.3f} | {r_all:.3f} |")
    return rows


def device_check() -> int:
    """GPU check of paser-score's scorer (no Spark): the same JSD on cuda as on cpu, and the time of each."""
    import torch

    from pipelines.demo_data.instructions import instruction_frame
    from udfs.causal_lm import JsdScorer, ScorerSpec, sparsity
    from udfs.tiny_lm import build_tiny_gpt2, save_model, train_causal_lm

    frame = instruction_frame(100, seed=3)
    texts = _texts(frame)
    model, tok = build_tiny_gpt2(texts, seed=0, n_layer=4, n_embd=256, n_head=4)
    train_causal_lm(model, tok, texts, steps=100, batch_size=32, seed=0,
                    device="cuda" if torch.cuda.is_available() else "cpu")
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / "paser_device_check"
    save_model(model.cpu(), tok, folder)
    prompts = [f"{r.instruction}\n{r.input}\n" for r in frame.itertuples()]
    outputs = list(frame["output"])
    print(f"cuda available: {torch.cuda.is_available()} "
          f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''}; samples {len(frame)}")
    for method in ("magnitude", "wanda"):
        got = {}
        for device in ("cpu", "cuda"):
            spec = ScorerSpec(str(folder), None, method, 0.5, tuple(texts[:32]), 128, device)
            t0 = time.perf_counter()
            scorer = JsdScorer(spec)
            result = scorer.score(prompts, outputs, 32)
            if device == "cuda":
                torch.cuda.synchronize()
            got[device] = (result, time.perf_counter() - t0, sparsity(scorer.pruned))
        cpu, gpu = got["cpu"], got["cuda"]
        diff = float(np.max(np.abs(cpu[0]["jsd"] - gpu[0]["jsd"])))
        print(f"{method}: sparsity cpu {cpu[2]:.3f} cuda {gpu[2]:.3f}; mean jsd cpu {cpu[0]['jsd'].mean():.6f} "
              f"cuda {gpu[0]['jsd'].mean():.6f}; max |diff| {diff:.2e}; tokens equal "
              f"{bool((cpu[0]['tokens'] == gpu[0]['tokens']).all())}; load+prune+score s: cpu {cpu[1]:.2f} cuda {gpu[1]:.2f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not for the figures)")
    parser.add_argument("--child", nargs=3)
    parser.add_argument("--device-check", action="store_true", help="paser-score's scorer on cuda vs cpu")
    parser.add_argument("--save-embeddings", help="encode the instructions with all-MiniLM-L6-v2 to this .npy and stop")
    parser.add_argument("--embeddings", help="use these all-MiniLM-L6-v2 embeddings (.npy from --save-embeddings)")
    args = parser.parse_args(argv)
    if args.save_embeddings:
        np.save(args.save_embeddings, encode_instructions(40 if args.quick else 200))
        return 0
    if args.device_check:
        return device_check()
    if args.child:
        method, n, k = args.child
        _child(method, int(n), int(k))
        return 0
    quick = args.quick
    t_all = time.perf_counter()
    cmd = " ".join(["bench/bench_paser.py", *(argv if argv is not None else sys.argv[1:])])
    lines = ["# paser benchmark", "", f"Command: `python {cmd}` on {os.cpu_count()} CPU cores (load average at start "
             f"{os.getloadavg()[0]:.1f}); everything below runs on the CPU.", ""]
    ari_rows, state = ari_section(40 if quick else 200, args.embeddings)
    lines += [f"## 1. Cluster agreement with the 5 capabilities ({state['n']} templated instructions, all-MiniLM-L6-v2)",
              "", "| clustering | ARI |", "|---|---|", *ari_rows, ""]
    print("\n".join(lines), flush=True)
    lines += ["## 2. Recovery of a Wanda-pruned tiny GPT-2: PASER subset vs random subset of the same size", "",
              "Recovery = (loss pruned − loss after fine-tune) / (loss pruned − loss original) on held-out "
              "samples of each capability (1 = fully recovered; negative = worse than before fine-tuning).", ""]
    for ratio in (0.5, 0.7):
        rec = recovery_section(state, train_steps=60 if quick else 800, finetune_steps=10 if quick else 40,
                               budget=max(10, state["n"] // 10), seeds=(0, 1) if quick else (0, 1, 2), prune_ratio=ratio)
        lines += [f"### Wanda {ratio:.0%}", "", *rec, ""]
        print("\n".join(rec), flush=True)
    n_big, n_dense = (20000, 3000) if quick else (100000, 10000)
    ours = run_child("ours", n_big, 20, 300)
    dense = run_child("dense", n_dense, 20, 200)
    lines += ["## 3. Clustering speed and memory (synthetic 384-d unit embeddings, 20 clusters, each run in its own process)", "",
              "| method | N | wall s | peak traced alloc MiB | peak RSS growth MiB | ARI vs truth |",
              "|---|---|---|---|---|---|",
              f"| ours: 10k spectral sample (kNN graph, L_sym, eigsh) + kNN vote for the rest | {n_big} | "
              f"{ours['seconds']:.1f} | {ours['traced_peak_mib']:.0f} | {ours['peak_rss_mib']:.0f} | {ours['ari']:.3f} |",
              f"| their code, dense kernel (pairwise N×N, eigsh 'SM', NMF) | {n_dense} | "
              + (f"{dense['seconds']:.1f} | {dense['traced_peak_mib']:.0f} | {dense['peak_rss_mib']:.0f} | {dense['ari']:.3f} |"
                 if "timeout" not in dense else f"> {dense['timeout']} (killed) | n/a | n/a | n/a |"), "",
              "Peak traced alloc: tracemalloc's peak during the clustering (numpy and Python; FAISS's C++ buffers are "
              "not traced). Peak RSS growth: ru_maxrss after minus before the clustering (0 when the input's own "
              "creation set the high-water mark)."]
    if "timeout" not in dense:
        lines.append(f"Ratio: ours clusters {n_big // n_dense}× the samples in {ours['seconds'] / dense['seconds']:.2f}× "
                     f"the time and {ours['traced_peak_mib'] / max(dense['traced_peak_mib'], 1):.3f}× the traced memory "
                     f"of the dense code.")
    lines += ["", f"Whole benchmark: {time.perf_counter() - t_all:.0f} s."]
    out = ROOT / "bench" / "results" / "paser.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-8:]))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
