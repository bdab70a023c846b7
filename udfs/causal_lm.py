"""Causal LMs for ``paser-score``: load from a local path, prune, and score samples by mean token JSD.

Models load with ``transformers`` from a local folder only (``local_files_only=True``, safetensors
preferred, never a hub download). Pruning (when no pruned model is given) is unstructured, applied to
every linear layer inside the transformer blocks (not embeddings or the LM head), as in Wanda
(Sun et al., "A Simple and Effective Pruning Approach for LLMs", 2023):

- ``magnitude``: zero the smallest |W| of each layer;
- ``wanda``: zero, in each output row, the weights with the smallest |W_ij|·‖X_j‖₂, where ‖X_j‖₂ is the
  norm of input feature j over a calibration set (one forward pass with hooks).

:func:`cached_scorer` keeps one loaded (original, pruned) pair per Python worker process, so each
Spark worker loads the models once and reuses them for every batch. No Spark here.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pipelines.core.errors import ModelLoadError, require


def resolve_device(device: str) -> str:
    torch = require("torch", "vision")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("config key 'params.device' is 'cuda' but no GPU is available")
    return device


def check_model_dir(path: str, key: str) -> Path:
    """A local folder holding a transformers model (config.json); else ModelLoadError naming ``key``."""
    p = Path(path)
    if not p.is_dir() or not (p / "config.json").is_file():
        raise ModelLoadError(f"{key} '{path}' is not a local folder holding a transformers model (config.json)")
    return p


def model_fingerprint(path: str) -> str:
    """sha256 over the names, sizes and mtimes of a model folder's files (for the run ledger)."""
    h = hashlib.sha256()
    for f in sorted(Path(path).rglob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.relative_to(path)}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()


def load_causal_lm(path: str, device: str = "cpu", key: str = "model"):
    """(model, tokenizer) from a local folder, eval mode, on ``device``. Never downloads."""
    require("torch", "vision")
    transformers = require("transformers", "vision")
    check_model_dir(path, key)
    transformers.utils.logging.disable_progress_bar()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True, use_safetensors=True)
    except Exception as exc:  # noqa: BLE001 - any loader failure is the folder's fault
        raise ModelLoadError(f"{key} '{path}' could not be loaded as a causal LM: {exc}") from exc
    model.eval().to(device)
    return model, tokenizer


def prunable_layers(model) -> list[tuple[str, object, bool]]:
    """(name, module, transposed) for each linear layer in the blocks; ``transposed`` for GPT-2's Conv1D
    whose weight is [in, out]. Embeddings and the LM head are never pruned."""
    torch = require("torch", "vision")
    from transformers.pytorch_utils import Conv1D

    out = []
    head = model.get_output_embeddings()
    for name, module in model.named_modules():
        if module is head:
            continue
        if isinstance(module, torch.nn.Linear):
            out.append((name, module, False))
        elif isinstance(module, Conv1D):
            out.append((name, module, True))
    return out


def magnitude_prune(model, ratio: float) -> None:
    """Zero the ``ratio`` smallest-|W| weights of each prunable layer, in place."""
    torch = require("torch", "vision")
    with torch.no_grad():
        for _, module, _ in prunable_layers(model):
            w = module.weight
            k = int(w.numel() * ratio)
            if k == 0:
                continue
            threshold = w.abs().flatten().kthvalue(k).values
            w.masked_fill_(w.abs() <= threshold, 0.0)


