"""The minhash stage in the driver: the same outputs as :func:`pipelines.minhash.transform.transform`, row for row,
for an input small enough to hold (``params.engine``; see :func:`in_driver`).

Measured on 5,811 real documents (57.7 M characters) before this engine: of a cold ``lakesieve run minhash``'s
~50 s, Spark's jobs around the signature kernel (the shuffle that spreads the text over the cores, a job and a
checkpoint per step, the text read twice) took more than the kernel itself. Here the text is read once by pyarrow
(:func:`pipelines.core.lakehouse.plain_scan_arrow`; else one ``toArrow``), the kernel
(:func:`udfs.minhash.signature_rows`, the one the Spark engine runs in its Python workers) runs in a pool of one
process per core, and the rest of the method (SlimPajama-DC §2.3: LSH buckets, star edges to a bucket's smallest id,
optional exact-Jaccard verification, connected components, one survivor per component) is numpy on arrays of id
ranks. The outputs are Arrow tables handed back as local relations (:func:`pipelines.core.local_frames.from_arrow`),
so small ones are committed by delta-rs. Incremental runs (``previous_index``) and ``local-then-global`` stay on
the Spark engine.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from pipelines.core import lakehouse
from pipelines.core.contract import NULL_ID, duplicate_ids_error
from pipelines.core.errors import ConfigError, DataError
from pipelines.core.local_frames import from_arrow
from pipelines.core.stepclock import StepClock
from pipelines.minhash.config import MinhashParams
from pipelines.minhash.steps import NO_SOURCE
from udfs import minhash as kernels
from udfs.text import arrow_texts

log = logging.getLogger("lakesieve.minhash")

# texts per task of the process pool: enough tasks to balance two to a few dozen cores
_CHUNKS_PER_WORKER = 4


def in_driver(documents: DataFrame, params: MinhashParams, previous_index: DataFrame | None) -> bool:
    """Whether ``params.engine`` runs the stage in the driver: 'driver' always (a ConfigError where it cannot),
    'auto' when the run is not incremental, the scope is global or local, the id is an integer or a string (whose
    order numpy reproduces) and Spark estimates the input at most ``params.driver_max_bytes``."""
    id_type = documents.schema["id"].dataType
    blockers = [why for why, blocked in (
        ("an incremental run (inputs.previous_index)", previous_index is not None),
        ("scope local-then-global", params.scope == "local-then-global"),
        (f"an id of type {id_type.simpleString()} (an integer or a string is needed)",
         not isinstance(id_type, (T.IntegralType, T.StringType)))) if blocked]
    if params.engine == "driver" and blockers:
        raise ConfigError(f"config key 'params.engine' is 'driver', but this run has {blockers[0]}; "
                          "use 'auto' or 'spark'")
    if params.engine != "auto":
        return params.engine == "driver"
    if blockers:
        return False
    size = lakehouse.input_bytes(documents)
    return size is not None and size <= params.driver_max_bytes


# --------------------------------------------------------------------------- the kernel in a process pool
def _pool_map(fn, chunks: list, kwargs: dict) -> list:
    """``[fn(chunk, **kwargs) for chunk in chunks]``, in a pool of one process per core when there are several
    of both (forked from a server that has the kernel imported; the driver's threads, Py4J's among them, are not
    forked)."""
    workers = min(os.cpu_count() or 1, len(chunks))
    if workers <= 1:
        return [fn(c, **kwargs) for c in chunks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["udfs.minhash"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(partial(fn, **kwargs), chunks))


def _chunks(texts: list, lengths: np.ndarray) -> list[list]:
    """``texts`` cut into consecutive chunks of about equal characters."""
    parts = max(1, min(len(texts), (os.cpu_count() or 1) * _CHUNKS_PER_WORKER))
    if parts == 1:
        return [texts]
    bounds = np.searchsorted(np.cumsum(lengths), np.linspace(0, lengths.sum(), parts + 1)[1:-1])
    edges = [0, *sorted(set(int(b) + 1 for b in bounds)), len(texts)]
    return [texts[a:b] for a, b in zip(edges[:-1], edges[1:]) if b > a]


# --------------------------------------------------------------------------- the method on id ranks
def _id_ranks(ids) -> np.ndarray:
    """Each id's position in Spark's order of the ids (integers by value; strings by code point, which is
    UTF-8 byte order); the ids are distinct and not null."""
    values = ids.to_numpy(zero_copy_only=False)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), np.int64)
    ranks[order] = np.arange(len(values))
    return ranks


def _encoded(values):
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(values)
    return encoded.combine_chunks() if hasattr(encoded, "chunks") else encoded


def _codes(values) -> np.ndarray:
    """Dense integer codes of an Arrow column's values; a null's code is the number of distinct values."""
    encoded = _encoded(values)
    return encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False).astype(np.int64)


def _code_values(values):
    """The value of each code of :func:`_codes` (the last, a null)."""
    import pyarrow as pa

    dictionary = _encoded(values).dictionary
    return pa.concat_arrays([dictionary, pa.nulls(1, dictionary.type)])


def _star_edges(buckets: np.ndarray, ranks: np.ndarray, group: np.ndarray | None, all_pairs_up_to: int) -> np.ndarray:
    """:func:`pipelines.minhash.steps.star_edges` on arrays (every document new): (m, 2) distinct (src, dst) row
    positions, src's id above dst's. Per band, each bucket (and source, when ``group`` is given) links every member
    to its smallest id; buckets of at most ``all_pairs_up_to`` documents give all their pairs instead."""
    n = len(ranks)
    found = []
    for band in range(buckets.shape[1]):
        keys = (ranks, buckets[:, band]) if group is None else (ranks, group, buckets[:, band])
        order = np.lexsort(keys)
        key_sorted = [k[order] for k in keys[1:]]
        new_group = np.ones(n, bool)
        new_group[1:] = np.any([k[1:] != k[:-1] for k in key_sorted], axis=0) if n > 1 else False
        starts = np.flatnonzero(new_group)
        sizes = np.diff(np.append(starts, n))
        group_of = np.cumsum(new_group) - 1
        first = order[starts][group_of]  # each row's bucket's smallest id
        size = sizes[group_of]
        star = (size > max(all_pairs_up_to, 1)) & (order != first)
        found.append(np.stack([order[star], first[star]], axis=1))
        if all_pairs_up_to >= 2:
            for start, k in zip(starts[(sizes >= 2) & (sizes <= all_pairs_up_to)].tolist(),
                                sizes[(sizes >= 2) & (sizes <= all_pairs_up_to)].tolist()):
                members = order[start:start + k]  # ascending id
                smaller, larger = np.triu_indices(k, 1)
                found.append(np.stack([members[larger], members[smaller]], axis=1))
    edges = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    if len(edges) == 0:
        return edges.reshape(0, 2).astype(np.int64)
    return np.unique(edges.astype(np.int64), axis=0)


def _components(edges: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Each row's component, labelled by the position of its smallest id (a row on no edge is its own)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(ranks)
    if n == 0:
        return np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    smallest = np.full(labels.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(smallest, labels, ranks)
    by_rank = np.empty(n, np.int64)
    by_rank[ranks] = np.arange(n)
    return by_rank[smallest[labels]]


def _representatives(cluster: np.ndarray, ranks: np.ndarray, num_bytes: np.ndarray, sources, params: MinhashParams):
    """Each row's representative (a row position): the first of its cluster in
    :func:`pipelines.minhash.steps.survivor_order`."""
    if params.survivor == "longest":
        keys = (ranks, -num_bytes, cluster)
    elif params.survivor == "source_priority":
        priority = {s: i for i, s in enumerate(params.source_priority)}
        rank = np.array([priority.get(s, len(params.source_priority)) for s in sources.to_pylist()], np.int64)
        keys = (ranks, rank, cluster)
    else:
        keys = (ranks, cluster)
    order = np.lexsort(keys)
    firsts = np.ones(len(order), bool)
    firsts[1:] = cluster[order][1:] != cluster[order][:-1]
    first_of = np.zeros(len(cluster), np.int64)  # clusters are labelled by row positions
    first_of[cluster[order][firsts]] = order[firsts]
    return first_of[cluster]


def _matched(dups: np.ndarray, edges: np.ndarray, jaccard: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """For each row of ``dups``, its neighbour on an edge with the highest exact Jaccard (unverified: null,
    last), ties by the smallest id (:func:`pipelines.minhash.steps.matched_neighbours`); -1 where none."""
    node = np.concatenate([edges[:, 0], edges[:, 1]])
    other = np.concatenate([edges[:, 1], edges[:, 0]])
    score = np.concatenate([jaccard, jaccard])
    order = np.lexsort((ranks[other], np.where(np.isnan(score), np.inf, -score), node))
    firsts = np.ones(len(order), bool)
    firsts[1:] = node[order][1:] != node[order][:-1]
    best = np.full(len(ranks), -1, np.int64)
    best[node[order][firsts]] = other[order][firsts]
    return best[dups]


def _jaccards(pairs: np.ndarray, sets: dict[int, np.ndarray]) -> np.ndarray:
    """Exact Jaccard of each (a, b) row pair from their sorted shingle sets (NaN where undefined)."""
    out = np.full(len(pairs), np.nan)
    for i, (a, b) in enumerate(pairs.tolist()):
        j = kernels.sorted_set_jaccard(sets[a], sets[b])
        out[i] = np.nan if j is None else j
    return out


def _column(values: np.ndarray, mask: np.ndarray | None = None):
    """A float64 Arrow array of ``values``, null where ``mask`` (or NaN, when no mask is given)."""
    import pyarrow as pa

    mask = np.isnan(values) if mask is None else mask
    return pa.array(np.where(mask, 0.0, values), pa.float64(), mask=mask)


# --------------------------------------------------------------------------- the stage
def transform_in_driver(documents: DataFrame, params: MinhashParams, clock: StepClock | None = None) -> dict[str, Any]:
    """The stage's five outputs (``kept``, ``duplicates``, ``rejected``, ``source_stats``, ``index``) as local
    relations, the same rows as the Spark engine's; raises before any output is computed when ids repeat."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipelines.minhash.steps import check_source_type

    clock = clock or StepClock()
    spark = documents.sparkSession  # a DeferredSession not started yet: the outputs are DeferredFrames of Arrow
    check_source_type(documents.schema)  # as the Spark engine checks it
    data = lakehouse.plain_scan_arrow(documents, documents.columns)
    if data is None:
        data = documents.toArrow()
    n_all = data.num_rows
    ids = data.column("id").combine_chunks()
    sources = (data.column("source").combine_chunks() if "source" in data.column_names
               else pa.array([NO_SOURCE] * n_all, pa.string()))
    texts_col = data.column("text").combine_chunks()
    num_bytes = pc.binary_length(texts_col.cast(pa.binary())).fill_null(0).cast(pa.int64()).to_numpy(zero_copy_only=False)
    null_id = np.asarray(ids.is_null())
    has_id = np.flatnonzero(~null_id)
    id_values = ids.filter(pa.array(~null_id))
    counts = pc.value_counts(id_values)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        shown = sorted(zip(repeated.field("values").to_pylist(), repeated.field("counts").to_pylist()))[:5]
        raise duplicate_ids_error("documents", shown)
    clock.lap("checks")

    texts = arrow_texts(pa.table({"text": texts_col.take(pa.array(has_id))}), "text")  # invalid UTF-8 as U+FFFD
    num_bands, rows_per_band = params.bands
    kwargs = dict(num_perm=params.num_perm, seed=params.seed, ngram_size=params.ngram_size, unit=params.ngram_unit,
                  num_bands=num_bands, rows_per_band=rows_per_band, min_content_chars=params.min_content_chars)
    lengths = np.array([0 if t is None else len(t) for t in texts], np.int64)
    chunks = _chunks(texts, lengths)
    results = _pool_map(kernels.signature_rows, chunks, kwargs)
    reasons: list = []
    keep_parts, bucket_parts, sig_parts, offset = [], [], [], 0
    for chunk, (chunk_reasons, keep, buckets, signed) in zip(chunks, results):
        reasons += chunk_reasons
        keep_parts.append(keep + offset)
        bucket_parts.append(buckets)
        sig_parts.append(signed)
        offset += len(chunk)
    used = num_bands * rows_per_band
    signed_rows = has_id[np.concatenate(keep_parts)] if keep_parts else np.zeros(0, np.int64)
    buckets = np.concatenate(bucket_parts) if bucket_parts else np.zeros((0, num_bands), np.int64)
    signatures = np.concatenate(sig_parts) if sig_parts else np.zeros((0, used), np.int32)
    clock.lap("signatures")

    # the hashed documents, by position p (row signed_rows[p] of the input)
    ranks = _id_ranks(ids.take(pa.array(signed_rows)))
    src_of = sources.take(pa.array(signed_rows))
    bytes_of = num_bytes[signed_rows]
    group = _codes(src_of) if params.scope == "local" else None
    sets = None
    edges = _star_edges(buckets, ranks, group, params.all_pairs_bucket_size if params.verify else 0)
    jaccard = np.full(len(edges), np.nan)
    if params.verify:
        wanted = np.unique(edges.reshape(-1))
        at = np.searchsorted(has_id, signed_rows)[wanted]  # their texts' positions in ``texts``
        got = _pool_map(kernels.shingle_set_rows, _chunks([texts[i] for i in at], lengths[at]),
                        dict(ngram_size=params.ngram_size, unit=params.ngram_unit))
        sets = dict(zip(wanted.tolist(), [s.view(np.uint64) for part in got for s in part]))
        clock.lap("shingle_sets")
        jaccard = _jaccards(edges, sets)
        passed = np.isnan(jaccard) | (jaccard >= params.jaccard_threshold)
        edges, jaccard = edges[passed], jaccard[passed]
    cluster = _components(edges, ranks)
    rep = _representatives(cluster, ranks, bytes_of, src_of, params)
    clock.lap("candidates_and_clusters")
    if params.fail_on_large_component:
        sizes = np.bincount(cluster, minlength=len(cluster)) if len(cluster) else np.zeros(0, np.int64)
        big = np.flatnonzero(sizes > params.max_component_size)
        if big.size:
            order = sorted(big.tolist(), key=lambda c: (-sizes[c], ranks[c]))[:3]
            id_list = ids.take(pa.array(signed_rows[order])).to_pylist()
            shown = ", ".join(f"{i!r} ({int(sizes[c])} documents)" for i, c in zip(id_list, order))
            raise DataError(f"duplicate clusters larger than params.max_component_size={params.max_component_size}: "
                            f"{shown}; set params.fail_on_large_component=false to only report them")

    id_type = documents.schema["id"].dataType
    id_of = ids.take(pa.array(signed_rows))

    # duplicates: every document whose representative is another
    dups = np.flatnonzero(rep != np.arange(len(rep)))
    matched = _matched(dups, edges, jaccard, ranks)
    no_match = matched < 0
    matched_safe = np.where(no_match, dups, matched)

    def estimated(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (signatures[a] == signatures[b]).sum(axis=1) / float(used)

    on_edge = {}
    for (a, b), j in zip(edges.tolist(), jaccard.tolist()):
        on_edge[(a, b)] = on_edge[(b, a)] = j
    matched_jaccard = np.array([on_edge.get((d, m), np.nan) for d, m in zip(dups.tolist(), matched.tolist())], np.float64)
    if params.verify:
        same = matched == rep[dups]
        exact = np.where(same, matched_jaccard, np.nan)
        chains = np.flatnonzero(~same)
        if chains.size:
            exact[chains] = _jaccards(np.stack([dups[chains], rep[dups[chains]]], axis=1), sets)
    else:
        exact = np.full(len(dups), np.nan)
    scope = pa.array([params.scope] * len(dups), pa.string())
    duplicates = pa.table({
        "id": id_of.take(pa.array(dups)), "source": src_of.take(pa.array(dups)),
        "representative_id": id_of.take(pa.array(rep[dups])), "representative_source": src_of.take(pa.array(rep[dups])),
        "cluster_id": id_of.take(pa.array(cluster[dups])),
        "estimated_jaccard": _column(estimated(dups, rep[dups])),
        "exact_jaccard": _column(exact),
        "matched_id": id_of.take(pa.array(matched_safe, mask=no_match)),
        "matched_exact_jaccard": _column(matched_jaccard),
        "matched_estimated_jaccard": _column(estimated(dups, matched_safe), no_match),
        "scope": scope, "from_previous_batch": pa.array(np.zeros(len(dups), bool))})

    # rejected: filtered texts, then null ids
    reason_arr = pa.array(reasons, pa.string())
    filtered = np.flatnonzero(np.asarray(reason_arr.is_valid()))
    null_rows = np.flatnonzero(null_id)
    rejected = pa.table({
        "id": pa.concat_arrays([ids.take(pa.array(has_id[filtered])), ids.take(pa.array(null_rows))]),
        "source": pa.concat_arrays([sources.take(pa.array(has_id[filtered])), sources.take(pa.array(null_rows))]),
        "reason": pa.concat_arrays([reason_arr.take(pa.array(filtered)), pa.array([NULL_ID] * len(null_rows), pa.string())])})

    # kept: the input rows (every column) of the documents that represent their cluster
    kept_rows = np.sort(signed_rows[rep == np.arange(len(rep))])
    kept = data.take(pa.array(kept_rows))

    # per-source counts (SlimPajama-DC Table 2's shape)
    status = np.full(n_all, "kept", dtype=object)
    status[has_id[filtered]] = reason_arr.take(pa.array(filtered)).to_numpy(zero_copy_only=False)
    status[signed_rows[dups]] = "duplicate"
    status[null_rows] = NULL_ID
    source_stats = _source_stats(sources, num_bytes, status)

    # index: one row per (document, band)
    positions = np.repeat(np.arange(len(signed_rows)), num_bands)
    bands = np.tile(np.arange(num_bands, dtype=np.int32), len(signed_rows))
    flat = signatures.reshape(-1)
    index = pa.table({
        "id": id_of.take(pa.array(positions)), "source": src_of.take(pa.array(positions)),
        "num_bytes": pa.array(bytes_of[positions]), "band": pa.array(bands),
        "bucket": pa.array(buckets.reshape(-1)),
        "minhashes": pa.ListArray.from_arrays(pa.array(np.arange(0, len(flat) + 1, rows_per_band, dtype=np.int32)),
                                              pa.array(flat)),
        "cluster_id": id_of.take(pa.array(cluster[positions])),
        "representative_id": id_of.take(pa.array(rep[positions])),
        "scope": pa.array([params.scope] * len(positions), pa.string())})

    def frame(table, fields):
        return from_arrow(spark, table, T.StructType(fields))

    def field(name, dtype):
        return T.StructField(name, dtype, True)

    s, d, b, i = T.StringType(), T.DoubleType(), T.BooleanType(), id_type
    longs = ("documents_in", "bytes_in", "rejected_too_short", "rejected_null_or_empty", "duplicates_removed",
             "duplicate_bytes_removed", "kept", "kept_bytes")
    return {
        "kept": from_arrow(spark, kept, documents.schema),
        "duplicates": frame(duplicates, [field("id", i), field("source", s), field("representative_id", i),
                                         field("representative_source", s), field("cluster_id", i),
                                         field("estimated_jaccard", d), field("exact_jaccard", d),
                                         field("matched_id", i), field("matched_exact_jaccard", d),
                                         field("matched_estimated_jaccard", d), field("scope", s),
                                         field("from_previous_batch", b)]),
        "rejected": frame(rejected, [field("id", i), field("source", s), field("reason", s)]),
        "source_stats": frame(source_stats, [field("source", s)] + [field(c, T.LongType()) for c in longs]
                              + [field("duplicate_rate_documents", d), field("duplicate_rate_bytes", d)]),
        "index": frame(index, [field("id", i), field("source", s), field("num_bytes", T.LongType()),
                               field("band", T.IntegerType()), field("bucket", T.LongType()),
                               field("minhashes", T.ArrayType(T.IntegerType())), field("cluster_id", i),
                               field("representative_id", i), field("scope", s)]),
    }


def _source_stats(sources, num_bytes: np.ndarray, status: np.ndarray):
    """:func:`pipelines.minhash.transform.source_stats` on arrays."""
    import pyarrow as pa

    codes, names = _codes(sources), _code_values(sources)
    present = np.unique(codes)

    def count(mask):
        return np.bincount(codes[mask], minlength=len(names)).astype(np.int64)

    def total(mask):
        out = np.zeros(len(names), np.int64)
        np.add.at(out, codes[mask], num_bytes[mask])
        return out

    everything = np.ones(len(codes), bool)
    dup, kept = status == "duplicate", status == "kept"
    docs, size = count(everything), total(everything)
    removed, removed_bytes = count(dup), total(dup)
    return pa.table({
        "source": names.take(pa.array(present)),
        "documents_in": docs[present], "bytes_in": size[present],
        "rejected_too_short": count(status == "too_short")[present],
        "rejected_null_or_empty": count(np.isin(status, ["null_text", "empty_text", NULL_ID]))[present],
        "duplicates_removed": removed[present], "duplicate_bytes_removed": removed_bytes[present],
        "kept": count(kept)[present], "kept_bytes": total(kept)[present],
        "duplicate_rate_documents": removed[present] / docs[present],
        "duplicate_rate_bytes": np.where(size[present] > 0, removed_bytes[present] / np.maximum(size[present], 1), 0.0)})
