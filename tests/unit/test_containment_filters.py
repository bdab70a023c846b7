"""Recipe filter predicates evaluated in the driver with Spark's semantics (designed rows, no JVM): NaN is
above every number, -0.0 equals 0.0, nulls fail a comparison unless the condition lets them through,
strings compare by UTF-8 bytes, and a FLOAT bound that is not a float is left to Spark."""
from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa

from pipelines.containment.filters import Bound, ColumnCondition, count_trials, evaluable, matching_rows, predicate_sql


def test_nan_is_above_every_number_and_minus_zero_equals_zero():
    data = pa.table({"d": pa.array([math.nan, -0.0, 0.5, None, 2.0], pa.float64())})
    ge = (ColumnCondition("d", (Bound(">=", 0.0, "double"),)),)
    le = (ColumnCondition("d", (Bound("<=", 0.0, "double"),)),)
    assert matching_rows(data, ge) == 4  # NaN, -0.0, 0.5, 2.0 (the null fails)
    assert matching_rows(data, le) == 1  # -0.0 only: NaN is not <= 0.0
    both_or_null = (ColumnCondition("d", (Bound(">=", 0.5, "double"), Bound("<=", 2.0, "double")), or_null=True),)
    assert matching_rows(data, both_or_null) == 3  # 0.5, 2.0 and the null
    assert predicate_sql(both_or_null) == "(`d` >= CAST('0.5' AS DOUBLE) AND `d` <= CAST('2.0' AS DOUBLE) OR `d` IS NULL)"


def test_strings_dates_not_null_and_float_literals():
    data = pa.table({"s": pa.array(["Z", "a", "\u00e9", None]), "day": pa.array(
        [dt.date(2024, 1, 1), dt.date(1969, 12, 31), None, dt.date(2024, 1, 2)]),
        "f": pa.array([0.1, 1.5, None, 3.0], pa.float32())})
    assert matching_rows(data, (ColumnCondition("s", (Bound(">=", "a", "string"),)),)) == 2  # 'a' and 'é' (bytes)
    assert matching_rows(data, (ColumnCondition("day", (Bound("<=", 19723.0, "date"),)),)) == 2
    assert matching_rows(data, (ColumnCondition("s", not_null=True), ColumnCondition("day", not_null=True))) == 2
    exact = (ColumnCondition("f", (Bound(">=", 1.5, "float"),)),)
    inexact = (ColumnCondition("f", (Bound(">=", 0.1, "float"),)),)  # 0.1 is no float: Spark parses the text
    assert evaluable(exact) and matching_rows(data, exact) == 2
    assert not evaluable(inexact)

    class Source:
        reads = []

        def read_arrow(self, table, columns, expressions):
            self.reads.append((table, tuple(columns)))
            return data.select(list(columns))

    src = Source()
    got = count_trials(src, [("p", exact), ("p", inexact), ("p", (ColumnCondition("s", not_null=True),))])
    assert got == {0: 2, 2: 3} and src.reads == [("p", ("f", "s"))]  # one read of the parent; trial 1 to Spark
