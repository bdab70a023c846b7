"""MinhashParams: SlimPajama defaults, derived bands, and errors that name the key."""
from __future__ import annotations

import pytest
from datasketch.lsh import _optimal_param

from pipelines.core.config import build_config
from pipelines.core.errors import ConfigError
from pipelines.minhash.config import MinhashParams
from udfs.minhash import candidate_probability, optimal_bands
from udfs.text import content_length, normalize_for_hashing


def test_defaults_are_the_slimpajama_recipe():
    p = MinhashParams()
    assert (p.ngram_unit, p.ngram_size, p.num_perm, p.bands, p.min_content_chars) == ("char", 13, 128, (9, 13), 200)
    assert p.scope == "global" and p.survivor == "smallest_id"


@pytest.mark.parametrize("threshold,num_perm,weights", [(0.8, 128, (0.5, 0.5)), (0.5, 64, (0.5, 0.5)),
                                                        (0.9, 128, (0.3, 0.7)), (0.7, 256, (0.5, 0.5))])
def test_derived_bands_equal_datasketch_optimum(threshold, num_perm, weights):
    assert optimal_bands(threshold, num_perm, *weights) == _optimal_param(threshold, num_perm, *weights)


def test_null_bands_are_derived_from_the_threshold():
    p = build_config(MinhashParams, {"num_bands": None, "rows_per_band": None, "jaccard_threshold": 0.5,
                                     "num_perm": 64})
    assert p.bands == _optimal_param(0.5, 64, 0.5, 0.5)


def test_candidate_probability_is_the_s_curve():
    assert candidate_probability(0.8, 9, 13) == pytest.approx(1 - (1 - 0.8 ** 13) ** 9)
    assert candidate_probability(0.95, 9, 13) > 0.99 > 0.01 > candidate_probability(0.4, 9, 13)


@pytest.mark.parametrize("data,key", [
    ({"num_bands": 20, "rows_per_band": 13}, "params.num_bands"),
    ({"num_bands": None}, "params.num_bands"),
    ({"survivor": "source_priority"}, "params.source_priority"),
    ({"scope": "planet"}, "params.scope"),
    ({"jaccard_threshold": 0}, "params.jaccard_threshold"),
    ({"ngram_unit": "byte"}, "params.ngram_unit"),
    ({"nope": 1}, "params.nope"),
    ({"false_positive_weight": 0.9}, "params.false_positive_weight"),
])
def test_bad_values_name_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_config(MinhashParams, data)


def test_normalisation_is_slimpajamas():
    assert normalize_for_hashing("  Hello,\n\tWORLD!!  it's   me. ") == "hello world its me"
    assert content_length("a, b.\n c!") == 3
