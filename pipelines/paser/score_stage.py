"""The ``paser-score`` stage's contract: per-sample degradation (mean token JSD between the original and
the pruned causal LM, PASER §3.2) for :mod:`pipelines.paser.stage`.

The two models are inputs (local folders): ``original_model`` and, optionally, ``pruned_model``;
without a pruned model the original is pruned in every worker (params.prune_method, prune_ratio).
Reading them (and their fingerprints, so a changed model reruns the stage) is storage work, so the
stage's ``load`` is bound in ``jobs/paser_score.py``.
"""
from __future__ import annotations

from pyspark.sql import functions as F

from pipelines.core.contract import Column
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.paser.config import PaserScoreParams
from pipelines.paser.scoring import calibration_texts, score_instructions, split_valid, with_text_columns

DEMO_MODEL = "demo/models/paser-tiny-gpt2"
JSD_MAX = 0.6932  # ln 2, the largest Jensen-Shannon divergence in nats
INSTRUCTIONS = InputSpec(columns=(Column("id", "id"), Column("instruction", "string"), Column("output", "string")),
                         default="demo/instructions/instructions",
                         doc="instruction data: id, instruction, output and optionally input")


def transform(inputs, params: PaserScoreParams):
    """``inputs``: ``instructions`` and the model folders ``original_model_path`` / ``pruned_model_path``."""
    from udfs.causal_lm import ScorerSpec

    instructions = inputs["instructions"]
    pruned_path = inputs.get("pruned_model_path")
    calibration = ()
    if pruned_path is None and params.prune_method == "wanda":
        valid, _ = split_valid(with_text_columns(instructions))
        calibration = calibration_texts(valid, params)
    spec = ScorerSpec(original_path=inputs["original_model_path"], pruned_path=pruned_path,
                      prune_method=params.prune_method, prune_ratio=params.prune_ratio,
                      calibration_texts=calibration, max_length=params.max_length, device=params.device)
    return score_instructions(instructions, spec, params)


def expectations(params, outputs, metrics_):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    return {
        "scores": [gxe.ExpectColumnValuesToBeUnique(column="id"),
                   gxe.ExpectColumnValuesToNotBeNull(column="jsd"),
                   gxe.ExpectColumnValuesToBeBetween(column="jsd", min_value=0.0, max_value=JSD_MAX),
                   gxe.ExpectColumnValuesToBeBetween(column="tokens", min_value=0)],
        "rejected": [gxe.ExpectColumnValuesToNotBeNull(column="reason")],
    }


def metrics(params, outputs):
    row = outputs["scores"].agg(F.avg("jsd").alias("mean_jsd"), F.avg("tokens").alias("mean_tokens")).first()
    return {"mean_jsd": float(row["mean_jsd"] or 0.0), "mean_tokens": float(row["mean_tokens"] or 0.0)}


STAGE = Stage(
    name="paser-score", params_cls=PaserScoreParams,
    description="per-sample mean token JSD between an original and a pruned causal LM (PASER §3.2)",
    inputs={
        "instructions": INSTRUCTIONS,
        "original_model": InputSpec(default=DEMO_MODEL, doc="local folder of the original causal LM (transformers)"),
        "pruned_model": InputSpec(optional=True, doc="local folder of the pruned LM; absent: prune in-process"),
    },
    outputs=(Output("scores", (Column("id", "id"), Column("jsd", "float"), Column("tokens", "integer"),
                               Column("prompt_tokens", "integer"), Column("output_tokens", "integer")),
                    "mean token JSD (nats) and token counts (prompt + output) per instruction"),
             Output("rejected", (Column("id", "id"), Column("reason", "string")), "rows not scored, with a reason")),
    transform=transform, expectations=expectations, metrics=metrics,
)
