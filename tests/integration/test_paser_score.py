"""paser-score on real Delta tables with a tiny GPT-2 built from a config (no download).

Identical original and pruned models give JSD 0; in-process magnitude pruning gives the JSD that a
numpy reference computes from both models' softmax outputs; token counts are the tokenizer's.
"""
from __future__ import annotations

import numpy as np
import pytest

from jobs import paser_score
from jobs.cli import main as cli_main
from pipelines.core import lakehouse
from pipelines.core.errors import ModelLoadError
from pipelines.core.tables import TableRef
from pipelines.demo_data.instructions import instruction_frame

pytestmark = pytest.mark.spark
torch = pytest.importorskip("torch")

NO_QUALITY = {"enabled": False}


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    from udfs.tiny_lm import build_tiny_gpt2, save_model

    root = tmp_path_factory.mktemp("paser_score_lake")
    frame = instruction_frame(num_per_capability=4, seed=1)
    texts = [f"{r.instruction}\n{r.input}\n{r.output}" for r in frame.itertuples()]
    model, tokenizer = build_tiny_gpt2(texts, seed=0, n_layer=2, n_embd=32, n_head=2)
    save_model(model, tokenizer, root / "models" / "original")
    save_model(model, tokenizer, root / "models" / "same")
    rows = [(int(r.id), r.instruction, r.input, r.output) for r in frame.itertuples()]
    rows += [(1000, None, "", "x"), (1001, "  ", "", "y")]
    df = spark.createDataFrame(rows, "id long, instruction string, input string, output string").coalesce(1)
    lakehouse.write_table(df, TableRef.parse("in/instructions", str(root)), "setup")
    return root, frame


def _run(spark, root, out, **params):
    cfg = {"inputs": {"instructions": "in/instructions", "original_model": str(root / "models" / "original")},
           "outputs": {"scores": f"{out}/scores", "rejected": f"{out}/rejected"},
           "params": {"max_length": 64, "batch_size": 4, "device": "cpu", **params}, "quality": NO_QUALITY}
    return cfg


def _scores(spark, root, out):
    return lakehouse.read_table(spark, TableRef.parse(f"{out}/scores", str(root))).toPandas().set_index("id")


def test_identical_models_give_zero_and_token_counts(spark, lake):
    from udfs.causal_lm import load_causal_lm

    root, frame = lake
    cfg = _run(spark, root, "same")
    cfg["inputs"]["pruned_model"] = str(root / "models" / "same")
    result = paser_score.run(spark, cfg, lakehouse_root=str(root))
    assert result.status == "success"
    scores = _scores(spark, root, "same")
    assert sorted(scores.index) == sorted(frame["id"])
    assert np.allclose(scores["jsd"], 0.0, atol=1e-6)
    _, tok = load_causal_lm(str(root / "models" / "original"))
    r = frame.iloc[3]
    prompt = len(tok(f"{r.instruction}\n{r.input}\n", add_special_tokens=False)["input_ids"])
    output = len(tok(r.output, add_special_tokens=False)["input_ids"])
    assert (scores.loc[r.id, "prompt_tokens"], scores.loc[r.id, "output_tokens"]) == (prompt, output)
    assert (scores["tokens"] == scores["prompt_tokens"] + scores["output_tokens"]).all()
    skipped = lakehouse.read_table(spark, TableRef.parse("same/rejected", str(root))).toPandas()
    assert sorted(skipped["id"]) == [1000, 1001] and set(skipped["reason"]) == {"empty_instruction"}


def test_magnitude_pruning_matches_a_numpy_reference(spark, lake):
    from udfs.causal_lm import load_causal_lm, magnitude_prune, sparsity
    from udfs.jsd import jsd_from_probs

    root, frame = lake
    paser_score.run(spark, _run(spark, root, "mag", prune_method="magnitude", prune_ratio=0.5), lakehouse_root=str(root))
    scores = _scores(spark, root, "mag")
    assert (scores["jsd"] > 1e-6).all() and (scores["jsd"] <= np.log(2)).all()
    original, tok = load_causal_lm(str(root / "models" / "original"))
    pruned, _ = load_causal_lm(str(root / "models" / "original"))
    magnitude_prune(pruned, 0.5)
    assert sparsity(pruned) == pytest.approx(0.5, abs=0.01)
    r = frame.iloc[5]
    ids = tok(f"{r.instruction}\n{r.input}\n", add_special_tokens=False)["input_ids"] + \
        tok(r.output, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        x = torch.tensor([ids[:64]])
        p = torch.softmax(original(input_ids=x).logits[0].double(), -1).numpy()
        q = torch.softmax(pruned(input_ids=x).logits[0].double(), -1).numpy()
    expected = float(np.mean(jsd_from_probs(p, q)))  # mean over the sample's positions
    assert scores.loc[r.id, "jsd"] == pytest.approx(expected, rel=1e-4, abs=1e-7)


def test_wanda_prunes_differently_from_magnitude(spark, lake):
    from udfs.causal_lm import load_causal_lm, sparsity, wanda_prune

    root, _ = lake
    cfg = _run(spark, root, "wanda", prune_method="wanda", prune_ratio=0.5, calibration_samples=8)
    paser_score.run(spark, cfg, lakehouse_root=str(root))
    wanda = _scores(spark, root, "wanda").sort_index()
    assert (wanda["jsd"] > 0).all() and (wanda["jsd"] <= np.log(2)).all()
    # Wanda prunes per output row: exactly half of every row of every block linear layer
    model, tok = load_causal_lm(str(root / "models" / "original"))
    wanda_prune(model, 0.5, [tok("add the numbers", add_special_tokens=False)["input_ids"]])
    assert sparsity(model) == pytest.approx(0.5, abs=1e-9)


def test_missing_model_is_a_named_error_and_exit_2(spark, lake):
    root, _ = lake
    cfg = _run(spark, root, "bad")
    cfg["inputs"]["original_model"] = str(root / "models" / "nope")
    with pytest.raises(ModelLoadError, match="original_model"):
        paser_score.run(spark, cfg, lakehouse_root=str(root))
    code = cli_main(["run", "paser-score", "--lakehouse", str(root), "--set", "inputs.instructions=in/instructions",
                     "--set", f"inputs.original_model={root}/models/nope"])
    assert code == 2
