"""``embed``: encode a table's images or texts in batches on the executors.

Steps: :func:`resolve_source` (which column, what it holds; checked before any Spark action) ->
:func:`encode` (``mapInArrow`` over :func:`udfs.encoders.embed_batches`; the model is loaded once per
executor Python process) -> :func:`split_rejected` (``embeddings`` and ``rejected``).
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.core.contract import null_id_first
from pipelines.core.errors import SchemaContractError
from pipelines.embed.config import EmbedParams
from udfs.encoders import embed_batches, get_encoder

INPUT = "items"
_DEFAULT_COLUMNS = {"image": ("image", "image_path"), "text": ("text", "caption")}


class EmbedOutputs(NamedTuple):
    embeddings: DataFrame
    rejected: DataFrame


def resolve_source(schema: T.StructType, params: EmbedParams, table: str = INPUT) -> tuple[str, str]:
    """``(column, source)`` with source ``bytes``, ``path`` or ``text``; a missing or mistyped column
    is a :class:`SchemaContractError` naming it and the table."""
    fields = {f.name: f.dataType for f in schema.fields}
    if params.column is not None:
        column = params.column
        if column not in fields:
            raise SchemaContractError(f"table '{table}' has no column '{column}' (params.column); "
                                      f"it has: {', '.join(fields)}")
    else:
        candidates = _DEFAULT_COLUMNS[params.modality]
        column = next((c for c in candidates if c in fields), None)
        if column is None:
            raise SchemaContractError(f"table '{table}' has none of the columns {' or '.join(candidates)} "
                                      f"needed for params.modality '{params.modality}'; set params.column")
    dtype = fields[column]
    if params.modality == "text":
        if not isinstance(dtype, T.StringType):
            raise SchemaContractError(f"table '{table}' column '{column}' has type {dtype.simpleString()}, "
                                      f"but string is needed for text")
        return column, "text"
    if isinstance(dtype, T.BinaryType):
        return column, "bytes"
    if isinstance(dtype, T.StringType):
        return column, "path"
    raise SchemaContractError(f"table '{table}' column '{column}' has type {dtype.simpleString()}, but binary "
                              f"(image bytes) or string (image path) is needed for images")


def output_schema(id_type: T.DataType) -> T.StructType:
    return T.StructType([
        T.StructField("id", id_type, True),
        T.StructField("model", T.StringType(), True),
        T.StructField("vector", T.ArrayType(T.FloatType(), True), True),
        T.StructField("norm", T.DoubleType(), True),
        T.StructField("reason", T.StringType(), True),
    ])


def encode(df: DataFrame, params: EmbedParams, column: str, source: str) -> DataFrame:
    """(id, column) -> (id, model, vector, norm, reason), persisted so both outputs share one pass."""
    id_type = df.schema["id"].dataType
    fn = embed_batches(params.encoder_spec(), id_column="id", source_column=column, source=source,
                       normalize=params.normalize, batch_size=params.batch_size,
                       max_pixels=params.max_image_pixels)
    # persist: the model runs once even though two outputs (and the row counts) read the result
    return (df.select("id", column).mapInArrow(fn, output_schema(id_type))
            .withColumn("reason", null_id_first(F.col("reason"))).persist(StorageLevel.MEMORY_AND_DISK))


def split_rejected(encoded: DataFrame) -> EmbedOutputs:
    embeddings = encoded.where(F.col("reason").isNull()).select("id", "model", "vector", "norm")
    rejected = encoded.where(F.col("reason").isNotNull()).select("id", "reason")
    return EmbedOutputs(embeddings, rejected)


def embed(df: DataFrame, params: EmbedParams) -> EmbedOutputs:
    """The whole stage on one DataFrame with an ``id`` column."""
    column, source = resolve_source(df.schema, params)
    # Load the model once on the driver first: a missing or broken checkpoint is a ModelLoadError
    # naming the path here, before any task starts (on an executor it would surface as a task failure).
    get_encoder(params.encoder_spec())
    return split_rejected(encode(df, params, column, source))


def transform(inputs: Mapping[str, DataFrame], params: EmbedParams) -> dict[str, DataFrame]:
    return embed(inputs[INPUT], params)._asdict()
