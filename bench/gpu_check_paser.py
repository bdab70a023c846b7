"""GPU check for paser-score: the JSD scorer on CUDA vs the CPU (< 1 minute).

    python bench/gpu_check_paser.py      # from the repository root

Builds the demo's tiny GPT-2 (udfs.tiny_lm, trained a few steps, so no download), prunes it in
process by magnitude and Wanda, and scores the same instruction samples on the CPU and on CUDA:
per-sample mean token JSD must agree within 1e-4 (absolute) and the token counts exactly.
Prints one line per figure; exit code 0 unless a check that could run failed.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str]) -> int:
    other = argv[0] if argv else "cuda"  # `cpu` gives a dry run of the script on a machine without a GPU
    try:
        import numpy as np
        import torch
    except ImportError as exc:
        print(f"[skip] paser-score GPU: {exc}")
        return 0
    if other == "cuda" and not torch.cuda.is_available():
        print("[skip] paser-score GPU: torch sees no CUDA device")
        return 0
    from udfs.causal_lm import JsdScorer, ScorerSpec
    from udfs.tiny_lm import build_demo_model

    texts = [f"Add {a} and {b}. The answer is {a + b}." for a in range(30) for b in range(0, 30, 3)]
    texts += [f"Translate '{w}' to pig latin: {w[1:]}{w[0]}ay" for w in ("house", "river", "garden", "window") * 20]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = str(build_demo_model(Path(tmp) / "orig", texts[:200], train_steps=30))
        prompts, outputs = texts[:256], [" ok"] * 256
        for method in ("magnitude", "wanda"):
            results = {}
            for device in ("cpu", other):
                spec = ScorerSpec(path, None, method, 0.5, tuple(texts[:16]), 64, device)
                scorer = JsdScorer(spec)
                scorer.score(prompts[:8], outputs[:8])  # warm-up
                t0 = time.perf_counter()
                results[device + "_2" if device in results else device] = scorer.score(prompts, outputs, batch_size=32)
                if device == "cuda":
                    torch.cuda.synchronize()
                results[device + ("_2_s" if device + "_2" in results else "_s")] = time.perf_counter() - t0
            key = "cuda" if other == "cuda" else "cpu_2"
            diff = float(np.max(np.abs(results["cpu"]["jsd"] - results[key]["jsd"])))
            same_tokens = bool(np.array_equal(results["cpu"]["tokens"], results[key]["tokens"]))
            ok = diff <= 1e-4 and same_tokens
            failed += not ok
            print(f"[{'ok' if ok else 'FAIL':4}] paser-score {method}: max |JSD cpu - {other}| = {diff:.2e}, "
                  f"tokens equal: {same_tokens}, mean JSD {results['cpu']['jsd'].mean():.4f}; "
                  f"256 samples cpu {results['cpu_s']:.2f}s, {other} {results[key + '_s']:.2f}s "
                  f"({torch.cuda.get_device_name(0) if other == 'cuda' else 'dry run'})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
