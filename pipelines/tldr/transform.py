"""The TL;DR stage as DataFrame -> DataFrame steps (no reads, no writes).

assignments (id, cluster) -> [pre-filter by image-text similarity] -> per-cluster seeded uniform
sample of ceil(ratio * size) -> [caption refinement of the kept rows] -> ``selected``: every input
row once, with ``selected`` and, for a dropped row, the ``reason``:

- ``missing_cluster``: the assignment has no cluster;
- ``prefilter_missing_embedding``: pre-filter on, but the id lacks an image or a text embedding;
- ``prefilter_low_similarity``: below the pre-filter cut;
- ``not_sampled``: passed everything before, but outside its cluster's quota.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.core.contract import NULL_ID, check_unique_ids, null_id_first
from pipelines.core.errors import ConfigError
from pipelines.embed.models import one_model
from pipelines.tldr.captions import cached_captioner, load_captioner, refine_batch
from pipelines.tldr.config import TldrParams
from pipelines.tldr.prefilter import image_text_similarity, top_fraction_flags
from pipelines.tldr.sampling import ratio_as_fraction

REASONS = (NULL_ID, "missing_cluster", "prefilter_missing_embedding", "prefilter_low_similarity", "not_sampled")


class TldrResult(NamedTuple):
    selected: DataFrame
    prefilter_cut: float | None


def sampling_key_column(seed: int) -> F.Column:
    """Spark twin of :func:`pipelines.tldr.sampling.sampling_key`: sha2('<seed>:<id>', 256)."""
    return F.sha2(F.concat_ws(":", F.lit(str(seed)), F.col("id").cast("string")), 256)


def cluster_quota_column(size_col: str, ratio: float) -> F.Column:
    """Spark twin of :func:`pipelines.tldr.sampling.cluster_quota`: ceil(ratio * size) in integer arithmetic."""
    frac = ratio_as_fraction(ratio)
    return F.expr(f"(CAST({size_col} AS BIGINT) * {frac.numerator} + {frac.denominator - 1}) div {frac.denominator}")


def sample_per_cluster(candidates: DataFrame, ratio: float, seed: int) -> DataFrame:
    """``candidates`` (id, cluster) plus ``sampled``: the first ceil(ratio * size) of each cluster in
    (sampling key, id) order. Window partitioned by cluster: no global sort, no single partition."""
    by_cluster = Window.partitionBy("cluster")
    ordered = by_cluster.orderBy(sampling_key_column(seed), F.col("id"))
    return (candidates
            .withColumn("_rank", F.row_number().over(ordered))
            .withColumn("_size", F.count(F.lit(1)).over(by_cluster))
            .withColumn("sampled", F.col("_rank") <= cluster_quota_column("_size", ratio))
            .drop("_rank", "_size"))


def transform(inputs: Mapping[str, DataFrame], params: TldrParams) -> TldrResult:
    """Run TL;DR on ``inputs['assignments']`` (+ embeddings and captions as configured)."""
    assignments = inputs["assignments"]
    check_unique_ids(assignments, "assignments")
    rows = assignments.select("id", F.col("cluster").cast("int").alias("cluster"))
    cut = None
    if params.prefilter:
        for name in ("image_embeddings", "text_embeddings"):
            if inputs.get(name) is None:
                raise ConfigError(f"config key 'inputs.{name}' must name an existing table when 'params.prefilter' is true")
        images = one_model(inputs["image_embeddings"], params.image_model, table="image_embeddings",
                           key="params.image_model").select("id", "vector")
        texts = one_model(inputs["text_embeddings"], params.text_model, table="text_embeddings",
                          key="params.text_model").select("id", "vector")
        check_unique_ids(images, "image_embeddings")
        check_unique_ids(texts, "text_embeddings")
        scores = image_text_similarity(images, texts)
        rows = rows.join(scores, "id", "left")
        rows, cut = top_fraction_flags(rows.where(F.col("cluster").isNotNull()), params.prefilter_keep_fraction)
        rows = rows.unionByName(
            assignments.select("id", F.col("cluster").cast("int").alias("cluster"))
            .where(F.col("cluster").isNull())
            .withColumn("similarity", F.lit(None).cast("double"))
            .withColumn("passes_prefilter", F.lit(False)))
    else:
        rows = rows.withColumn("similarity", F.lit(None).cast("double")).withColumn("passes_prefilter", F.lit(True))

    eligible = rows.where(F.col("cluster").isNotNull() & F.col("passes_prefilter"))
    sampled = sample_per_cluster(eligible.select("id", "cluster"), params.sample_ratio, params.seed)
    out = rows.join(sampled.select("id", "sampled"), "id", "left")
    reason = (F.when(F.col("cluster").isNull(), F.lit("missing_cluster"))
              .when(F.col("similarity").isNull() & F.lit(params.prefilter), F.lit("prefilter_missing_embedding"))
              .when(~F.col("passes_prefilter"), F.lit("prefilter_low_similarity"))
              .when(~F.col("sampled"), F.lit("not_sampled")))
    out = out.select("id", "cluster", F.coalesce(F.col("sampled"), F.lit(False)).alias("selected"),
                     null_id_first(reason).alias("reason"), "similarity")
    out = attach_captions(out, inputs.get("captions"), params)
    return TldrResult(out, cut)


_CAPTION_FIELDS = [T.StructField("caption", T.StringType(), True)]


def attach_captions(selected: DataFrame, captions: DataFrame | None, params: TldrParams) -> DataFrame:
    """Add ``caption``: the original caption, refined to 'original; generated' on selected rows when
    ``refine_captions`` is on (the captioner runs on the executors, loaded once per worker)."""
    if captions is None:
        if params.refine_captions:
            raise ConfigError("config key 'inputs.captions' must name an existing table (id, image, caption) "
                              "when 'params.refine_captions' is true")
        return selected.withColumn("caption", F.lit(None).cast("string"))
    for col in ("caption",) + (("image",) if params.refine_captions else ()):
        if col not in captions.columns:
            from pipelines.core.errors import SchemaContractError

            raise SchemaContractError(f"table 'captions' has no column '{col}'; it has: {', '.join(captions.columns)}")
    check_unique_ids(captions.select("id"), "captions")
    cap_cols = ["id", "caption"] + (["image"] if params.refine_captions else [])
    joined = selected.join(captions.select(*cap_cols), "id", "left")
    if not params.refine_captions:
        return joined
    load_captioner(params.captioner, params.captioner_options)  # fail fast on the driver, naming the key
    spec, options, separator = params.captioner, dict(params.captioner_options), params.caption_separator
    schema = T.StructType([f for f in joined.schema.fields if f.name != "image"])

    def refine(batches):
        captioner = cached_captioner(spec, options)
        for pdf in batches:
            mask = pdf["selected"].fillna(False).astype(bool).to_numpy()
            if mask.any():
                refined = refine_batch(captioner, list(pdf.loc[mask, "image"]), list(pdf.loc[mask, "caption"]), separator)
                pdf = pdf.copy()
                pdf["caption"] = pdf["caption"].astype(object)
                pdf.loc[mask, "caption"] = pd.Series(refined, index=pdf.index[mask], dtype=object)
            yield pdf.drop(columns=["image"])

    return joined.mapInPandas(refine, schema)
