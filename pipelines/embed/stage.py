"""The ``embed`` stage's whole contract: images or texts -> L2-normalised embedding vectors (open_clip /
sentence-transformers). See docs/embed.md; ``jobs/embed.py`` is only the entry point."""
from __future__ import annotations

from pyspark.sql import functions as F

from pipelines.core.contract import Column
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.embed.config import EmbedParams
from pipelines.embed.embed import INPUT, transform


def expectations(params, outputs, metrics_):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    emb = [gxe.ExpectColumnValuesToBeUnique(column="id"),
           gxe.ExpectColumnValuesToNotBeNull(column="vector"),
           gxe.ExpectColumnValuesToBeBetween(column="norm", min_value=0, strict_min=True)]
    rejected = [gxe.ExpectColumnValuesToNotBeNull(column="reason")]
    return {"embeddings": emb, "rejected": rejected}


def metrics(params, outputs):
    row = outputs["embeddings"].agg(F.min(F.size("vector")).alias("dmin"), F.max(F.size("vector")).alias("dmax")).first()
    return {"dimension": int(row["dmax"] or 0), "dimension_mixed": int((row["dmin"] or 0) != (row["dmax"] or 0))}


STAGE = Stage(
    name="embed",
    params_cls=EmbedParams,
    description="encodes images or texts into embedding vectors on the executors",
    inputs={INPUT: InputSpec(columns=(Column("id", "id"),), default="demo/images/images",
                             doc="rows with id and an image (bytes), image_path, text or caption column")},
    outputs=(Output("embeddings", (Column("id", "id"), Column("model", "string"), Column("vector", "vector"),
                                   Column("norm", "float")),
                    "the model, the vector (array<float>, L2-normalised) and its norm before normalising"),
             Output("rejected", (Column("id", "id"), Column("reason", "string")),
                    "rows that could not be encoded (undecodable image, null text), with a reason")),
    transform=transform, expectations=expectations, metrics=metrics,
)
