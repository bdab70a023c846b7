"""The steps of MinHash LSH dedup, each a small DataFrame -> DataFrame function.

signatures -> band rows -> star candidate edges (optionally verified) -> connected components ->
one survivor per component -> outputs. The method is SlimPajama-DC §2.3 (MinHash LSH, 9 bands x 13
rows, connected components of the candidate graph, one document kept per component); star edges to a
bucket's smallest id follow text-dedup and NeMo Curator, so a big bucket never yields all its pairs.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from pipelines.core.errors import ConfigError, DataError, SchemaContractError
from pipelines.core.partitions import spread
from pipelines.minhash.components import connected_components
from pipelines.minhash.config import MinhashParams
from udfs import minhash as kernels

NO_SOURCE = "all"
INDEX_COLUMNS = ("id", "source", "num_bytes", "band", "bucket", "minhashes", "cluster_id",
                 "representative_id", "scope")


# --------------------------------------------------------------------------- input checks
def check_source_type(schema: T.StructType, table: str = "documents") -> dict:
    """The input's ``{column: type}``; an optional ``source`` column that is not a string is a SchemaContractError."""
    fields = {f.name: f.dataType for f in schema.fields}
    if "source" in fields and not isinstance(fields["source"], T.StringType):
        raise SchemaContractError(f"table '{table}' column 'source' has type "
                                  f"{fields['source'].simpleString()}, but string is needed")
    return fields


def standard_documents(docs: DataFrame, table: str = "documents") -> DataFrame:
    """(id, source, text, num_bytes) of the input; ``source`` is 'all' when the table has none."""
    fields = check_source_type(docs.schema, table)
    source = F.col("source") if "source" in fields else F.lit(NO_SOURCE)
    return docs.select("id", source.alias("source"), "text",
                       F.coalesce(F.octet_length("text"), F.lit(0)).cast("long").alias("num_bytes"))


def check_previous_index(previous: DataFrame, docs: DataFrame, params: MinhashParams) -> None:
    """The previous index must have the index columns, the same id type, the same scope, and no id
    of this batch (re-indexing a document would count it twice)."""
    fields = {f.name: f.dataType for f in previous.schema.fields}
    for name in INDEX_COLUMNS:
        if name not in fields:
            raise SchemaContractError(f"table 'previous_index' has no column '{name}'; it has: {', '.join(fields)}")
    id_type = docs.schema["id"].dataType
    if fields["id"] != id_type:
        raise SchemaContractError(f"table 'previous_index' column 'id' has type {fields['id'].simpleString()}, "
                                  f"but the documents' id is {id_type.simpleString()}")
    if params.scope == "local-then-global":
        raise ConfigError("config key 'params.scope': local-then-global does not support inputs.previous_index "
                          "(incremental runs need scope global or local)")
    scopes = [r["scope"] for r in previous.select("scope").distinct().limit(3).collect()]
    if any(s != params.scope for s in scopes):
        raise ConfigError(f"config key 'params.scope' is '{params.scope}' but previous_index was built with "
                          f"scope {sorted(set(scopes))}")
    again = docs.join(previous.select("id"), "id", "left_semi").select("id").distinct().orderBy("id").limit(5).collect()
    if again:
        raise DataError("table 'documents' has ids already in previous_index, e.g. "
                        f"{', '.join(repr(r['id']) for r in again)}; each document is indexed once")


# --------------------------------------------------------------------------- signatures and bands
def compute_signatures(docs: DataFrame, params: MinhashParams) -> DataFrame:
    """(id, source, num_bytes, reason, buckets, signature) per document, by the numpy kernel in
    ``udfs.minhash`` applied per Arrow batch (``mapInArrow``), spread over the cores first
    (:func:`pipelines.core.partitions.spread`: one big input file is otherwise one task)."""
    num_bands, rows_per_band = params.bands
    schema = T.StructType([f for f in docs.schema.fields if f.name != "text"] + [
        T.StructField("reason", T.StringType()),
        T.StructField("buckets", T.ArrayType(T.LongType())),
        T.StructField("signature", T.ArrayType(T.IntegerType()))])
    body = partial(kernels.signature_arrow_batches, text_column="text", num_perm=params.num_perm,
                   seed=params.seed, ngram_size=params.ngram_size, unit=params.ngram_unit,
                   num_bands=num_bands, rows_per_band=rows_per_band, min_content_chars=params.min_content_chars)
    return spread(docs, "id").mapInArrow(body, schema)


