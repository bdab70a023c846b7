"""Text preprocessing kernels for MinHash dedup (pure Python, no Spark).

The rules follow SlimPajama-DC (Cerebras, 2023, §2.2 "Preprocessing" and §2.3 "Global deduplication")
and their released scripts (``preprocessing/normalize_text.py``, ``preprocessing/filter.py``,
``dedup/to_hash.py``):

- Unicode NFC normalisation of every document;
- a document is *too short* when fewer than 200 characters remain after removing punctuation and
  whitespace (``filter.py``);
- text is normalised for hashing by lowercasing, removing ASCII punctuation and collapsing runs of
  whitespace to one space (``to_hash.py: get_features``).
"""
from __future__ import annotations

import re
import string
import unicodedata

_PUNCTUATION_TABLE = str.maketrans("", "", string.punctuation)
_PUNCTUATION_AND_SPACE_TABLE = str.maketrans("", "", string.punctuation + string.whitespace)
_WHITESPACE_RUN = re.compile(r"\s+")


def nfc(text: str) -> str:
    """Unicode NFC (SlimPajama-DC §2.2: "NFC normalization")."""
    return unicodedata.normalize("NFC", text)


def content_length(text: str) -> int:
    """Characters left after removing ASCII punctuation and whitespace (SlimPajama ``filter.py``)."""
    return len(text.translate(_PUNCTUATION_AND_SPACE_TABLE))


def normalize_for_hashing(text: str) -> str:
    """Lowercase, drop ASCII punctuation, collapse whitespace runs to one space, strip the ends.

    Exactly SlimPajama's ``get_features`` before it forms n-grams.
    """
    lowered = text.lower().translate(_PUNCTUATION_TABLE)
    return _WHITESPACE_RUN.sub(" ", lowered.strip())


def char_ngrams(normalized: str, ngram_size: int) -> list[str]:
    """The character n-grams of a normalised string (reference implementation used by tests and
    benchmarks; the signature kernel hashes n-grams without building these strings).

    A string shorter than ``ngram_size`` yields itself as its one shingle (so it still has a
    signature; SlimPajama's filter removes such documents before hashing anyway).
    """
    if len(normalized) < ngram_size:
        return [normalized]
    return [normalized[i:i + ngram_size] for i in range(len(normalized) - ngram_size + 1)]


def word_ngrams(normalized: str, ngram_size: int) -> list[str]:
    """Word n-grams (words split on single spaces of the normalised text), joined by one space."""
    words = normalized.split(" ") if normalized else []
    if len(words) < ngram_size:
        return [" ".join(words)]
    return [" ".join(words[i:i + ngram_size]) for i in range(len(words) - ngram_size + 1)]


def arrow_texts(batch, column: str) -> list:
    """The strings of ``column``; invalid UTF-8 (Spark strings can hold any bytes, e.g. cast from
    binary) is decoded with U+FFFD replacement characters instead of failing the task, so such a
    document is still hashed on its valid text. The ``kept`` output keeps the original value."""
    import pyarrow as pa

    array = batch.column(batch.schema.get_field_index(column))
    try:
        return array.to_pylist()
    except UnicodeDecodeError:
        raw = array.cast(pa.binary()).to_pylist()
        return [None if b is None else b.decode("utf-8", errors="replace") for b in raw]
