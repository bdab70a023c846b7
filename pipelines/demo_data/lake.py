"""The demo lake for the containment stage: 50+ Delta, Parquet and CSV tables with known containments.

Designed containments (R2D2's redundancy kinds, Shah et al. SIGMOD 2024 §2): exact copies (also
across formats), projections, row filters, projections of filters, distinct projections, random
row samples, widened types (int -> bigint, float -> double, decimal(10,2) -> decimal(12,2)) and
union parts (each month is contained in the union). Near-misses that must *not* be reported: one
value changed, one value outside the parent's range, a renamed column, a duplicated row (bag
semantics), a cross-family type (int -> double), a month missing from the union, rounded decimals.
Plus unusable tables (empty, a map column, a binary column) that the profile must skip.

``ground_truth()`` lists every designed containment and near-miss, and every containment that
holds between any two usable tables (computed independently of Spark by :func:`bag_contained` on
the pandas frames), so tests can measure precision and recall. The table ``_ground_truth`` is
written with the lake (its leading ``_`` keeps the stage from profiling it).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from pipelines.containment.types import compare_type
from pipelines.demo_data import DemoTable

# (parent, child, what it is) for every designed containment; (parent, child, why not) for near-misses.
DESIGNED: list[tuple[str, str, str]] = []
NEAR_MISSES: list[tuple[str, str, str]] = []
SKIPPED: dict[str, str] = {"bad/empty_orders": "empty", "bad/with_map": "map", "bad/with_binary": "binary"}


def _ddl(types: dict[str, str]) -> str:
    return ", ".join(f"`{c}` {t}" for c, t in types.items())


class _Lake:
    def __init__(self) -> None:
        self.tables: list[DemoTable] = []
        self.types: dict[str, dict[str, str]] = {}
        self.frames: dict[str, pd.DataFrame] = {}

    def add(self, name: str, frame: pd.DataFrame, types: dict[str, str], fmt: str = "delta",
            partition_by: tuple[str, ...] = ()) -> str:
        frame = frame[list(types)].reset_index(drop=True)
        table_id = name + ".csv" if fmt == "csv" else name
        # CSV is written by pandas and read back with Spark's inferSchema: ``types`` is what Spark infers.
        self.tables.append(DemoTable(name, frame, fmt, None if fmt == "csv" else _ddl(types), tuple(partition_by)))
        self.types[table_id] = dict(types)
        self.frames[table_id] = frame
        return table_id


def _orders(rng) -> pd.DataFrame:
    n = 300
    return pd.DataFrame({
        "order_id": np.arange(1001, 1001 + n, dtype=np.int64),
        "customer_id": rng.integers(1, 81, n).astype(np.int32),
        "region": rng.choice(["EU", "US", "APAC"], n),
        "order_date": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 180, n)],
        "amount": np.round(rng.uniform(5, 1000, n), 2),
        "qty": rng.integers(1, 11, n).astype(np.int32),
        "status": rng.choice(["new", "paid", "shipped", "returned"], n),
    })


def generate(seed: int = 0) -> list[DemoTable]:
    lake, truth = build(seed)
    return lake.tables + [DemoTable("_ground_truth", truth, "delta",
                                    "parent string, child string, kind string, designed boolean, description string")]


def build(seed: int = 0) -> tuple[_Lake, pd.DataFrame]:
    """The lake's tables and its ground-truth frame."""
    DESIGNED.clear()
    NEAR_MISSES.clear()
    rng = np.random.default_rng(seed)
    lake = _Lake()

    def contained(parent: str, child: str, what: str) -> None:
        DESIGNED.append((parent, child, what))

    def near(parent: str, child: str, why: str) -> None:
        NEAR_MISSES.append((parent, child, why))

    # -- orders: copies, projections, filters, projections of filters ---------------------------------
    o_types = {"order_id": "bigint", "customer_id": "int", "region": "string", "order_date": "date",
               "amount": "double", "qty": "int", "status": "string"}
    orders = _orders(rng)
    P = lake.add("sales/orders", orders, o_types, partition_by=("region",))
    contained(P, lake.add("marts/orders_copy", orders, o_types), "exact copy (Delta)")
    csv_types = dict(o_types, order_id="int")
    contained(P, lake.add("exports/orders_copy", orders, csv_types, "csv"), "exact copy as CSV (order_id int -> bigint)")
    eu = orders[orders.region == "EU"]
    contained(P, lake.add("marts/orders_eu", eu, o_types, partition_by=("region",)), "row filter region = 'EU'")
    contained(P, lake.add("marts/orders_amounts", orders, {"order_id": "bigint", "amount": "double"}, "parquet"),
              "projection (order_id, amount)")
    contained(P, lake.add("marts/orders_eu_amounts", eu, {"order_id": "bigint", "region": "string", "amount": "double"}),
              "projection of a filter")
    q1 = orders[orders.order_date < dt.date(2024, 4, 1)]
    contained(P, lake.add("marts/orders_q1", q1, o_types), "row filter order_date < 2024-04-01")
    big = orders[orders.amount >= 500]
    contained(P, lake.add("marts/orders_big", big, {"order_id": "bigint", "customer_id": "int", "amount": "double"},
                          "parquet"), "projection of filter amount >= 500")
    contained(P, lake.add("marts/orders_customer_status", orders, {"customer_id": "int", "status": "string"}),
              "projection with duplicate rows (bag)")
    cr = orders[["customer_id", "region"]].drop_duplicates()
    contained(P, lake.add("marts/orders_customer_regions", cr, {"customer_id": "int", "region": "string"}),
              "distinct projection")
    sample = orders.sample(n=40, random_state=seed)
    contained(P, lake.add("marts/orders_sample", sample, o_types), "random sample of rows (no filter reproduces it)")
    us = orders[orders.region == "US"]
    contained(P, lake.add("exports/orders_us", us, {"customer_id": "int", "region": "string", "amount": "double"}, "csv"),
              "projection of filter region = 'US', as CSV")
    edited = eu.copy()
    edited.loc[edited.index[3], "amount"] = round(float(edited.iloc[3]["amount"]) + 0.01, 2)
    near(P, lake.add("marts/orders_eu_edited", edited, o_types), "one amount changed by 0.01, inside the range")
    oor = pd.concat([orders.iloc[:30], orders.iloc[[30]].assign(amount=1500.0)])
    near(P, lake.add("marts/orders_out_of_range", oor, o_types), "one amount above the parent's maximum")
    near(P, lake.add("marts/orders_renamed", orders.rename(columns={"amount": "amount_usd"}),
                     {"order_id": "bigint", "amount_usd": "double"}), "column amount renamed amount_usd")
    dup = pd.concat([eu, eu.iloc[[0]]])
    near(P, lake.add("marts/orders_eu_dup", dup, o_types), "one row duplicated: set-contained, not bag-contained")
    contained(P, lake.add("marts/orders_qty_double", orders.assign(qty=orders.qty.astype(np.float64)),
                          {"order_id": "bigint", "qty": "double"}), "qty as double: equal values, compared by value")
    half = orders.assign(qty=orders.qty.astype(np.float64))
    half.loc[half.index[7], "qty"] = float(half.iloc[7]["qty"]) + 0.5
    near(P, lake.add("marts/orders_qty_half", half, {"order_id": "bigint", "qty": "double"}),
         "qty as double with one value off by 0.5: no integer equals it")

    # -- order lines: widened types -------------------------------------------------------------------
    n = 400
    lines = pd.DataFrame({
        "line_id": np.arange(1, n + 1, dtype=np.int64),
        "order_id": rng.integers(1001, 1301, n).astype(np.int64),
        "sku": [f"SKU-{i:03d}" for i in rng.integers(0, 60, n)],
        "qty": rng.integers(1, 20, n).astype(np.int64),
        "unit_price": rng.integers(1, 400, n) * 0.25,
    })
    L = lake.add("sales/order_lines", lines, {"line_id": "bigint", "order_id": "bigint", "sku": "string",
                                              "qty": "bigint", "unit_price": "double"})
    narrow = lines[lines.order_id <= 1150].assign(line_id=lambda d: d.line_id.astype(np.int32),
                                                  qty=lambda d: d.qty.astype(np.int32),
                                                  unit_price=lambda d: d.unit_price.astype(np.float32))
    contained(L, lake.add("marts/order_lines_narrow", narrow, {"line_id": "int", "qty": "int", "unit_price": "float"}),
              "widened types int -> bigint, float -> double")
    contained(L, lake.add("marts/order_lines_prices", lines.assign(unit_price=lines.unit_price.astype(np.float32)),
                          {"sku": "string", "unit_price": "float"}, "parquet"), "projection with float -> double")
    narrow_edit = narrow.copy()
    narrow_edit.loc[narrow_edit.index[5], "unit_price"] = np.float32(narrow_edit.iloc[5]["unit_price"] + 0.125)
    near(L, lake.add("marts/order_lines_narrow_edited", narrow_edit, {"line_id": "int", "qty": "int", "unit_price": "float"}),
         "one price changed by 0.125 (inside the range)")

    # -- customers ------------------------------------------------------------------------------------
    n = 80
    customers = pd.DataFrame({
        "customer_id": np.arange(1, n + 1, dtype=np.int32),
        "name": [f"customer {i:02d}" for i in range(1, n + 1)],
        "country": rng.choice(["DE", "FR", "US", "JP"], n),
        "segment": rng.choice(["retail", "smb", "enterprise"], n),
        "signup_year": rng.integers(2015, 2025, n).astype(np.int32),
    })
    c_types = {"customer_id": "int", "name": "string", "country": "string", "segment": "string", "signup_year": "int"}
    C = lake.add("sales/customers", customers, c_types, "parquet")
    contained(C, lake.add("backup/customers_copy", customers, c_types), "exact copy (Parquet -> Delta)")
    contained(C, lake.add("exports/customers", customers, c_types, "csv"), "exact copy as CSV")
    contained(C, lake.add("marts/customers_de", customers[customers.country == "DE"], c_types), "row filter country = 'DE'")
    contained(C, lake.add("marts/customer_names", customers, {"customer_id": "int", "name": "string"}, "parquet"),
              "projection (customer_id, name)")
    c_edit = customers.copy()
    c_edit.loc[10, "name"] = "customer 11b"
    near(C, lake.add("backup/customers_edited", c_edit, c_types), "one name changed")
    near(C, lake.add("marts/customers_renamed", customers.rename(columns={"name": "full_name"}),
                     {"customer_id": "int", "full_name": "string"}), "column name renamed full_name")

    # -- events: union parts --------------------------------------------------------------------------
    e_types = {"event_id": "bigint", "user_id": "int", "event_type": "string", "ts": "timestamp",
               "duration_ms": "bigint", "score": "float"}

    def events(month: int, start_id: int) -> pd.DataFrame:
        k = 150
        base = pd.Timestamp(2024, month, 1)
        return pd.DataFrame({
            "event_id": np.arange(start_id, start_id + k, dtype=np.int64),
            "user_id": rng.integers(1, 50, k).astype(np.int32),
            "event_type": rng.choice(["view", "click", "buy"], k),
            "ts": [base + pd.Timedelta(microseconds=int(u)) for u in rng.integers(0, 27 * 86_400_000_000, k)],
            "duration_ms": rng.integers(10, 60_000, k).astype(np.int64),
            "score": (rng.integers(0, 1000, k) / 8.0).astype(np.float32),
        })

    jan, feb, mar = events(1, 1), events(2, 1001), events(3, 2001)
    union = pd.concat([jan, feb])
    U = lake.add("web/events_all", union, e_types)
    contained(U, lake.add("web/events_jan", jan, e_types), "union part (January)")
    contained(U, lake.add("web/events_feb", feb, e_types), "union part (February)")
    near(U, lake.add("archive/events_mar", mar, e_types), "a month that is not in the union")
    clicks = union[union.event_type == "click"]
    contained(U, lake.add("marts/events_clicks", clicks, e_types), "row filter event_type = 'click'")
    contained(U, lake.add("marts/events_scores", union, {"event_id": "bigint", "score": "float"}, "parquet"),
              "projection (event_id, score)")
    cl_edit = clicks.copy()
    cl_edit.loc[cl_edit.index[2], "ts"] = cl_edit.iloc[2]["ts"] + pd.Timedelta(microseconds=1)
    near(U, lake.add("marts/events_clicks_edited", cl_edit, e_types), "one timestamp moved by 1 microsecond")

    # -- employees (CSV parent) -----------------------------------------------------------------------
    n = 120
    employees = pd.DataFrame({
        "emp_id": np.arange(1, n + 1, dtype=np.int32),
        "dept": rng.choice(["eng", "ops", "sales"], n),
        "salary": np.round(rng.uniform(40_000, 150_000, n), 2),
        "level": rng.integers(1, 6, n).astype(np.int32),
    })
    h_types = {"emp_id": "int", "dept": "string", "salary": "double", "level": "int"}
    H = lake.add("hr/employees", employees, h_types, "csv")
    contained(H, lake.add("hr/employees_eng", employees[employees.dept == "eng"], h_types), "row filter dept = 'eng'")
    contained(H, lake.add("hr/salaries", employees, {"emp_id": "int", "salary": "double"}, "parquet"),
              "projection (emp_id, salary)")
    contained(H, lake.add("backup/employees", employees, h_types), "exact copy (CSV -> Delta)")
    raise_ = employees[["emp_id", "salary"]].copy()
    raise_.loc[raise_.salary.idxmax(), "salary"] = float(raise_.salary.max()) + 1.0
    near(H, lake.add("hr/salaries_raised", raise_, {"emp_id": "int", "salary": "double"}), "top salary raised above the max")

    # -- ledger: decimals -----------------------------------------------------------------------------
    n = 200
    cents = rng.integers(-500_000, 500_000, n)
    ledger = pd.DataFrame({
        "entry_id": np.arange(1, n + 1, dtype=np.int64),
        "account": rng.choice(["cash", "bank", "revenue", "costs"], n),
        "amount": [Decimal(int(c)).scaleb(-2) for c in cents],
        "booked": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 365, n)],
    })
    g_types = {"entry_id": "bigint", "account": "string", "amount": "decimal(12,2)", "booked": "date"}
    G = lake.add("finance/ledger", ledger, g_types)
    contained(G, lake.add("finance/ledger_2024q1", ledger[ledger.booked < dt.date(2024, 4, 1)], g_types),
              "row filter booked < 2024-04-01")
    contained(G, lake.add("finance/ledger_accounts", ledger, {"entry_id": "bigint", "account": "string",
                                                              "amount": "decimal(10,2)"}, "parquet"),
              "projection with decimal(10,2) -> decimal(12,2)")
    rounded = ledger.assign(amount=[a.quantize(Decimal("0.1")) for a in ledger.amount])
    near(G, lake.add("finance/ledger_rounded", rounded, {"entry_id": "bigint", "amount": "decimal(11,1)"}),
         "amounts rounded to 0.1")

    # -- stock: partitioned Parquet -------------------------------------------------------------------
    n = 120
    stock = pd.DataFrame({
        "sku": [f"SKU-{i:03d}" for i in range(n)],
        "warehouse": rng.choice(["W1", "W2", "W3"], n),
        "on_hand": rng.integers(0, 500, n).astype(np.int32),
        "price": np.round(rng.uniform(1, 300, n), 2),
    })
    s_types = {"sku": "string", "warehouse": "string", "on_hand": "int", "price": "double"}
    S = lake.add("inventory/stock", stock, s_types, "parquet", partition_by=("warehouse",))
    contained(S, lake.add("tmp/stock_copy", stock, s_types, "parquet"), "exact copy (partitioned -> flat Parquet)")
    contained(S, lake.add("marts/stock_w1", stock[stock.warehouse == "W1"], s_types), "row filter warehouse = 'W1'")
    neg = stock[["sku", "on_hand"]].copy()
    neg.loc[7, "on_hand"] = -1
    near(S, lake.add("marts/stock_negative", neg, {"sku": "string", "on_hand": "int"}), "one on_hand below the minimum")

    # -- unrelated tables and a cross-format copy -----------------------------------------------------
    n = 60
    weather = pd.DataFrame({
        "city": rng.choice(["Berlin", "Paris", "Tokyo"], n),
        "day": [dt.date(2024, 6, 1) + dt.timedelta(days=i) for i in range(n)],
        "temp": np.round(rng.normal(20, 5, n), 1),
    })
    w_types = {"city": "string", "day": "date", "temp": "double"}
    W = lake.add("misc/weather", weather, w_types)
    contained(W, lake.add("misc/weather_copy", weather, w_types, "csv"), "exact copy as CSV")
    lake.add("misc/station_ids", pd.DataFrame({"station": np.arange(10, dtype=np.int64)}), {"station": "bigint"})

    # -- tables the profile must skip -----------------------------------------------------------------
    lake.add("bad/empty_orders", orders.iloc[:0], o_types)
    lake.add("bad/with_map", pd.DataFrame({"id": np.arange(3, dtype=np.int64), "attrs": [{"a": "1"}, {"b": "2"}, {}]}),
             {"id": "bigint", "attrs": "map<string,string>"})
    lake.add("bad/with_binary", pd.DataFrame({"id": np.arange(3, dtype=np.int64), "payload": [b"\x00", b"\x01", b"\x02"]}),
             {"id": "bigint", "payload": "binary"}, "parquet")
    return lake, _truth_frame(lake)