def band_rows(signed: DataFrame, params: MinhashParams) -> DataFrame:
    """One row per (document, band): bucket and that band's ``rows_per_band`` MinHash values."""
    _, rows_per_band = params.bands
    exploded = signed.select("id", "source", "num_bytes", "signature",
                             F.posexplode("buckets").alias("band", "bucket"))
    return exploded.select("id", "source", "num_bytes", F.col("band").cast("int").alias("band"), "bucket",
                           F.expr(f"slice(signature, band * {rows_per_band} + 1, {rows_per_band})").alias("minhashes"))


def shingle_sets(docs: DataFrame, params: MinhashParams) -> DataFrame:
    """(id, shingles): sorted distinct 64-bit shingle hashes, for exact Jaccard verification."""
    schema = T.StructType([docs.schema["id"], T.StructField("shingles", T.ArrayType(T.LongType()))])
    body = partial(kernels.shingle_set_arrow_batches, text_column="text", ngram_size=params.ngram_size,
                   unit=params.ngram_unit)
    return spread(docs.select("id", "text"), "id").mapInArrow(body, schema)


def exact_jaccard(pairs: DataFrame, sets: DataFrame, left: str, right: str) -> DataFrame:
    """Adds ``exact_jaccard`` of the shingle sets of ``left`` and ``right`` (null when either is absent),
    by the numpy kernel ``udfs.minhash.jaccard_arrow_batches`` on the sorted arrays (one binary search per
    shingle of the smaller set; profiled: Spark's ``array_intersect``/``array_union`` build two hash sets
    per pair, the kernel none)."""
    a = sets.select(F.col("id").alias(left), F.col("shingles").alias("_a"))
    b = sets.select(F.col("id").alias(right), F.col("shingles").alias("_b"))
    joined = pairs.join(a, left, "left").join(b, right, "left")
    schema = T.StructType([f for f in joined.schema.fields if f.name not in ("_a", "_b")]
                          + [T.StructField("exact_jaccard", T.DoubleType())])
    return joined.mapInArrow(partial(kernels.jaccard_arrow_batches, left="_a", right="_b"), schema)


# --------------------------------------------------------------------------- candidates and clusters
def star_edges(rows: DataFrame, by_source: bool, all_pairs_up_to: int = 0) -> DataFrame:
    """(src, dst) candidate edges of band buckets holding a document of this batch (``is_new``;
    buckets of earlier batches alone are already summarised by their cluster edges).

    Each member is linked to the bucket's smallest id (star edges, text-dedup / NeMo Curator), so a
    bucket of k documents gives k - 1 edges. With verification a star loses a member similar to
    another member but not to the smallest one, so buckets of at most ``all_pairs_up_to``
    documents give all their pairs instead (at most k(k-1)/2, bounded by that size)."""
    keys = ["band", "bucket"] + (["source"] if by_source else [])
    bucket = Window.partitionBy(*keys)
    marked = (rows.withColumn("_min", F.min(F.struct("id", "is_new")).over(bucket))
              .withColumn("_has_new", F.max(F.col("is_new").cast("int")).over(bucket))
              .withColumn("_size", F.count("*").over(bucket))
              .where(F.col("_has_new") == 1))
    # an edge between two earlier documents is not new evidence (earlier runs judged that pair)
    stars = (marked.where((F.col("id") != F.col("_min.id")) & (F.col("_size") > all_pairs_up_to)
                          & (F.col("is_new") | F.col("_min.is_new")))
             .select(F.col("id").alias("src"), F.col("_min.id").alias("dst")))
    if all_pairs_up_to < 2:
        return stars.distinct()
    small = marked.where(F.col("_size") <= all_pairs_up_to).select(*keys, "id", "is_new")
    pairs = (small.alias("a").join(small.alias("b"), keys)
             .where((F.col("a.id") > F.col("b.id")) & (F.col("a.is_new") | F.col("b.is_new")))
             .select(F.col("a.id").alias("src"), F.col("b.id").alias("dst")))
    return stars.unionByName(pairs).distinct()


