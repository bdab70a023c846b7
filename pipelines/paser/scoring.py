"""The ``paser-score`` transformation: per-sample mean token JSD between an original and a pruned LM.

PASER §3.2 (Eq. 3): the degradation of a sample is the JSD between the next-token distributions of
the original and the pruned model over its tokens — here averaged per token (the paper's code sums).
The models run on the executors (``mapInPandas``); each Python worker loads and prunes them once
(:func:`udfs.causal_lm.cached_scorer`). Rows with a null or blank instruction go to ``rejected``.
"""
from __future__ import annotations

from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.paser.config import PaserScoreParams
from udfs.causal_lm import ScorerSpec

REASON_EMPTY_INSTRUCTION = "empty_instruction"


def with_text_columns(instructions: DataFrame) -> DataFrame:
    """(id, instruction, input, output) with a missing ``input`` column as '' and null input/output as ''."""
    inp = F.coalesce(F.col("input").cast("string"), F.lit("")) if "input" in instructions.columns else F.lit("")
    return instructions.select("id", "instruction", inp.alias("input"),
                               F.coalesce(F.col("output").cast("string"), F.lit("")).alias("output"))


def split_valid(instructions: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(rows to score, skipped rows with a reason): a null or blank instruction is skipped."""
    ok = F.col("instruction").isNotNull() & (F.length(F.trim(F.col("instruction"))) > 0)
    skipped = instructions.where(~ok | F.col("instruction").isNull()).select(
        "id", F.lit(REASON_EMPTY_INSTRUCTION).alias("reason"))
    return instructions.where(ok), skipped


def prompt_of(template: str, instruction: str, input_text: str) -> str:
    return template.replace("{instruction}", instruction or "").replace("{input}", input_text or "")


def calibration_texts(valid: DataFrame, params: PaserScoreParams) -> tuple[str, ...]:
    """A bounded, deterministic calibration sample for Wanda: the ``calibration_samples`` rows with the
    lowest seeded hash of id (ties by id), as full prompt + output texts (collected: at most that many)."""
    rows = (valid.withColumn("_h", F.xxhash64(F.col("id").cast("string"), F.lit(params.seed)))
            .orderBy("_h", "id").limit(params.calibration_samples)
            .select("instruction", "input", "output").collect())
    return tuple(prompt_of(params.prompt_template, r["instruction"], r["input"]) + (r["output"] or "") for r in rows)


def score_partitions(spec: ScorerSpec, template: str, batch_size: int):
    """The ``mapInPandas`` function: (id, instruction, input, output) -> (id, jsd, token counts)."""

    def fn(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from udfs.causal_lm import cached_scorer

        scorer = None
        for frame in frames:
            if frame.empty:
                continue
            scorer = scorer or cached_scorer(spec)
            prompts = [prompt_of(template, i, x) for i, x in zip(frame["instruction"], frame["input"])]
            result = scorer.score(prompts, list(frame["output"]), batch_size=batch_size)
            yield pd.DataFrame({"id": frame["id"].to_numpy(), **result})

    return fn


def score_instructions(instructions: DataFrame, spec: ScorerSpec, params: PaserScoreParams) -> dict[str, DataFrame]:
    """{"scores": (id, jsd, tokens, prompt_tokens, output_tokens), "rejected": (id, reason)}."""
    texts = with_text_columns(instructions)
    valid, skipped = split_valid(texts)
    id_type = instructions.schema["id"].dataType
    schema = T.StructType([
        T.StructField("id", id_type, False), T.StructField("jsd", T.DoubleType(), False),
        T.StructField("tokens", T.LongType(), False), T.StructField("prompt_tokens", T.LongType(), False),
        T.StructField("output_tokens", T.LongType(), False)])
    scores = valid.mapInPandas(score_partitions(spec, params.prompt_template, params.batch_size), schema)
    return {"scores": scores, "rejected": skipped}
