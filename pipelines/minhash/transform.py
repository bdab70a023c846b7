"""The minhash stage as one function: ``transform({"documents", "previous_index"?}, params) -> MinhashOutputs``.

Scopes (SlimPajama-DC §2.3 and §3): ``global`` (one index over all sources), ``local`` (buckets
keyed by source too), ``local-then-global`` (local, then global over the local survivors).
Incremental runs (scope global or local) read the ``index`` of earlier runs: its band rows join this
batch's buckets, and its clusters enter as edges (document -> cluster id), so connected components
over (old edges + new edges) equal those of one run over the union; under ``smallest_id`` the kept
set is then the same as deduplicating the union in one run. Earlier documents whose representative
changes are reported in ``duplicates`` with ``from_previous_batch = true``.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.core.contract import NULL_ID, check_unique_ids
from pipelines.core.local_frames import made_frame
from pipelines.core.stepclock import StepClock
from pipelines.minhash import steps
from pipelines.minhash.config import MinhashParams
from pipelines.minhash.driver import in_driver, transform_in_driver


class MinhashOutputs(NamedTuple):
    kept: DataFrame
    duplicates: DataFrame
    rejected: DataFrame
    source_stats: DataFrame
    index: DataFrame


def _local_then_global(rows: DataFrame, params: MinhashParams, sets: DataFrame | None) -> steps.Clustered:
    """Local clusters per source, then global clusters of the local survivors. A local duplicate's
    representative is the document that finally represents its local representative."""
    local_round = steps.cluster(rows, None, True, params, sets, "local")
    local = local_round.assigned.localCheckpoint(eager=True)
    survivors = local.where(F.col("id") == F.col("representative_id")).select("id")
    global_round = steps.cluster(rows.join(survivors, "id", "left_semi"), None, False, params, sets, "global")
    glob = global_round.assigned
    final = glob.select(F.col("id").alias("local_rep"), "cluster_id", "representative_id", "representative_source")
    local_part = (local.where(F.col("id") != F.col("representative_id"))
                  .select("id", "source", "num_bytes", "is_new", F.col("representative_id").alias("local_rep"))
                  .join(final, "local_rep").drop("local_rep").withColumn("scope", F.lit("local")))
    global_part = glob.withColumn("scope", F.lit("global"))
    return steps.Clustered(local_part.unionByName(global_part),
                           local_round.evidence.unionByName(global_round.evidence))


def transform(inputs: Mapping[str, DataFrame], params: MinhashParams, clock: StepClock | None = None) -> MinhashOutputs:
    """Run the stage's steps on ``inputs["documents"]`` (and ``inputs["previous_index"]`` when given:
    incremental mode; see the module docstring); raises before any output is computed when ids repeat,
    the source column is mistyped or the previous index does not fit. ``clock`` records the seconds of
    the steps that run here (signatures, shingle sets, candidates and clusters); what follows runs as the
    outputs are written."""
    clock = clock or StepClock()
    documents, previous_index = inputs["documents"], inputs.get("previous_index")
    if in_driver(documents, params, previous_index):
        return MinhashOutputs(**transform_in_driver(documents, params, clock))
    # the Spark engine: an input read as its files without a JVM (lakehouse.read_input) becomes a DataFrame here
    documents = made_frame(documents)
    previous_index = None if previous_index is None else made_frame(previous_index)
    every = steps.standard_documents(documents)
    docs = every.where(F.col("id").isNotNull())
    if previous_index is not None:
        steps.check_previous_index(previous_index, documents, params)
    clock.lap("checks")
    # one pass over the text: every row's signature (or reason) and size, kept; the id check, the rejected
    # rows and the per-source counts read this instead of the input (each re-read all of the text before)
    signed_all = steps.compute_signatures(every, params).localCheckpoint(eager=True)
    clock.lap("signatures")
    check_unique_ids(signed_all, "documents")
    clock.lap("checks")
    # a null id cannot be kept, matched or indexed: it is set aside with its reason, never lost
    null_ids = signed_all.where(F.col("id").isNull()).select("id", "source", "num_bytes",
                                                             F.lit(NULL_ID).alias("reason"))
    signed = signed_all.where(F.col("id").isNotNull())
    rejected = signed.where(F.col("reason").isNotNull()).select("id", "source", "reason") \
        .unionByName(null_ids.select("id", "source", "reason"))
    new_rows = steps.band_rows(signed.where(F.col("reason").isNull()), params).withColumn("is_new", F.lit(True))

    rows, membership = new_rows, None
    if previous_index is not None:
        old_rows = previous_index.select("id", "source", "num_bytes", "band", "bucket", "minhashes",
                                         F.lit(False).alias("is_new"))
        rows = new_rows.unionByName(old_rows)
        membership = previous_index.select("id", "cluster_id").distinct()

    sets = None
    if params.verify:
        # every document sharing a global bucket with another (a superset of local buckets' members)
        shared = rows.groupBy("band", "bucket").agg(F.count("*").alias("_n")).where(F.col("_n") > 1)
        wanted = rows.join(shared, ["band", "bucket"], "left_semi").select("id").distinct()
        sets = steps.shingle_sets(docs.join(wanted, "id", "left_semi"), params).localCheckpoint(eager=True)
        clock.lap("shingle_sets")

    if params.scope == "local-then-global":
        assigned, evidence = _local_then_global(rows, params, sets)
    else:
        one_round = steps.cluster(rows, membership, params.scope == "local", params, sets, params.scope)
        assigned, evidence = one_round.assigned.withColumn("scope", F.lit(params.scope)), one_round.evidence
    assigned = assigned.localCheckpoint(eager=True)
    clock.lap("candidates_and_clusters")
    if params.fail_on_large_component:
        steps.check_component_sizes(assigned, params)

    dup_pairs = assigned.where(F.col("id") != F.col("representative_id"))
    if previous_index is not None:
        before = previous_index.select("id", F.col("representative_id").alias("_before")).distinct()
        dup_pairs = (dup_pairs.join(before, "id", "left")
                     .where(F.col("is_new") | (F.col("_before") != F.col("representative_id"))).drop("_before"))
    dup_pairs = steps.matched_neighbours(dup_pairs, evidence)
    dup_pairs = steps.estimated_jaccard(dup_pairs, rows, params)
    dup_pairs = steps.estimated_jaccard(dup_pairs, rows, params, "matched_id", "matched_estimated_jaccard")
    if sets is not None:
        dup_pairs = steps.jaccard_to_representative(dup_pairs, sets)
    else:
        dup_pairs = dup_pairs.withColumn("exact_jaccard", F.lit(None).cast("double"))
    duplicates = dup_pairs.select("id", "source", "representative_id", "representative_source", "cluster_id",
                                  "estimated_jaccard", "exact_jaccard", "matched_id", "matched_exact_jaccard",
                                  "matched_estimated_jaccard", "scope",
                                  (~F.col("is_new")).alias("from_previous_batch"))

    kept_ids = assigned.where(F.col("is_new") & (F.col("id") == F.col("representative_id"))).select("id")
    kept = documents.join(kept_ids, "id", "left_semi")

    index = rows.join(assigned.select("id", "cluster_id", "representative_id"), "id") \
        .select("id", "source", "num_bytes", "band", "bucket", "minhashes", "cluster_id", "representative_id",
                F.lit(params.scope).alias("scope"))

    new_dups = duplicates.where(~F.col("from_previous_batch")).select("id", F.lit("duplicate").alias("_status"))
    status = (signed.select("id", "source", "num_bytes")
              .join(rejected.select("id", F.col("reason").alias("_status")).unionByName(new_dups), "id", "left")
              .withColumn("_status", F.coalesce("_status", F.lit("kept")))
              .unionByName(null_ids.withColumnRenamed("reason", "_status")))
    return MinhashOutputs(kept, duplicates, rejected, source_stats(status), index)


def source_stats(status: DataFrame) -> DataFrame:
    """Per source, the shape of SlimPajama-DC's per-source table: documents and bytes in, rejected
    (short; null or empty), duplicates removed, kept, and the duplicate rate by documents and bytes."""
    def n(cond):
        return F.sum(F.when(cond, 1).otherwise(0)).cast("long")

    def b(cond):
        return F.sum(F.when(cond, F.col("num_bytes")).otherwise(0)).cast("long")

    dup = F.col("_status") == "duplicate"
    stats = status.groupBy("source").agg(
        F.count("*").cast("long").alias("documents_in"), F.sum("num_bytes").cast("long").alias("bytes_in"),
        n(F.col("_status") == "too_short").alias("rejected_too_short"),
        n(F.col("_status").isin("null_text", "empty_text", NULL_ID)).alias("rejected_null_or_empty"),
        n(dup).alias("duplicates_removed"), b(dup).alias("duplicate_bytes_removed"),
        n(F.col("_status") == "kept").alias("kept"), b(F.col("_status") == "kept").alias("kept_bytes"))
    return stats.withColumn("duplicate_rate_documents", F.col("duplicates_removed") / F.col("documents_in")) \
        .withColumn("duplicate_rate_bytes",
                    F.when(F.col("bytes_in") > 0, F.col("duplicate_bytes_removed") / F.col("bytes_in")).otherwise(0.0))
