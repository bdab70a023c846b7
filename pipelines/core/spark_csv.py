"""A local CSV file read in the driver exactly as Spark reads it with :func:`lakehouse.csv_reader` (header,
RFC 4180 quoting, UTF-8, FAILFAST, ``inferSchema``), or None when this module cannot be sure.

Why: Spark infers a CSV's schema with one job and reads it with another, ~0.1-0.3 s each however small
the file; on a lake of dozens of small CSVs that is most of the containment profile
(bench/results/containment_real.md). The answer must stay Spark's, because Spark reads the same tables
in the Spark engine, in ``apply`` and in ``restore``.

What is reproduced (Spark's ``CSVInferSchema.inferField`` and ``UnivocityParser``, default options):

* a field is null when empty (quoted or not: ``nullValue`` and ``emptyValue`` are both ``""``);
* a column is ``int`` when every value parses with ``Integer.parseInt``, ``bigint`` with ``Long.parseLong``,
  ``double`` when the values are integers and decimals with a fraction (``BigDecimal`` scale > 0),
  ``boolean`` for ``true``/``false`` in any case, and ``string`` otherwise or when every value is null;
* values are then parsed in that type (a decimal text to the nearest double, as ``Double.parseDouble``).

The result is None (the caller asks Spark) whenever a value could take a path of Spark's inference that
is not reproduced here: text a date or timestamp parser could accept (the structure of Spark's
``parseTimestampString``, checked loosely), ``NaN``/``Inf``/hex/suffixed or space-padded numbers that
``Double.parseDouble`` accepts, integers beyond 64 bits or exponents with a non-positive scale (Spark's
decimal inference), non-ASCII digits, a ``\\r`` in the file (line-separator detection), invalid UTF-8,
an empty or duplicate header, a ragged or malformed row, or a quote after leading spaces. The reader's
answer is tested against Spark's on designed and real files (tests/integration/test_spark_csv.py).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

BOM = b"\xef\xbb\xbf"
MAX_BYTES = 256 * 1024 * 1024
INT32 = (-(2 ** 31), 2 ** 31 - 1)

# the classes of a non-null value, as pyarrow regular expressions over the raw field (no trimming, as Spark)
INTEGER_TEXT = r"^[+-]?[0-9]+$"  # what Integer.parseInt / Long.parseLong read, ASCII digits
_DECIMAL = r"^[+-]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?[0-9]+[eE][+-]?[0-9]+$"
_BOOLEAN = r"^(?i:true|false)$"
# what Double.valueOf accepts (its documented grammar), after Java's trim of chars <= ' '
_JAVA_DOUBLE = re.compile(
    r"[\x00-\x20]*[+-]?(NaN|Infinity|(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[fFdD]?)"
    r"|(0[xX]([0-9a-fA-F]+\.?|[0-9a-fA-F]*\.[0-9a-fA-F]+)[pP][+-]?[0-9]+[fFdD]?))[\x00-\x20]*", re.S)
_SPECIAL = {"NaN", "Inf", "-Inf"}  # CSVOptions' nanValue, positiveInf, negativeInf


@dataclass(frozen=True)
class SparkCsv:
    """A CSV's columns as Spark infers them (``fields``: name, Spark type) and its rows as Arrow."""

    fields: tuple[tuple[str, str], ...]
    table: pa.Table

    def spark_schema(self):
        from pyspark.sql import types as T

        types = {"int": T.IntegerType(), "bigint": T.LongType(), "double": T.DoubleType(),
                 "boolean": T.BooleanType(), "string": T.StringType()}
        return T.StructType([T.StructField(n, types[t], True) for n, t in self.fields])


def _spark_trimmed(value: str) -> bytes:
    """``value``'s UTF-8 bytes without what Spark's date-time parsers trim, trimmed generously (every byte
    <= 0x20, 0x7f and every non-ASCII byte): trimming more only makes more values doubtful."""
    raw = value.encode("utf-8")
    lo, hi = 0, len(raw)
    while lo < hi and (raw[lo] <= 0x20 or raw[lo] >= 0x7f):
        lo += 1
    while hi > lo and (raw[hi - 1] <= 0x20 or raw[hi - 1] >= 0x7f):
        hi -= 1
    return raw[lo:hi]


def maybe_datetime(value: str) -> bool:
    """False only when neither Spark's timestamp parser (``parseTimestampString``: ``[+-]yyyy*[-[m]m[-[d]d]]``,
    a time ``[h]h:[m]m...`` after ' ' or 'T', a time alone, a zone) nor its ``yyyy-MM-dd`` date parser can
    accept ``value``. Segment values, calendar validity and zone names are not checked (any may be valid),
    so True means "perhaps", never "yes"."""
    b = _spark_trimmed(value)
    if not b:
        return False
    j, seg, digits = 0, 0, 0
    if b[0] in b"+-":
        j = 1
    if j == 0 and b[:1] == b"T":
        return len(b) > 1 and 0x30 <= b[1] <= 0x39  # a time alone: 'T[h]h[:[m]m...]'
    while j < len(b):
        c = b[j]
        if 0x30 <= c <= 0x39:
            digits += 1
            j += 1
            continue
        if seg < 2:
            if c == 0x2D:  # '-'
                if not ((seg == 0 and 4 <= digits <= 7) or (seg == 1 and 0 < digits <= 2)):
                    return False
            elif seg == 0 and c == 0x3A:  # ':' : a time alone '[h]h:[m]m...'
                return 0 < digits <= 2
            else:
                return False
        elif seg == 2:
            # after '[+-]yyyy-[m]m-[d]d' a ' ' or 'T' may lead anything (a date takes it, a timestamp may)
            return c in b" T" and 0 < digits <= 2
        seg, digits = seg + 1, 0
        j += 1
    return (seg == 0 and 4 <= digits <= 7) or (seg in (1, 2) and 0 < digits <= 2)