def verify_edges(edges: DataFrame, sets: DataFrame, jaccard_threshold: float) -> DataFrame:
    """(src, dst, exact_jaccard) of the candidate edges that pass: edges between two documents of this
    batch whose exact Jaccard is below the threshold are dropped (false positives of LSH); edges to
    earlier batches (no text at hand) are kept with a null Jaccard."""
    scored = exact_jaccard(edges, sets, "src", "dst")
    return scored.where(F.col("exact_jaccard").isNull() | (F.col("exact_jaccard") >= jaccard_threshold)) \
        .select("src", "dst", "exact_jaccard")


def survivor_order(params: MinhashParams) -> list:
    """The order within a cluster whose first document is kept (ties always broken by id)."""
    if params.survivor == "source_priority":
        ranks = F.create_map(*[x for i, s in enumerate(params.source_priority) for x in (F.lit(s), F.lit(i))])
        rank = F.coalesce(ranks[F.col("source")], F.lit(len(params.source_priority)))
        return [rank.asc(), F.col("id").asc()]
    if params.survivor == "longest":
        return [F.col("num_bytes").desc(), F.col("id").asc()]
    return [F.col("id").asc()]


class Clustered(NamedTuple):
    assigned: DataFrame  # every document of the round with its cluster and representative
    evidence: DataFrame  # (src, dst, exact_jaccard, scope): the candidate edges the components were built on


def cluster(rows: DataFrame, membership: DataFrame | None, by_source: bool, params: MinhashParams,
            sets: DataFrame | None, scope: str) -> Clustered:
    """One dedup round. ``rows``: band rows (id, source, num_bytes, band, bucket, is_new);
    ``membership``: (id, cluster_id) of earlier batches' documents, whose clusters stand as edges.
    ``assigned`` has (id, source, num_bytes, is_new, cluster_id, representative_id, representative_source)
    for every document of ``rows``; cluster_id is the smallest id of the connected component.
    ``evidence`` holds this batch's candidate edges (verified when ``sets`` is given), labelled ``scope``."""
    edges = star_edges(rows, by_source, params.all_pairs_bucket_size if sets is not None else 0)
    if sets is not None:
        edges = verify_edges(edges, sets, params.jaccard_threshold)
    else:
        edges = edges.withColumn("exact_jaccard", F.lit(None).cast("double"))
    edges = edges.localCheckpoint(eager=True)  # read by the components and by the match evidence
    graph = edges.select("src", "dst")
    if membership is not None:
        graph = graph.unionByName(membership.where(F.col("id") != F.col("cluster_id"))
                                  .select(F.col("id").alias("src"), F.col("cluster_id").alias("dst")))
    components = connected_components(graph, params.max_cc_iterations, params.cc_driver_max_edges)
    nodes = rows.groupBy("id").agg(F.first("source").alias("source"), F.first("num_bytes").alias("num_bytes"),
                                   F.max("is_new").alias("is_new"))
    labelled = (nodes.join(components.withColumnRenamed("node", "id"), "id", "left")
                .withColumn("cluster_id", F.coalesce("component", "id")).drop("component"))
    first = F.row_number().over(Window.partitionBy("cluster_id").orderBy(*survivor_order(params)))
    reps = (labelled.withColumn("_rank", first).where(F.col("_rank") == 1)
            .select("cluster_id", F.col("id").alias("representative_id"),
                    F.col("source").alias("representative_source")))
    return Clustered(labelled.join(reps, "cluster_id"), edges.withColumn("scope", F.lit(scope)))


