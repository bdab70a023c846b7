"""The ``minhash`` stage's whole contract: SlimPajama global / local MinHash LSH near-duplicate removal.

Inputs, outputs (with their columns), params, transformation, metrics, expectations and report section;
``jobs/minhash.py`` is only the entry point. See docs/minhash.md.
"""
from __future__ import annotations

from pyspark.sql import functions as F

from pipelines.core.contract import NULL_ID, STAGE_METRICS, Column
from pipelines.core.local_frames import held_arrow
from pipelines.core.report_items import ReportContext, Table, excerpt, size_histogram, top_rows
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.core.stepclock import StepClock
from pipelines.minhash.config import MinhashParams
from pipelines.minhash.transform import transform

REJECT_REASONS = (NULL_ID, "null_text", "empty_text", "too_short")
EXAMPLE_PAIRS = 5


_METRIC_OUTPUTS = ("source_stats", "duplicates", "kept", "index")


def metrics(params: MinhashParams, outputs) -> dict:
    """Counts for the quality suite: with polars where the driver holds every output they read (read back by
    delta-rs as committed: :func:`_held_counts`), else in one Spark job (:func:`_spark_counts`); the same numbers
    (``tests/integration/test_minhash.py`` computes both on one run's outputs)."""
    held = {n: held_arrow(outputs[n]) for n in _METRIC_OUTPUTS}
    counts = (_held_counts(params, held) if all(t is not None for t in held.values())
              else _spark_counts(params, outputs))
    biggest = counts["biggest"]
    return {
        "input_documents": counts["d"],
        "duplicates_current_batch": counts["n"] - counts["previous"],
        "duplicates_from_previous_batch": counts["previous"],
        "representatives_not_kept": counts["reps_not_kept"],
        "max_cluster_size": biggest + (1 if biggest else 0),
        "large_components": counts["large"],
        "num_bands": params.bands[0], "rows_per_band": params.bands[1],
    }


def _held_counts(params: MinhashParams, tables) -> dict:
    """:func:`_spark_counts` with polars on Arrow tables (no JVM, no Spark job)."""
    import polars as pl

    stats = pl.from_arrow(tables["source_stats"].select(["documents_in"]))
    dups = pl.from_arrow(tables["duplicates"].select(["cluster_id", "representative_id", "from_previous_batch"]))
    sizes = dups.group_by("cluster_id").agg(pl.len().alias("count"),
                                            pl.col("from_previous_batch").cast(pl.Int64).sum().alias("p"))
    reps = dups.select(pl.col("representative_id").alias("id")).unique()
    kept = pl.from_arrow(tables["kept"].select(["id"]))
    index = pl.from_arrow(tables["index"].select(["id", "representative_id"]))
    survivors_before = index.filter(pl.col("id") == pl.col("representative_id")).select("id")
    # an anti join keeps a null id, as Spark's left_anti does (a null matches nothing)
    not_kept = reps.join(kept, on="id", how="anti").join(survivors_before, on="id", how="anti")
    return {"d": int(stats["documents_in"].sum() or 0), "n": int(sizes["count"].sum() or 0),
            "previous": int(sizes["p"].sum() or 0), "biggest": int(sizes["count"].max() or 0),
            "large": int((sizes["count"] + 1 > params.max_component_size).sum()), "reps_not_kept": not_kept.height}


def _spark_counts(params: MinhashParams, outputs) -> dict:
    """The metrics' counts in one Spark job: an aggregate per output table and the audit's join, cross-joined into
    one row (each action was a job of its own, ~1 s apiece as a cold run's first jobs)."""
    stats = outputs["source_stats"].agg(F.sum("documents_in").alias("d"))
    sizes = (outputs["duplicates"].groupBy("cluster_id")
             .agg(F.count(F.lit(1)).alias("count"), F.sum(F.col("from_previous_batch").cast("long")).alias("p"))
             .agg(F.sum("count").alias("n"), F.sum("p").alias("previous"), F.max("count").alias("biggest"),
                  F.sum(F.when(F.col("count") + 1 > params.max_component_size, 1).otherwise(0)).alias("large")))
    # audit (DESIGN "every row a stage drops can be traced"): each representative is a kept row of this
    # batch or a survivor of an earlier one
    reps = outputs["duplicates"].select(F.col("representative_id").alias("id")).distinct()
    survivors_before = outputs["index"].where(F.col("id") == F.col("representative_id")).select("id")
    not_kept = (reps.join(outputs["kept"].select("id"), "id", "left_anti")
                .join(survivors_before, "id", "left_anti").agg(F.count(F.lit(1)).alias("reps_not_kept")))
    row = stats.crossJoin(sizes).crossJoin(not_kept).first()
    return {k: int(row[k] or 0) for k in ("d", "n", "previous", "biggest", "large", "reps_not_kept")}


