"""Type families and widening: when a child's column type may be read as the parent's (R2D2 §3).

A child column is compatible with a parent column when the types are equal or the child's widens to
the parent's without changing any value: byte < short < int < bigint, float < double,
decimal(p, s) < decimal(p', s') with s' >= s and p'-s' >= p-s, char/varchar < string. Crossing
families (int -> double, date -> timestamp) is not widening here: the value's text changes, and
R2D2 counts such tables as different data.
"""
from __future__ import annotations

import re

_INT_RANK = {"tinyint": 1, "byte": 1, "smallint": 2, "short": 2, "int": 3, "integer": 3, "bigint": 4, "long": 4}
_FLOAT_RANK = {"float": 1, "real": 1, "double": 2}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
_SIMPLE = {"string": "string", "boolean": "boolean", "date": "date", "timestamp": "timestamp",
           "timestamp_ntz": "timestamp_ntz"}


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
