"""Type families: when a child column may be contained in a parent column of another type (R2D2 §3).

Containment is decided *by value*, not by declared width: a copy of a table whose writer chose
``int`` where the original has ``bigint`` (or the reverse, or a CSV whose types Spark inferred)
holds the same data. :func:`compare_type` names the type in which a child and a parent column are
compared; a child is contained only when its rows, in those types, are a sub-bag of the parent's,
and its recipe rebuilds it by casting the parent's columns back to the child's types (exact for
every matched value; the recipe's checksum verifies it after each rebuild). The rules:

* numbers of one kind compare in the wider type, either direction: byte/short/int/bigint as
  ``bigint``; float/double as ``double`` (a float widens to a double exactly, so a double equals a
  float only when it is that float bit for bit); decimals as a decimal wide enough for both;
  integers with decimals as a decimal;
* integers with floating point compare as ``double``: exact while the integers' bounds stay within
  2^53 (min-max pruning drops the pair otherwise, :mod:`pipelines.containment.minmax`);
* a string child and a typed parent compare as text (the parent's value cast to string, Spark's
  canonical text: what a rebuild gives back);
* a typed child and a string parent (a CSV copy whose types Spark inferred, kept as text in the
  original) compare in the child's type: the parent's text is parsed (``try_cast``); text that does
  not parse matches nothing;
* boolean, date, timestamp and timestamp_ntz compare only with their own type. Decimals with
  floating point, dates with timestamps: different data (the value's text changes).
"""
from __future__ import annotations

import re

_INT_RANK = {"tinyint": 1, "byte": 1, "smallint": 2, "short": 2, "int": 3, "integer": 3, "bigint": 4, "long": 4}
_FLOAT_RANK = {"float": 1, "real": 1, "double": 2}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
_SIMPLE = {"string": "string", "boolean": "boolean", "date": "date", "timestamp": "timestamp",
           "timestamp_ntz": "timestamp_ntz"}


def int_bits(type_name: str) -> int:
    """The width in bits of an integer type (tinyint 8 ... bigint 64)."""
    return 4 << _INT_RANK[type_name.strip().lower()]


def family(type_name: str) -> str | None:
    """The family of a Spark type's simple string, or None when containment does not support it."""
    t = type_name.strip().lower()
    if t in _INT_RANK:
        return "int"
    if t in _FLOAT_RANK:
        return "float"
    if _DECIMAL.match(t):
        return "decimal"
    if t.startswith(("varchar(", "char(")):
        return "string"
    return _SIMPLE.get(t)


def unsupported_reason(type_name: str) -> str | None:
    """Why a column type is not supported (maps, binary, nested, intervals), or None when it is."""
    if family(type_name) is not None:
        return None
    t = type_name.lower()
    if t.startswith("map<"):
        return "map columns are not supported"
    if t == "binary":
        return "binary columns are not supported"
    if t.startswith(("array<", "struct<")):
        return "nested (array/struct) columns are not supported"
    return f"column type {type_name} is not supported"


def widens_to(child: str, parent: str) -> bool:
    """True when every value of type ``child`` is, unchanged, a value of type ``parent``."""
    c, p = child.strip().lower(), parent.strip().lower()
    if c == p:
        return family(c) is not None
    fc, fp = family(c), family(p)
    if fc is None or fc != fp:
        return False
    if fc == "int":
        return _INT_RANK[c] <= _INT_RANK[p]
    if fc == "float":
        return _FLOAT_RANK[c] <= _FLOAT_RANK[p]
    if fc == "decimal":
        (pc, sc), (pp, sp) = (tuple(map(int, _DECIMAL.match(x).groups())) for x in (c, p))
        return sp >= sc and (pp - sp) >= (pc - sc)
    if fc == "string":
        return p == "string"
    return False


DOUBLE_EXACT_INT = 2 ** 53  # integers up to this magnitude are exact as doubles


def _decimal(t: str) -> tuple[int, int] | None:
    m = _DECIMAL.match(t)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _common_decimal(a: tuple[int, int], b: tuple[int, int]) -> str:
    scale = max(a[1], b[1])
    return f"decimal({min(38, max(a[0] - a[1], b[0] - b[1]) + scale)},{scale})"


def compare_type(child: str, parent: str) -> str | None:
    """The Spark type in which a ``child`` column and a ``parent`` column are compared, or None when
    their values are different data (see the module docstring)."""
    c, p = child.strip().lower(), parent.strip().lower()
    fc, fp = family(c), family(p)
    if fc is None or fp is None:
        return None
    if c == p:
        return c
    if fc == fp == "string":
        return "string"
    if fc == "string":
        return "string"                   # typed parent rendered as text
    if fp == "string":
        return c                          # the parent's text parsed into the child's type
    numeric = {"int", "float", "decimal"}
    if fc not in numeric or fp not in numeric:
        return None                       # boolean / date / timestamp only with their own type
    if fc == fp == "int":
        return "bigint"
    if "decimal" in (fc, fp):
        if "float" in (fc, fp):
            return None
        return _common_decimal(_decimal(c) or (19, 0), _decimal(p) or (19, 0))
    return "double"                       # float/float, int/float


def parses(source: str, target: str) -> bool:
    """True when reading a ``source`` value as ``target`` parses text (may fail: ``try_cast``)."""
    return family(source) == "string" and family(target) != "string"


def needs_int_bound(source: str, target: str) -> bool:
    """True when an integer column is compared as a double: exact only within 2^53."""
    return family(source) == "int" and target.strip().lower() == "double"
