"""A tiny GPT-2 and its word-level tokenizer, built from a config (no download), for tests, the demo
and the benchmark of ``paser-score``.

The tokenizer is a ``tokenizers`` WordLevel model trained on the given texts (whitespace and
punctuation pre-tokenisation), wrapped as a ``PreTrainedTokenizerFast`` and saved beside the model,
so ``AutoTokenizer.from_pretrained(folder, local_files_only=True)`` loads both offline.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pipelines.core.errors import require

SPECIAL_TOKENS = ("[UNK]", "[PAD]", "[EOS]")


def build_tokenizer(texts: Sequence[str], vocab_size: int = 512):
    """A word-level PreTrainedTokenizerFast trained on ``texts`` ([UNK]=0, [PAD]=1, [EOS]=2)."""
    require("tokenizers", "vision")
    transformers = require("transformers", "vision")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS))
    tok.train_from_iterator(list(texts), trainer=trainer)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                                eos_token="[EOS]", bos_token="[EOS]")


def build_tiny_gpt2(texts: Sequence[str], *, seed: int = 0, n_layer: int = 2, n_embd: int = 64,
                    n_head: int = 2, n_positions: int = 256, vocab_size: int = 512):
    """(model, tokenizer): a randomly initialised GPT-2 (seeded) sized to the trained tokenizer."""
    torch = require("torch", "vision")
    transformers = require("transformers", "vision")
    tokenizer = build_tokenizer(texts, vocab_size)
    torch.manual_seed(seed)
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd,
                                     n_layer=n_layer, n_head=n_head, bos_token_id=2, eos_token_id=2,
                                     pad_token_id=1)
    model = transformers.GPT2LMHeadModel(config)
    # transformers derives the loss from the class name, which for GPT2LMHeadModel matches none of its
    # loss names: it would warn and fall back to the causal-LM loss. Name that loss explicitly.
    model.loss_type = "ForCausalLM"
    model.eval()
    return model, tokenizer


def train_causal_lm(model, tokenizer, texts: Sequence[str], *, steps: int, batch_size: int = 16,
                    lr: float = 3e-3, max_length: int = 64, seed: int = 0, device: str = "cpu") -> list[float]:
    """A few AdamW steps of next-token training on ``texts`` (seeded batches); returns the losses."""
    torch = require("torch", "vision")
    gen = torch.Generator().manual_seed(seed)
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"][: max_length - 1] + [tokenizer.eos_token_id]
           for t in texts]
    model.train().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        pick = torch.randint(0, len(ids), (batch_size,), generator=gen).tolist()
        width = max(len(ids[i]) for i in pick)
        batch = torch.full((batch_size, width), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((batch_size, width), -100, dtype=torch.long)
        for row, i in enumerate(pick):
            batch[row, : len(ids[i])] = torch.tensor(ids[i])
            labels[row, : len(ids[i])] = torch.tensor(ids[i])
        mask = (labels != -100).long()
        out = model(input_ids=batch.to(device), attention_mask=mask.to(device), labels=labels.to(device))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    model.eval()
    return losses


def save_model(model, tokenizer, folder: str | Path) -> Path:
    """Save as safetensors with the tokenizer, loadable offline by :func:`udfs.causal_lm.load_causal_lm`."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def build_demo_model(folder: str | Path, texts: Sequence[str], *, seed: int = 0, train_steps: int = 60) -> Path:
    """The demo's original model: a tiny GPT-2 trained ``train_steps`` steps on ``texts``, saved to ``folder``."""
    model, tokenizer = build_tiny_gpt2(texts, seed=seed)
    if train_steps:
        train_causal_lm(model, tokenizer, texts, steps=train_steps, seed=seed)
    return save_model(model, tokenizer, folder)
