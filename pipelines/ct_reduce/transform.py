"""ct-reduce as DataFrame -> DataFrames: features on the executors, then a walk per volume.

Steps (each a function, testable on its own):

1. :func:`check_slices` — the schema contract of the chosen source column, before any action;
2. :func:`slice_features` — ``mapInPandas`` over all rows: dHash / pixels / embedding, or a reason;
3. :func:`reduce_volumes` — ``groupBy(volume_id).applyInPandas``: the greedy reference walk of
   Wolf et al. (2024) per volume, in numeric slice order (no collect);
   :func:`reduce_dataset` — the across-volume variant: one sequential ``mapInPandas`` task over the
   8-byte hashes in (volume_id, slice_index, id) order with a FAISS binary index of kept hashes;
4. :func:`volume_stats` — slices in, rejected, kept and the kept ratio per volume.
"""
from __future__ import annotations

from functools import partial
from typing import Mapping

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.core.contract import Column, check_columns, null_id_first
from pipelines.core.errors import SchemaContractError, require
from pipelines.ct_reduce.config import CtReduceParams

INPUT_NAME = "slices"
KEY_COLUMNS = (Column("id", "id"), Column("volume_id", "id"), Column("slice_index", "integer"))


def check_slices(df: DataFrame, params: CtReduceParams, table: str = INPUT_NAME) -> None:
    """Raise :class:`SchemaContractError` naming the column when the input cannot be read as slices."""
    check_columns(df, KEY_COLUMNS, table)
    source = params.source_column
    if params.source == "image":
        check_columns(df, (Column(source, "binary"),), table)
    elif params.source == "path":
        check_columns(df, (Column(source, "string"),), table)
    else:
        check_columns(df, (Column(source, "any"),), table)
        dtype = df.schema[source].dataType
        numeric = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
        if not (isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.ArrayType)
                and isinstance(dtype.elementType.elementType, numeric)):
            raise SchemaContractError(f"table '{table}' column '{source}' has type {dtype.simpleString()}, "
                                      "but array<array<numeric>> is needed for source 'pixels'")


def _encoder(params: CtReduceParams):
    """``encode(list[bytes]) -> (vectors, reasons)`` for an open_clip model, or None for 'pixels'."""
    if params.strategy != "embedding" or params.embedding_model == "pixels":
        return None
    encoders = require("udfs.encoders", "vision")
    spec = encoders.EncoderSpec(family="open_clip", model=params.embedding_model,
                                pretrained=params.embedding_weights, random_weights_seed=params.embedding_random_seed)
    return partial(encoders.encode_images, spec=spec)


def slice_features(df: DataFrame, params: CtReduceParams) -> DataFrame:
    """Per-row features (see :mod:`udfs.slice_features`); persisted, since three outputs read them."""
    from udfs.slice_features import feature_columns
    from udfs.slice_features import slice_features as kernel

    key_types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    cols = [("id", key_types["id"]), ("volume_id", key_types["volume_id"]), ("slice_index", key_types["slice_index"])]
    cols += feature_columns(params.strategy) + [("reason", "string")]
    schema = ", ".join(f"{name} {ddl}" for name, ddl in cols)
    bound = partial(kernel, strategy=params.strategy, source=params.source,
                    window_low=params.window_low, window_high=params.window_high, encoder=_encoder(params))

    def run(batches):
        for batch in batches:
            yield bound(batch)

    selected = df.select("id", "volume_id", "slice_index", params.source_column)
    return (selected.mapInPandas(run, schema).withColumn("reason", null_id_first(F.col("reason")))
            .persist(StorageLevel.MEMORY_AND_DISK))


def _decision_schema(features: DataFrame) -> str:
    types = {f.name: f.dataType.simpleString() for f in features.schema.fields}
    return (f"id {types['id']}, volume_id {types['volume_id']}, slice_index {types['slice_index']}, kept boolean, "
            f"reference_id {types['id']}, distance double, strategy string")


def reduce_volumes(features: DataFrame, params: CtReduceParams) -> DataFrame:
    """Decisions per volume: ``groupBy(volume_id).applyInPandas`` of the greedy walk."""
    from udfs.volume_reduce import reduce_volume

    def per_volume(frame):
        return reduce_volume(frame, params)

    good = features.where(F.col("reason").isNull()).drop("reason")
    return good.groupBy("volume_id").applyInPandas(per_volume, _decision_schema(features))


def reduce_dataset(features: DataFrame, params: CtReduceParams) -> DataFrame:
    """Decisions across volumes: one ordered task streaming the hashes through a kept-hash index."""
    from udfs.volume_reduce import reduce_dataset_stream

    good = features.where(F.col("reason").isNull()).select("id", "volume_id", "slice_index", "hash")
    ordered = good.repartition(1).sortWithinPartitions("volume_id", "slice_index", "id")
    def stream(batches):
        return reduce_dataset_stream(batches, params)

    return ordered.mapInPandas(stream, _decision_schema(features))


def rejected_slices(features: DataFrame) -> DataFrame:
    """Rows that could not be compared, with the reason."""
    return features.where(F.col("reason").isNotNull()).select("id", "volume_id", "slice_index", "reason")


def volume_stats(features: DataFrame, selected: DataFrame) -> DataFrame:
    """Per volume: slices_in (all rows, rejected included), rejected, kept, ratio = kept / slices_in."""
    counts = (features.where(F.col("volume_id").isNotNull()).groupBy("volume_id")
              .agg(F.count(F.lit(1)).alias("slices_in"),
                   F.sum(F.col("reason").isNotNull().cast("long")).alias("rejected")))
    kept = selected.groupBy("volume_id").agg(F.sum(F.col("kept").cast("long")).alias("kept"))
    return (counts.join(kept, "volume_id", "left")
            .withColumn("kept", F.coalesce(F.col("kept"), F.lit(0)).cast("long"))
            .withColumn("ratio", (F.col("kept") / F.col("slices_in")).cast("double"))
            .select("volume_id", "slices_in", "rejected", "kept", "ratio"))


def transform(inputs: Mapping[str, DataFrame], params: CtReduceParams) -> dict[str, DataFrame]:
    """The stage: ``{"selected", "volume_stats", "rejected"}`` from ``inputs["slices"]``."""
    df = inputs[INPUT_NAME]
    check_slices(df, params)
    require("PIL", "imaging")  # decoding needs Pillow: fail on the driver with an install hint, not in a task
    features = slice_features(df, params)
    selected = reduce_dataset(features, params) if params.scope == "dataset" else reduce_volumes(features, params)
    selected = selected.persist(StorageLevel.MEMORY_AND_DISK)  # written, then read again by volume_stats
    return {"selected": selected, "volume_stats": volume_stats(features, selected),
            "rejected": rejected_slices(features)}