def expectations(params: MinhashParams, outputs, metrics_):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    rejected = metrics_.get("rows.rejected", 0)
    expected_kept = metrics_["input_documents"] - metrics_["duplicates_current_batch"] - rejected
    suites = {
        # kept + duplicates + rejected = input
        "kept": [gxe.ExpectColumnValuesToBeUnique(column="id"), gxe.ExpectTableRowCountToEqual(value=expected_kept)],
        # every representative is kept: passes only when representatives_not_kept == 0
        "duplicates": [gxe.ExpectColumnValuesToBeUnique(column="id"),
                       gxe.ExpectColumnValuesToNotBeNull(column="representative_id"),
                       gxe.ExpectColumnValuesToBeInSet(column="scope", value_set=["local", "global"]),
                       gxe.ExpectTableRowCountToEqual(value=metrics_.get("rows.duplicates", 0)
                                                      + metrics_["representatives_not_kept"])],
        "rejected": [gxe.ExpectColumnValuesToBeInSet(column="reason", value_set=list(REJECT_REASONS))],
        "index": [gxe.ExpectColumnValuesToNotBeNull(column="bucket")],
        # every removal of this batch is explained by a candidate pair it is part of (matched_id)
        "duplicates.unmatched": (_unmatched(outputs["duplicates"]), [gxe.ExpectTableRowCountToEqual(value=0)]),
    }
    if params.verify:
        # ... and, verified, that pair is at or above the threshold (null only for a match in an earlier batch)
        suites["duplicates"].append(gxe.ExpectColumnValuesToBeBetween(
            column="matched_exact_jaccard", min_value=params.jaccard_threshold, max_value=1.0))
    return suites


def _unmatched(duplicates):
    """The removals of this batch with no matched pair (expected: none), as pandas where the driver holds the
    output's rows, else as a Spark frame."""
    held = held_arrow(duplicates)
    if held is None:
        return duplicates.where(~F.col("from_previous_batch") & F.col("matched_id").isNull())
    frame = held.select(["id", "from_previous_batch", "matched_id"]).to_pandas()
    return frame[~frame["from_previous_batch"].astype(bool) & frame["matched_id"].isna()]


def report(outputs, context: ReportContext) -> list:
    """Duplicate-cluster sizes, the SlimPajama-style per-source table and a few example pairs."""
    dups = outputs["duplicates"]
    items = [size_histogram(dups, "cluster_id", "Duplicate-cluster size distribution (kept document + its duplicates)",
                            "cluster size (documents)", extra=1),
             top_rows(outputs["source_stats"], "Per source (SlimPajama-DC Table 2 style)", ["source"],
                      units={"bytes_in": "bytes", "duplicate_bytes_removed": "bytes", "kept_bytes": "bytes",
                             "duplicate_rate_documents": "fraction", "duplicate_rate_bytes": "fraction"})]
    items.append(example_pairs(dups, outputs["kept"], context.inputs.get("documents")))
    return items