def matched_neighbours(dups: DataFrame, evidence: DataFrame) -> DataFrame:
    """Adds ``matched_id`` and ``matched_exact_jaccard``: for each duplicate, the neighbour on an edge of
    its own round (``scope``) that the components were built on, the one with the highest exact Jaccard
    (ties and unverified edges: the smallest id). With verification every such edge between two
    documents of this batch is at or above the threshold, so each removal is explained by one pair,
    even when the representative itself is further away along a chain."""
    both = (evidence.select(F.col("src").alias("id"), F.col("dst").alias("matched_id"), "exact_jaccard", "scope")
            .unionByName(evidence.select(F.col("dst").alias("id"), F.col("src").alias("matched_id"), "exact_jaccard",
                                         "scope")))
    best = F.row_number().over(Window.partitionBy("id", "scope")
                               .orderBy(F.col("exact_jaccard").desc_nulls_last(), F.col("matched_id").asc()))
    chosen = (both.withColumn("_r", best).where(F.col("_r") == 1)
              .select("id", "scope", "matched_id", F.col("exact_jaccard").alias("matched_exact_jaccard")))
    return dups.join(chosen, ["id", "scope"], "left")


def jaccard_to_representative(dups: DataFrame, sets: DataFrame) -> DataFrame:
    """Adds ``exact_jaccard`` of each duplicate to its representative. Where the representative is the
    matched neighbour (a star's centre: the common case), that pair's Jaccard is already on the verified
    edge (``matched_exact_jaccard``); only the other pairs (chains) read the shingle sets again, and only
    those sets are joined (a broadcast list of their ids, not a shuffle of every set)."""
    dups = dups.localCheckpoint(eager=True)  # read twice below; small (one row per duplicate)
    same = F.col("matched_id").eqNullSafe(F.col("representative_id"))
    chains = dups.where(~same)
    needed = chains.select("id").unionByName(chains.select(F.col("representative_id").alias("id"))).distinct()
    scored = exact_jaccard(chains, sets.join(F.broadcast(needed), "id", "left_semi"), "id", "representative_id")
    return dups.where(same).withColumn("exact_jaccard", F.col("matched_exact_jaccard")).unionByName(scored)


def check_component_sizes(assigned: DataFrame, params: MinhashParams) -> None:
    """The guard of ``fail_on_large_component``: a DataError naming the largest clusters."""
    big = (assigned.groupBy("cluster_id").count().where(F.col("count") > params.max_component_size)
           .orderBy(F.col("count").desc(), "cluster_id").limit(3).collect())
    if big:
        shown = ", ".join(f"{r['cluster_id']!r} ({r['count']} documents)" for r in big)
        raise DataError(f"duplicate clusters larger than params.max_component_size={params.max_component_size}: "
                        f"{shown}; set params.fail_on_large_component=false to only report them")


def estimated_jaccard(pairs: DataFrame, rows: DataFrame, params: MinhashParams, other: str = "representative_id",
                      name: str = "estimated_jaccard") -> DataFrame:
    """Adds ``name``: the estimated Jaccard of (id, ``other``), the share of equal MinHash values over the
    ``num_bands * rows_per_band`` permutations LSH used."""
    num_bands, rows_per_band = params.bands
    left = rows.select("id", "band", F.col("minhashes").alias("_a"))
    right = rows.select(F.col("id").alias(other), "band", F.col("minhashes").alias("_b"))
    equal = F.aggregate(F.zip_with("_a", "_b", lambda x, y: F.when(x == y, 1).otherwise(0)), F.lit(0),
                        lambda acc, x: acc + x)
    scores = (pairs.select("id", other).where(F.col(other).isNotNull()).join(left, "id").join(right, [other, "band"])
              .groupBy("id", other)
              .agg((F.sum(equal) / F.lit(float(num_bands * rows_per_band))).alias(name)))
    return pairs.join(scores, ["id", other], "left")