def wanda_prune(model, ratio: float, calibration_ids: Sequence[Sequence[int]], device: str = "cpu") -> None:
    """Wanda: per output row, zero the ``ratio`` weights with the smallest |W|·‖X_in‖₂, in place."""
    torch = require("torch", "vision")
    layers = prunable_layers(model)
    sq_norms = {name: None for name, _, _ in layers}

    def hook(name):
        def fn(_module, inputs, _output):
            x = inputs[0].detach().float().reshape(-1, inputs[0].shape[-1])
            s = (x * x).sum(dim=0)
            sq_norms[name] = s if sq_norms[name] is None else sq_norms[name] + s
        return fn

    handles = [module.register_forward_hook(hook(name)) for name, module, _ in layers]
    try:
        with torch.no_grad():
            for ids in calibration_ids:
                if len(ids) == 0:
                    continue
                model(input_ids=torch.tensor([list(ids)], dtype=torch.long, device=device))
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for name, module, transposed in layers:
            w = module.weight.t() if transposed else module.weight  # [out, in] view
            norms = sq_norms[name]
            norms = torch.ones(w.shape[1], device=w.device) if norms is None else norms.sqrt().to(w.device)
            score = w.abs().float() * norms.unsqueeze(0)
            k = int(w.shape[1] * ratio)
            if k == 0:
                continue
            drop = torch.argsort(score, dim=1, stable=True)[:, :k]
            w.scatter_(1, drop, 0.0)


def sparsity(model) -> float:
    """Fraction of zero weights over the prunable layers."""
    total = zeros = 0
    for _, module, _ in prunable_layers(model):
        total += module.weight.numel()
        zeros += int((module.weight == 0).sum())
    return zeros / max(total, 1)


@dataclass(frozen=True)
class ScorerSpec:
    """What a worker needs to build its scorer; hashable so it keys the per-process cache."""

    original_path: str
    pruned_path: str | None
    prune_method: str
    prune_ratio: float
    calibration_texts: tuple[str, ...]
    max_length: int
    device: str


class JsdScorer:
    """An (original, pruned) model pair and their tokenizer; :meth:`score` gives mean token JSD."""

    def __init__(self, spec: ScorerSpec):
        import copy

        self.spec = spec
        self.device = resolve_device(spec.device)
        self.original, self.tokenizer = load_causal_lm(spec.original_path, self.device, "input 'original_model'")
        if spec.pruned_path:
            self.pruned, _ = load_causal_lm(spec.pruned_path, self.device, "input 'pruned_model'")
        else:
            self.pruned = copy.deepcopy(self.original)
            if spec.prune_method == "magnitude":
                magnitude_prune(self.pruned, spec.prune_ratio)
            else:
                ids = [self.encode(t)[: spec.max_length] for t in spec.calibration_texts]
                wanda_prune(self.pruned, spec.prune_ratio, ids, self.device)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text or "", add_special_tokens=False)["input_ids"])

    def score(self, prompts: Sequence[str], outputs: Sequence[str], batch_size: int = 8) -> dict[str, np.ndarray]:
        """Per sample: mean token JSD over prompt+output (first ``max_length`` tokens) and token counts."""
        torch = require("torch", "vision")
        prompt_ids = [self.encode(p) for p in prompts]
        output_ids = [self.encode(o) for o in outputs]
        full = [(p + o)[: self.spec.max_length] for p, o in zip(prompt_ids, output_ids)]
        jsd = np.zeros(len(full), dtype=np.float64)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        order = sorted(range(len(full)), key=lambda i: len(full[i]))  # similar lengths share a batch
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                idx = [i for i in order[start:start + batch_size] if full[i]]
                if not idx:
                    continue
                width = max(len(full[i]) for i in idx)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    ids[row, : len(full[i])] = torch.tensor(full[i], dtype=torch.long)
                    mask[row, : len(full[i])] = 1
                ids, mask = ids.to(self.device), mask.to(self.device)
                from udfs.jsd import mean_token_jsd

                lo = self.original(input_ids=ids, attention_mask=mask).logits
                lp = self.pruned(input_ids=ids, attention_mask=mask).logits
                values = mean_token_jsd(lo, lp, mask).double().cpu().numpy()
                jsd[idx] = values
        return {
            "jsd": jsd,
            "tokens": np.array([len(p) + len(o) for p, o in zip(prompt_ids, output_ids)], dtype=np.int64),
            "prompt_tokens": np.array([len(p) for p in prompt_ids], dtype=np.int64),
            "output_tokens": np.array([len(o) for o in output_ids], dtype=np.int64),
        }


@functools.lru_cache(maxsize=2)
def cached_scorer(spec: ScorerSpec) -> JsdScorer:
    """One scorer per spec per Python process: a Spark worker loads (and prunes) the models once."""
    return JsdScorer(spec)
