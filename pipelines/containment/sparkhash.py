"""The canonical row hash of :mod:`pipelines.containment.rowhash`, computed in the driver on Arrow data, bit for bit.

Recipes store a checksum that ``lakesieve containment apply`` and ``restore`` recompute with Spark over a
rebuilt table; the driver engine computes it for the deleted children it already holds as Arrow, so the
hash must be Spark's own: ``xxhash64(lit(SEED), canonical(c1), isnull(c1), ...)`` with Spark's seed 42,
chained as :mod:`udfs.spark_xxhash` reproduces it.

The canonical text of decimal values is Spark's definition: those values are converted by Spark, each
distinct value once, in one job (:func:`canonical_texts`); everything else is converted here exactly as
:func:`rowhash.canonical_parts` defines it (integers and booleans as longs, doubles as Spark's ``xxhash64``
hashes them plus a negative-zero flag, dates as days, timestamps as microseconds, strings as UTF-8), so a
lake without decimal columns is checksummed without any Spark job. Only the current checksum version
(:data:`rowhash.CHECKSUM_VERSION`) is computed here: recipes of older versions are verified by Spark
(:func:`rowhash.hash_rows` with their version).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.containment.rowhash import SEED
from pipelines.containment.types import family
from udfs.spark_xxhash import _MASK32, SPARK_SEED, hash_int, hash_long, hash_texts  # noqa: F401 - re-exported


def needs_spark_text(type_name: str) -> bool:
    """Decimals: their canonical text is Spark's (Java's) rendering."""
    return family(type_name) == "decimal"


def _double_bits(values: pa.Array) -> np.ndarray:
    d = values.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
    d[np.isnan(d)] = np.nan
    return d.view(np.int64)


def text_key(values: pa.Array) -> np.ndarray:
    """Per row, the key under which :func:`canonical_texts` returns a decimal's text: its Arrow text (a null
    value's key is meaningless: callers mask nulls)."""
    return values.cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False)


def canonical_texts(spark, values: Mapping[str, pa.Array]) -> dict[str, tuple[pa.Array, pa.Array]]:
    """For each decimal Spark type name and its values, the canonical text of each distinct
    value as :func:`rowhash.canonical_value` gives it, computed by Spark in one job: ``{type: (keys, texts)}``,
    the keys (as :func:`text_key` gives them) a sorted numpy array, the texts an Arrow array in their order."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from pipelines.containment.rowhash import canonical_value

    names = sorted(values)
    parts = []
    for i, type_name in enumerate(names):
        vals = pc.unique(pc.drop_null(values[type_name]))
        keys, spark_type = vals.cast(pa.string()), T._parse_datatype_string(type_name)
        schema = T.StructType([T.StructField("k", T.StringType()), T.StructField("v", spark_type)])
        frame = spark.createDataFrame(pa.table({"k": keys, "v": vals}), schema)
        parts.append(frame.select(F.lit(i).alias("part"), F.col("k").cast("string").alias("key"),
                                  canonical_value(F.col("v"), spark_type).alias("text")))
    if not parts:
        return {}
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p)
    got = union.toArrow()
    part = got.column("part").to_numpy()
    out = {}
    for i, type_name in enumerate(names):
        mine = got.filter(pa.array(part == i))
        keys = mine.column("key").combine_chunks().cast(pa.string()).to_numpy(zero_copy_only=False)
        order = np.argsort(keys, kind="stable")  # sorted once: each column's lookup is a binary search
        out[type_name] = (keys[order], mine.column("text").combine_chunks().take(pa.array(order)))
    return out


def row_hashes(table: pa.Table, columns: Sequence[str], types: Sequence[str],
               texts: Callable[[str, pa.Array], pa.Array]) -> np.ndarray:
    """Spark's ``rowhash.hash_rows`` of ``table``'s ``columns`` (given in canonical order, of Spark ``types``),
    as signed 64-bit integers; ``texts(type, values)`` gives the canonical text of the values that need it
    (:func:`needs_spark_text`)."""
    n = table.num_rows
    h = hash_int(np.full(n, SEED, dtype=np.int64), np.full(n, SPARK_SEED, dtype=np.uint64))
    for name, type_name in zip(columns, types):
        values = table.column(name).combine_chunks()
        valid = np.asarray(values.is_valid())
        fam, t = family(type_name), type_name.strip().lower()
        if needs_spark_text(type_name):
            h = hash_texts(texts(type_name, values), h)
        elif fam == "float":  # Spark's xxhash64 of a double: its bits, -0.0 as 0.0; then the negative-zero flag
            bits = _double_bits(values)
            negative_zero = bits == np.int64(-0x8000000000000000)
            bits[negative_zero] = 0
            h = np.where(valid, hash_long(bits, h), h)
            h = np.where(valid, hash_int(negative_zero.astype(np.int64), h), h)
        elif fam == "string":
            h = hash_texts(values, h)
        else:
            if t in ("timestamp", "timestamp_ntz"):
                ints = values.cast(pa.timestamp("us"), safe=False).cast(pa.int64())
            elif t == "date":
                ints = values.cast(pa.int32()).cast(pa.int64())
            else:  # integers and booleans as longs
                ints = values.cast(pa.int64())
            v = ints.fill_null(0).to_numpy(zero_copy_only=False)
            h = np.where(valid, hash_long(v, h), h)
        h = hash_int((~valid).astype(np.int64), h)  # isNull: a boolean, hashInt(1 or 0)
    return h.view(np.int64)


def checksums(spark, data: Mapping[str, pa.Table], columns: Mapping[str, Sequence[str]],
              types: Mapping[str, Mapping[str, str]], keyed: Sequence[str] = ()) -> tuple[dict, dict]:
    """For each table of ``data``: (rows, checksum text) over its ``columns`` (canonical order), as
    :func:`rowhash.checksum_columns` computes them in Spark; for the tables in ``keyed``, their row keys
    (distinct row hash, count), ascending, as the Spark recipes frame sorts them. Spark is asked only for
    the canonical text of decimal values, in one job for all tables."""
    from pipelines.containment.rowhash import format_checksum

    wanted: dict[str, list[pa.Array]] = {}
    for t, cols in columns.items():
        for c in cols:
            if needs_spark_text(types[t][c]):
                wanted.setdefault(types[t][c], []).append(data[t].column(c).combine_chunks())
    maps = canonical_texts(spark, {ty: pa.concat_arrays(arrs) for ty, arrs in wanted.items()}) if wanted else {}

    def texts(type_name: str, values: pa.Array) -> pa.Array:
        keys, known = maps[type_name]
        valid = np.asarray(values.is_valid())
        wanted = text_key(values)
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1) if len(keys) else np.zeros(len(wanted), np.int64)
        if valid.any() and (len(keys) == 0 or (keys[at[valid]] != wanted[valid]).any()):
            raise RuntimeError(f"checksums: a {type_name} value without its text")  # never hash it as a null
        return known.take(pa.array(at, pa.int64(), mask=~valid))

    sums, keys = {}, {}
    for t, cols in columns.items():
        h = row_hashes(data[t], cols, [types[t][c] for c in cols], texts)
        u = h.view(np.uint64)
        high = int((u >> np.uint64(32)).sum(dtype=np.uint64))
        low = int((u & _MASK32).sum(dtype=np.uint64))
        sums[t] = (len(h), format_checksum(len(h), high, low))
        if t in keyed:
            values, counts = np.unique(h, return_counts=True)
            keys[t] = [(int(v), int(n)) for v, n in zip(values, counts)]
    return sums, keys
