"""The demo text corpus for the minhash stage: four sources with designed near-duplicate clusters.

Sources ``web``, ``wiki``, ``code`` and ``books`` hold unrelated base documents (random words from a
made-up vocabulary, so two base documents share almost no 13-gram). Designed variants of a base are
made by substituting random words until the exact Jaccard of the character 13-gram sets (the
SlimPajama shingles, after normalisation) reaches a target; the exact value reached is recorded.

- near duplicates at Jaccard ~0.97, ~0.92 and 0.85, inside one source and across sources;
- exact duplicates up to case, punctuation and whitespace (Jaccard 1.0 after normalisation);
- hard negatives at ~0.6 and ~0.4 (related, but below SlimPajama's 0.8);
- short documents (< 200 content characters), an empty and a null text (filtered rows).

Tables: ``documents`` (id, source, title, text) and ``truth`` (id_a, id_b, relation, scope,
char13_jaccard, word5_jaccard): every designed pair with its exact similarity.
"""
from __future__ import annotations

import random

import pandas as pd

from pipelines.demo_data import DemoTable
from udfs.text import char_ngrams, normalize_for_hashing, word_ngrams

SOURCES = ("web", "wiki", "code", "books")
_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "pa", "qu", "dor", "len", "mar", "tis",
              "bel", "cor", "fan", "gur", "hol", "jin", "kel", "mon", "nar", "pel", "rin", "sul", "tor"]


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def jaccard(a: str, b: str, ngram_size: int = 13, unit: str = "char") -> float:
    """Exact Jaccard of the shingle sets of two raw texts (SlimPajama normalisation)."""
    grams = char_ngrams if unit == "char" else word_ngrams
    sa = set(grams(normalize_for_hashing(a), ngram_size))
    sb = set(grams(normalize_for_hashing(b), ngram_size))
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def _base_document(rng: random.Random, vocab: list[str], source: str, words: int) -> str:
    tokens = [rng.choice(vocab) for _ in range(words)]
    if source == "code":
        lines, i = [], 0
        while i < len(tokens):
            n = rng.randint(3, 7)
            lines.append(f"def {tokens[i]}({', '.join(tokens[i + 1:i + n])}):  # {rng.choice(vocab)}")
            i += n
        return "\n".join(lines)
    sentences, i = [], 0
    while i < len(tokens):
        n = rng.randint(6, 14)
        sentence = " ".join(tokens[i:i + n])
        sentences.append(sentence[:1].upper() + sentence[1:] + rng.choice([".", ".", "!", "?"]))
        i += n
    return " ".join(sentences)


def _variant(rng: random.Random, vocab: list[str], text: str, target: float) -> tuple[str, float]:
    """Substitute random words of ``text`` until its char-13-gram Jaccard with ``text`` <= target."""
    tokens = text.split(" ")
    current = text
    similarity = 1.0
    order = list(range(len(tokens)))
    rng.shuffle(order)
    for position in order:
        if similarity <= target:
            break
        if not tokens[position]:
            continue
        trailing = tokens[position][-1] if tokens[position][-1] in ".!?,:)" else ""
        tokens[position] = rng.choice(vocab) + trailing
        current = " ".join(tokens)
        similarity = jaccard(text, current)
    return current, similarity


def _cosmetic_copy(rng: random.Random, text: str) -> str:
    """The same text after normalisation: other case, extra punctuation and whitespace."""
    out = []
    for word in text.split(" "):
        word = word.upper() if rng.random() < 0.3 else word
        out.append(word + ("," if rng.random() < 0.1 else ""))
    return "  ".join(out) + " !!"


def generate(seed: int = 0, base_per_source: int = 12, words: tuple[int, int] = (180, 320)) -> list[DemoTable]:
    """Documents and ground truth; deterministic for a seed. ~``4 * base_per_source * 1.8`` rows."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    records: list[dict] = []
    truth: list[dict] = []

    def add(source: str, text: str | None, title: str) -> int:
        records.append({"source": source, "title": title, "text": text})
        return len(records) - 1

    def relate(a: int, b: int, relation: str) -> None:
        ta, tb = records[a]["text"], records[b]["text"]
        truth.append({"a": a, "b": b, "relation": relation,
                      "scope": "within_source" if records[a]["source"] == records[b]["source"] else "cross_source",
                      "char13_jaccard": round(jaccard(ta, tb), 4), "word5_jaccard": round(jaccard(ta, tb, 5, "word"), 4)})

    plans = [  # (target Jaccard, relation, copy into another source?)
        (0.97, "near_duplicate", False), (0.92, "near_duplicate", True), (0.85, "near_duplicate", False),
        (1.0, "exact_duplicate", True), (0.6, "hard_negative", False), (0.4, "hard_negative", True),
    ]
    for s_index, source in enumerate(SOURCES):
        for k in range(base_per_source):
            base_text = _base_document(rng, vocab, source, rng.randint(*words))
            base = add(source, base_text, f"{source} document {k}")
            plan = plans[(k + s_index) % len(plans)] if k < 9 else None
            if plan is None:
                continue
            target, relation, cross = plan
            other = SOURCES[(s_index + 1) % len(SOURCES)] if cross else source
            if relation == "exact_duplicate":
                copy = add(other, _cosmetic_copy(rng, base_text), f"{source} document {k} (copy)")
            else:
                variant, _ = _variant(rng, vocab, base_text, target)
                copy = add(other, variant, f"{source} document {k} (variant {target})")
            relate(base, copy, relation)
            if k % 3 == 0 and relation == "near_duplicate":  # a third member: a cluster of three
                variant, _ = _variant(rng, vocab, base_text, 0.95)
                third = add(source, variant, f"{source} document {k} (second variant)")
                relate(base, third, relation)
                relate(copy, third, "near_duplicate" if jaccard(records[copy]["text"], variant) >= 0.8 else "transitive")
        for k in range(2):
            # at most 15 words of at most 12 letters: always under SlimPajama's 200 content characters
            add(source, " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 15))) + ".", f"{source} short {k}")
    add("web", "", "empty")
    add("wiki", None, "null")
    add("books", "   \n\t ", "blank")

    # ids: a seeded permutation, so the kept member of a cluster is not always the original
    ids = list(range(1, len(records) + 1))
    rng.shuffle(ids)
    documents = pd.DataFrame({"id": ids, "source": [r["source"] for r in records],
                              "title": [r["title"] for r in records],
                              # object dtype keeps None a None (pandas 3 would make it NaN)
                              "text": pd.Series([r["text"] for r in records], dtype=object)})
    truth_df = pd.DataFrame([{"id_a": min(ids[t["a"]], ids[t["b"]]), "id_b": max(ids[t["a"]], ids[t["b"]]),
                              **{k: v for k, v in t.items() if k not in ("a", "b")}} for t in truth])
    return [DemoTable("documents", documents, schema="id long, source string, title string, text string"),
            DemoTable("truth", truth_df, schema="id_a long, id_b long, relation string, scope string, "
                                                "char13_jaccard double, word5_jaccard double")]
