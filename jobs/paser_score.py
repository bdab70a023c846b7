"""``paser-score``: per-sample degradation (mean token JSD, original vs pruned LM) for PASER.

    lakesieve run paser-score --config jobs/configs/paser_score.yaml
    spark-submit jobs/paser_score.py --config jobs/configs/paser_score.yaml

The two models are inputs (local folders): ``original_model`` and, optionally, ``pruned_model``;
without a pruned model the original is pruned in every worker (params.prune_method, prune_ratio).
Their folder fingerprints enter the run ledger, so a changed model reruns the stage.
"""
from __future__ import annotations

from pipelines.core import lakehouse
from pipelines.core.contract import Column
from pipelines.core.errors import DataError
from pipelines.core.stage import InputSpec, Output, Stage
from pipelines.paser.config import PaserScoreParams
from pipelines.paser.scoring import calibration_texts, score_instructions, split_valid, with_text_columns
from jobs.runner import entrypoints

DEMO_MODEL = "demo/models/paser-tiny-gpt2"
DEMO_MODEL_TEXTS = 2000  # rows (lowest ids) whose text trains the demo model's tokenizer and weights


def _build_demo_model(spark, instructions, path: str) -> None:
    from udfs.tiny_lm import build_demo_model

    rows = with_text_columns(instructions).orderBy("id").limit(DEMO_MODEL_TEXTS).collect()
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in rows if r["instruction"]]
    if not texts:
        raise DataError("the instructions table is empty: cannot build the demo model")
    build_demo_model(path, texts, seed=0)


def _load(spark, refs, params: PaserScoreParams):
    from udfs.causal_lm import check_model_dir, model_fingerprint

    instructions = lakehouse.read_table(spark, refs["instructions"])
    prints = {"instructions": lakehouse.input_fingerprint(spark, refs["instructions"])}
    frames = {"instructions": instructions}
    for name in ("original_model", "pruned_model"):
        ref = refs.get(name)
        if ref is None:
            continue
        if ref.path is None:
            raise DataError(f"input '{name}' must be a local folder path, not catalog table '{ref.name}'")
        from pathlib import Path

        if name == "original_model" and params.build_demo_model_if_missing and not Path(ref.path).exists():
            _build_demo_model(spark, instructions, ref.path)
        check_model_dir(ref.path, f"input '{name}'")
        frames[f"{name}_path"] = ref.path
        prints[name] = "model:" + model_fingerprint(ref.path)[:16]
    return frames, prints


def _transform(inputs, params: PaserScoreParams):
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


def _expectations(params, outputs, metrics):
    from pipelines.core.quality import gx_expectations

    gxe = gx_expectations()
    return {
        "scores": [gxe.ExpectColumnValuesToBeUnique(column="id"),
                   gxe.ExpectColumnValuesToNotBeNull(column="jsd"),
                   gxe.ExpectColumnValuesToBeBetween(column="jsd", min_value=0.0, max_value=0.6932),
                   gxe.ExpectColumnValuesToBeBetween(column="tokens", min_value=0)],
        "skipped": [gxe.ExpectColumnValuesToNotBeNull(column="reason")],
    }


def _metrics(params, outputs):
    from pyspark.sql import functions as F

    row = outputs["scores"].agg(F.avg("jsd").alias("mean_jsd"), F.avg("tokens").alias("mean_tokens")).first()
    return {"mean_jsd": float(row["mean_jsd"] or 0.0), "mean_tokens": float(row["mean_tokens"] or 0.0)}


STAGE = Stage(
    name="paser-score", params_cls=PaserScoreParams,
    description="per-sample mean token JSD between an original and a pruned causal LM (PASER §3.2)",
    inputs={
        "instructions": InputSpec(columns=(Column("id", "id"), Column("instruction", "string"),
                                           Column("output", "string")),
                                  default="demo/instructions/instructions",
                                  doc="instruction data: id, instruction, output and optionally input"),
        "original_model": InputSpec(default=DEMO_MODEL, doc="local folder of the original causal LM (transformers)"),
        "pruned_model": InputSpec(optional=True, doc="local folder of the pruned LM; absent: prune in-process"),
    },
    outputs=(Output("scores", "id, jsd (mean token JSD, nats), tokens (prompt + output), prompt_tokens, output_tokens"),
             Output("skipped", "rows not scored, with a reason")),
    transform=_transform, load=_load, expectations=_expectations, metrics=_metrics,
)

run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
