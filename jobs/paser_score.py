"""``paser-score``: the stage's entry point and its loader (the instructions and the two model folders);
its contract is :mod:`pipelines.paser.score_stage` (docs/paser.md).

    lakesieve run paser-score --config jobs/configs/paser_score.yaml
    spark-submit jobs/paser_score.py --config jobs/configs/paser_score.yaml
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from jobs.entry import entrypoints
from pipelines.core import lakehouse
from pipelines.core.errors import DataError
from pipelines.paser.config import PaserScoreParams
from pipelines.paser.score_stage import STAGE as DECLARED
from pipelines.paser.scoring import with_text_columns

DEMO_MODEL_TEXTS = 2000  # rows (lowest ids) whose text trains the demo model's tokenizer and weights


def _build_demo_model(instructions, path: str) -> None:
    from udfs.tiny_lm import build_demo_model

    rows = with_text_columns(instructions).orderBy("id").limit(DEMO_MODEL_TEXTS).collect()
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in rows if r["instruction"]]
    if not texts:
        raise DataError("the instructions table is empty: cannot build the demo model")
    build_demo_model(path, texts, seed=0)


def load(spark, refs, params: PaserScoreParams):
    """The instructions table, and each model input as a checked local folder with its fingerprint."""
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
        if name == "original_model" and params.build_demo_model_if_missing and not Path(ref.path).exists():
            _build_demo_model(instructions, ref.path)
        check_model_dir(ref.path, f"input '{name}'")
        # absolute: the executors' Python workers load the model, and their working directory is not ours
        frames[f"{name}_path"] = lakehouse.spark_path(ref.path)
        prints[name] = "model:" + model_fingerprint(ref.path)[:16]
    return frames, prints


STAGE = replace(DECLARED, load=load)
run, main = entrypoints(STAGE)

if __name__ == "__main__":
    raise SystemExit(main())