def example_pairs(dups, kept, documents) -> Table:
    """The ``EXAMPLE_PAIRS`` duplicates with the highest similarity, each beside the kept document that
    stands for it, with a text excerpt of both (the duplicate's text from the input, when readable)."""
    import polars as pl

    sim = pl.coalesce("exact_jaccard", "estimated_jaccard")
    picked = (dups.filter(~pl.col("from_previous_batch"))
              .select("id", "representative_id", "estimated_jaccard", "exact_jaccard", sim.alias("_sim"))
              .sort(["_sim", "id"], descending=[True, False], nulls_last=True).head(EXAMPLE_PAIRS))
    id_type = dups.collect_schema()["id"]
    has_text = "text" in kept.collect_schema().names()
    if has_text:
        picked = picked.join(kept.select(pl.col("id").cast(id_type).alias("representative_id"),
                                         pl.col("text").alias("kept_text")), on="representative_id", how="left")
    has_doc_text = documents is not None and "text" in documents.collect_schema().names()
    if has_doc_text:  # the input as it is now (any format): its id cast to the output's id type for the join
        picked = picked.join(documents.select(pl.col("id").cast(id_type, strict=False),
                                              pl.col("text").alias("duplicate_text")), on="id", how="left")
    rows = picked.sort(["_sim", "id"], descending=[True, False], nulls_last=True).collect().rows(named=True)
    return Table(
        "Example duplicates (highest similarity first)",
        ["duplicate id", "kept id", "estimated Jaccard", "exact Jaccard", "duplicate text", "kept text"],
        [[r["id"], r["representative_id"], r["estimated_jaccard"], r["exact_jaccard"],
          excerpt(r["duplicate_text"]) if has_doc_text else "",
          excerpt(r["kept_text"]) if has_text else ""] for r in rows],
        note="" if rows else "no duplicates in this run",
        units={"duplicate text": "text", "kept text": "text"})


def timed_transform(inputs, params: MinhashParams) -> dict:
    """:func:`transform` with its step seconds in the run's metrics (``seconds.signatures``,
    ``seconds.shingle_sets`` with verification, ``seconds.candidates_and_clusters``)."""
    clock = StepClock()
    outputs = transform(inputs, params, clock)._asdict()
    return {**outputs, STAGE_METRICS: clock.metrics()}


STAGE = Stage(
    name="minhash",
    params_cls=MinhashParams,
    description="SlimPajama MinHash LSH near-duplicate removal (global, local, local-then-global; incremental)",
    inputs={
        "documents": InputSpec(columns=(Column("id", "id"), Column("text", "string")),
                               default="demo/corpus/documents",
                               doc="documents: id (unique), text, optional source, any other columns"),
        "previous_index": InputSpec(columns=(Column("id", "id"), Column("band", "integer"), Column("bucket", "integer")),
                                    optional=True, doc="the index output of earlier runs (incremental mode)"),
    },
    outputs=(
        Output("kept", (Column("id", "id"),), "input rows kept, all their columns", passthrough=True),
        Output("duplicates", (
            Column("id", "id"), Column("source", "string"), Column("representative_id", "id"),
            Column("representative_source", "string"), Column("cluster_id", "id"),
            Column("estimated_jaccard", "float"), Column("exact_jaccard", "float"), Column("matched_id", "id"),
            Column("matched_exact_jaccard", "float"), Column("matched_estimated_jaccard", "float"),
            Column("scope", "string"), Column("from_previous_batch", "boolean")),
            "removed documents: the kept document standing for each, its cluster, estimated/exact Jaccard to it, "
            "the document it matched (the pair that explains the removal) with that pair's Jaccard, scope"),
        Output("rejected", (Column("id", "id"), Column("source", "string"), Column("reason", "string")),
               "documents not hashed, with a reason (null_id, null_text, empty_text, too_short)"),
        Output("source_stats", (
            Column("source", "string"), Column("documents_in", "integer"), Column("bytes_in", "integer"),
            Column("rejected_too_short", "integer"), Column("rejected_null_or_empty", "integer"),
            Column("duplicates_removed", "integer"), Column("duplicate_bytes_removed", "integer"),
            Column("kept", "integer"), Column("kept_bytes", "integer"),
            Column("duplicate_rate_documents", "float"), Column("duplicate_rate_bytes", "float")),
            "per source: documents and bytes in, rejected, duplicates removed, kept, rates"),
        Output("index", (
            Column("id", "id"), Column("source", "string"), Column("num_bytes", "integer"), Column("band", "integer"),
            Column("bucket", "integer"), Column("minhashes", "array"), Column("cluster_id", "id"),
            Column("representative_id", "id"), Column("scope", "string")),
            "(id, band, bucket, ...) of every document indexed so far, for incremental runs"),
    ),
    transform=timed_transform,
    expectations=expectations,
    metrics=metrics,
    report=report,
    deferred_inputs=True,
)