# ---- an independent oracle: pandas multisets ----------------------------------------------------------

def _canon(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return ("ts", pd.Timestamp(value).value // 1000)
    if isinstance(value, Decimal):
        return ("dec", value.normalize())
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return ("nan",) if f != f else f + 0.0
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _rows(frame: pd.DataFrame, cols: list[str]) -> Counter:
    return Counter(tuple(_canon(v) for v in row) for row in frame[cols].itertuples(index=False, name=None))


def schema_compatible(child_types: dict[str, str], parent_types: dict[str, str]) -> list[tuple[str, str]] | None:
    """[(child column, parent column)] when every child column has a parent column of a comparable type
    (:func:`pipelines.containment.types.compare_type`: either width, integers with doubles), else None."""
    lower = {c.lower(): c for c in parent_types}
    pairs = []
    for c, t in child_types.items():
        p = lower.get(c.lower())
        if p is None or compare_type(t, parent_types[p]) is None:
            return None
        pairs.append((c, p))
    return pairs


def bag_contained(child: pd.DataFrame, parent: pd.DataFrame, pairs: list[tuple[str, str]]) -> bool:
    """Every row of ``child`` appears in ``parent`` projected on the same columns, as often or more."""
    c = _rows(child, [a for a, _ in pairs])
    p = _rows(parent, [b for _, b in pairs])
    return all(p.get(row, 0) >= n for row, n in c.items())


def _truth_frame(lake: _Lake) -> pd.DataFrame:
    usable = {t: f for t, f in lake.frames.items() if not any(t.startswith(b) for b in SKIPPED)}
    designed = {(p, c): what for p, c, what in DESIGNED}
    rows = []
    for child, cf in sorted(usable.items()):
        for parent, pf in sorted(usable.items()):
            if child == parent:
                continue
            pairs = schema_compatible(lake.types[child], lake.types[parent])
            if pairs is not None and bag_contained(cf, pf, pairs):
                rows.append((parent, child, "contained", (parent, child) in designed,
                             designed.get((parent, child), "holds between two tables of the lake")))
    rows += [(p, c, "near_miss", True, why) for p, c, why in NEAR_MISSES]
    return pd.DataFrame(rows, columns=["parent", "child", "kind", "designed", "description"])
