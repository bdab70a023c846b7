"""``embed``: images or texts -> L2-normalised embedding vectors (open_clip / sentence-transformers).

``spark-submit jobs/embed.py --config jobs/configs/embed.yaml``; ``lakesieve run embed ...``.
"""
from __future__ import annotations

from jobs.runner import entrypoints
from pipelines.core.contract import Column
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.embed.config import EmbedParams
from pipelines.embed.embed import INPUT, transform


def _expectations(params, outputs, metrics):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    emb = [gxe.ExpectColumnValuesToBeUnique(column="id"),
           gxe.ExpectColumnValuesToNotBeNull(column="vector"),
           gxe.ExpectColumnValuesToBeBetween(column="norm", min_value=0, strict_min=True)]
    rejected = [gxe.ExpectColumnValuesToNotBeNull(column="reason")]
    return {"embeddings": emb, "rejected": rejected}


def _metrics(params, outputs):
    from pyspark.sql import functions as F

    emb = outputs["embeddings"]
    row = emb.agg(F.min(F.size("vector")).alias("dmin"), F.max(F.size("vector")).alias("dmax")).collect()[0]
    return {"dimension": int(row["dmax"] or 0), "dimension_mixed": int((row["dmin"] or 0) != (row["dmax"] or 0))}


STAGE = Stage(
    name="embed",
    params_cls=EmbedParams,
    description="encodes images or texts into embedding vectors on the executors",
    inputs={INPUT: InputSpec(columns=(Column("id", "id"),), default="demo/images/images",
                             doc="rows with id and an image (bytes), image_path, text or caption column")},
    outputs=(Output("embeddings", "id, model, vector (array<float>), norm (the norm before normalising)"),
             Output("rejected", "id, reason: rows that could not be encoded (undecodable image, null text)")),
    transform=transform, expectations=_expectations, metrics=_metrics,
)

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
