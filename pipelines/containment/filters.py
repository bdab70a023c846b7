"""The range predicates a ``filter`` recipe tries (R2D2 §5): built from the child's exact ranges, rendered as
Spark SQL (what the recipe stores and a rebuild runs) and, for the driver engine, evaluated on Arrow data
with Spark's semantics, so a trial counts the same rows in either place.

Spark's comparison semantics kept here: NaN equals NaN and is above every other value (so ``x >= l`` holds for
a NaN ``x`` and ``x <= l`` does not), -0.0 equals 0.0, a comparison with a null is null (the row is not
kept), strings compare by their UTF-8 bytes, a ``FLOAT`` literal is the float nearest its text (evaluated in
the driver only when the bound is a float exactly; otherwise the trial is left to Spark).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.containment.profile import ColumnProfile
from pipelines.containment.types import family


def quote_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _string_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_literal(value: float | str, type_name: str) -> str | None:
    """An exact Spark SQL literal of a profile bound for a column of ``type_name``, or None."""
    fam = family(type_name)
    if fam == "int":
        return str(int(value)) if type_name.lower() != "boolean" else None
    if fam == "float":
        if not math.isfinite(value):
            return None
        return f"CAST('{float(value)!r}' AS {type_name.upper()})"
    if fam == "string":
        return _string_literal(str(value))
    if fam == "date":
        return f"DATE '{(dt.date(1970, 1, 1) + dt.timedelta(days=int(value))).isoformat()}'"
    if type_name.lower() == "boolean":
        return "true" if value else "false"
    return None  # decimals and timestamps: profile bounds are doubles, not exact literals


@dataclass(frozen=True)
class Bound:
    op: str                 # '>=' or '<='
    value: float | str
    type_name: str          # the parent column's type: the literal's type

    def sql(self, column: str) -> str:
        return f"{quote_identifier(column)} {self.op} {sql_literal(self.value, self.type_name)}"


@dataclass(frozen=True)
class ColumnCondition:
    """Rows of the parent kept on one column: its bounds hold (or it is null, with ``or_null``), or, without
    bounds, it is not null (``not_null``)."""

    column: str
    bounds: tuple[Bound, ...] = ()
    or_null: bool = False
    not_null: bool = False

    def sql(self) -> str:
        q = quote_identifier(self.column)
        if not self.bounds:
            return f"{q} IS NOT NULL"
        cond = " AND ".join(b.sql(self.column) for b in self.bounds)
        return f"({cond} OR {q} IS NULL)" if self.or_null else cond


def column_condition(child: ColumnProfile, parent: ColumnProfile, pname: str) -> ColumnCondition | None:
    """The narrowest condition on parent column ``pname`` that the child's range implies, or None."""
    if (family(child.data_type) == "string") != (family(parent.data_type) == "string"):
        return None  # text against typed values: the orders differ ('10' < '9'), no range condition
    bounds = []
    cmin = child.min_num if child.min_num is not None else child.min_str
    cmax = child.max_num if child.max_num is not None else child.max_str
    pmin = parent.min_num if parent.min_num is not None else parent.min_str
    pmax = parent.max_num if parent.max_num is not None else parent.max_str
    if cmin is not None and child.min_exact and (pmin is None or cmin > pmin or not parent.min_exact):
        if sql_literal(cmin, parent.data_type) is not None:
            bounds.append(Bound(">=", cmin, parent.data_type))
    if cmax is not None and child.max_exact and (pmax is None or cmax < pmax or not parent.max_exact):
        if sql_literal(cmax, parent.data_type) is not None:
            bounds.append(Bound("<=", cmax, parent.data_type))
    child_nulls = child.null_count or 0
    parent_nulls = parent.null_count if parent.null_count is not None else 1
    if not bounds:
        return ColumnCondition(pname, not_null=True) if child_nulls == 0 and parent_nulls > 0 else None
    return ColumnCondition(pname, tuple(bounds), or_null=child_nulls > 0)


def predicate_sql(conditions: tuple[ColumnCondition, ...]) -> str | None:
    return " AND ".join(c.sql() for c in conditions) if conditions else None


# ---- evaluated on Arrow (the driver engine) ---------------------------------------------------------------

def _literal(bound: Bound):
    """The literal as a pyarrow scalar of the column's type, or None when only Spark reads it exactly."""
    t, fam = bound.type_name.strip().lower(), family(bound.type_name)
    if fam == "int":
        return pa.scalar(int(bound.value), pa.int64())
    if fam == "float":
        v = float(bound.value)
        if t in ("float", "real"):
            if float(np.float32(v)) != v:
                return None  # Spark parses the text straight to a float: only exact when the bound is a float
            return pa.scalar(v, pa.float64())
        return pa.scalar(v, pa.float64())
    if fam == "string":
        return pa.scalar(str(bound.value), pa.large_string())
    if fam == "date":
        return pa.scalar(int(bound.value), pa.int32())
    if t == "boolean":
        return pa.scalar(bool(bound.value))
    return None


def _values(column: pa.Array, type_name: str) -> pa.Array:
    fam, t = family(type_name), type_name.strip().lower()
    if fam == "int":
        return column.cast(pa.int64())
    if fam == "float":
        return column.cast(pa.float64())
    if fam == "string":
        return column.cast(pa.large_string())
    if t == "date":
        return column.cast(pa.int32())
    return column


def evaluable(conditions: tuple[ColumnCondition, ...]) -> bool:
    """True when every literal of the predicate can be read in the driver exactly as Spark reads it."""
    return all(_literal(b) is not None for c in conditions for b in c.bounds)


def matching_rows(data: pa.Table, conditions: tuple[ColumnCondition, ...]) -> int:
    """How many rows of ``data`` (the parent's columns, Arrow types of their Spark types) the predicate keeps."""
    keep = pa.array(np.ones(data.num_rows, dtype=bool))
    for c in conditions:
        raw = data.column(c.column).combine_chunks()
        if not c.bounds:
            keep = pc.and_(keep, raw.is_valid())
            continue
        type_name = c.bounds[0].type_name
        values = _values(raw, type_name)
        ok = pa.array(np.ones(data.num_rows, dtype=bool))
        for b in c.bounds:
            test = pc.greater_equal(values, _literal(b)) if b.op == ">=" else pc.less_equal(values, _literal(b))
            if family(type_name) == "float":  # Spark: NaN is above every number
                test = pc.if_else(pc.is_nan(values), pa.scalar(b.op == ">="), test)
            ok = pc.and_(ok, pc.fill_null(test, False))
        if c.or_null:
            ok = pc.or_(ok, raw.is_null())
        keep = pc.and_(keep, ok)
    return int(pc.sum(keep.cast(pa.int64())).as_py() or 0)


def count_trials(source, trials) -> dict[int, int]:
    """For the trials (parent, conditions) the driver can evaluate exactly: trial index -> parent rows kept.
    Each parent is read once (``source.read_arrow``: the columns all its trials name)."""
    by_parent: dict[str, list[int]] = {}
    for i, (parent, conds) in enumerate(trials):
        if evaluable(conds):
            by_parent.setdefault(parent, []).append(i)
    out = {}
    for parent, idx in sorted(by_parent.items()):
        columns = sorted({c.column for i in idx for c in trials[i][1]})
        data = source.read_arrow(parent, columns, {})
        for i in idx:
            out[i] = matching_rows(data, trials[i][1])
    return out