def _doubtful(value: str) -> bool:
    """True when Spark's inference could give ``value`` a path this module does not reproduce."""
    if value in _SPECIAL or (not value.isascii() and any(ch.isdigit() and not ch.isascii() for ch in value)):
        return True  # Integer.parseInt and BigDecimal read every Unicode digit
    if _JAVA_DOUBLE.fullmatch(value) is not None:
        return True  # a number only Double.parseDouble reads (space-padded, 1d, 0x1p3, NaN, Infinity)
    if re.match(r"^\s+\"", value):
        return True  # a quote after leading spaces: the CSV parsers may disagree
    return maybe_datetime(value)


def plain_integers(texts: pa.Array) -> pa.Array | None:
    """Texts of the form ``[+-]digits`` (ASCII; nulls stay null) as their 64-bit values, or None when one is
    beyond 64 bits: ``Integer.parseInt`` / ``Long.parseLong``'s and Spark's ``try_cast`` reading of them alike."""
    try:
        return pc.cast(pc.replace_substring_regex(texts, r"^\+", ""), pa.int64())
    except pa.ArrowInvalid:
        return None


def _decimal_scale_positive(values: pa.Array) -> bool:
    """Every decimal text of ``values`` has a ``BigDecimal`` scale > 0 (Spark infers ``double`` for them only)."""
    has_exponent = pc.match_substring_regex(values, r"[eE]")
    plain = values.filter(pc.invert(has_exponent))
    if pc.all(pc.match_substring_regex(plain, r"\.[0-9]+$")).as_py() not in (True, None):
        return False  # '1.': scale 0
    for text in values.filter(has_exponent).to_pylist():
        mantissa, _, exp = text.lower().partition("e")
        frac = mantissa.split(".", 1)[1] if "." in mantissa else ""
        if len(frac) - (int(exp) if exp else 0) <= 0:
            return False
    return True


def _column_type(values: pa.Array) -> str | None:
    """Spark's inferred type of one column of raw texts (null: empty), or None when not sure."""
    present = pc.unique(values.filter(pc.is_valid(values)))  # the type depends on the distinct texts only
    if len(present) == 0:
        return "string"
    is_int = pc.match_substring_regex(present, INTEGER_TEXT)
    is_dec = pc.and_not(pc.match_substring_regex(present, _DECIMAL), is_int)
    is_bool = pc.match_substring_regex(present, _BOOLEAN)
    other = present.filter(pc.invert(pc.or_(pc.or_(is_int, is_dec), is_bool)))
    if any(_doubtful(v) for v in other.to_pylist()):
        return None
    ints = present.filter(is_int)
    parsed = plain_integers(ints)
    if parsed is None:  # beyond 64 bits Spark infers a decimal (order-dependent): not reproduced
        return None
    decs = present.filter(is_dec)
    if len(decs) and not _decimal_scale_positive(decs):
        return None  # '1e5', '1.', '1.5e3': Spark infers a decimal
    if len(other):
        return "string"
    n_bool = pc.sum(is_bool).as_py() or 0
    if n_bool:
        return "boolean" if n_bool == len(present) else "string"
    if len(decs):
        return "double"
    lo, hi = pc.min(parsed).as_py(), pc.max(parsed).as_py()
    return "int" if INT32[0] <= lo and hi <= INT32[1] else "bigint"


def _typed(values: pa.Array, spark_type: str) -> pa.Array:
    if spark_type == "string":
        return values.cast(pa.string())  # the type Spark's toArrow gives
    if spark_type == "boolean":
        return pc.equal(pc.utf8_lower(values), "true")
    unsigned = pc.replace_substring_regex(values, r"^\+", "")
    return pc.cast(unsigned, {"int": pa.int32(), "bigint": pa.int64(), "double": pa.float64()}[spark_type])


def _rows(text: str) -> list[list[str]] | None:
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"',
                                          doublequote=True, strict=True) if row]
    except csv.Error:
        return None


def read(path: str | Path, max_bytes: int = MAX_BYTES) -> SparkCsv | None:
    """``path`` (one local CSV file) as Spark reads it, or None when not sure (see the module docstring)."""
    p = Path(path)
    if not p.is_file() or p.stat().st_size > max_bytes:
        return None
    data = p.read_bytes()
    if b"\r" in data:
        return None
    if data.startswith(BOM):
        data = data[len(BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # Spark replaces invalid bytes; not reproduced
    rows = _rows(text)
    if not rows:
        return None
    header, body = rows[0], rows[1:]
    lowered = [h.lower() for h in header]
    if any(h == "" for h in header) or len(set(lowered)) != len(lowered):
        return None  # Spark renames these (_c<i>, name<i>)
    width = len(header)
    if any(len(r) != width for r in body):
        return None  # FAILFAST: Spark's own error names the row
    fields, columns = [], []
    for name, texts in zip(header, zip(*body) if body else [() for _ in header]):
        raw = pa.array(texts, type=pa.large_string())
        raw = pc.if_else(pc.equal(raw, ""), pa.scalar(None, pa.large_string()), raw)
        spark_type = _column_type(raw)
        if spark_type is None:
            return None
        fields.append((name, spark_type))
        columns.append(_typed(raw, spark_type))
    return SparkCsv(tuple(fields), pa.table(columns, names=header))
