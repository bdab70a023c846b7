"""TL;DR quotas, seeded keys, captions and config as pure functions (no Spark)."""
from __future__ import annotations

import hashlib

import pytest

from pipelines.core.config import build_config
from pipelines.core.errors import ConfigError
from pipelines.tldr.captions import load_captioner, refine_batch, refine_caption
from pipelines.tldr.config import TldrParams
from pipelines.tldr.prefilter import prefilter_keep_count
from pipelines.tldr.sampling import cluster_quota, expected_kept, ratio_as_fraction, sample_clusters, sampling_key


@pytest.mark.parametrize("size,ratio,quota", [
    (0, 0.25, 0), (1, 0.25, 1), (3, 0.25, 1), (4, 0.25, 1), (5, 0.25, 2), (8, 0.25, 2), (10, 0.25, 3),
    (30, 0.1, 3),   # 0.1 * 30 is 3.0000000000000004 in floats: still 3
    (7, 1.0, 7), (1000, 0.001, 1), (3, 1 / 3, 1),
])
def test_cluster_quota_is_exact_ceiling(size, ratio, quota):
    assert cluster_quota(size, ratio) == quota


def test_ratio_reads_the_written_decimal():
    assert ratio_as_fraction(0.1).denominator == 10 and ratio_as_fraction(0.25).denominator == 4
    with pytest.raises(ValueError):
        ratio_as_fraction(0.0)


def test_sampling_key_is_sha256_of_seed_and_id_text():
    assert sampling_key(7, 12) == hashlib.sha256(b"7:12").hexdigest()
    assert sampling_key(7, 12.0) == sampling_key(7, 12) == sampling_key(7, "12")
    assert sampling_key(1, 12) != sampling_key(2, 12)


def test_sample_clusters_keeps_quota_per_cluster_and_is_order_free():
    sizes = {0: 1, 1: 3, 2: 4, 3: 10, 4: 7}
    ids, clusters = [], []
    for c, n in sizes.items():
        for k in range(n):
            ids.append(c * 100 + k)
            clusters.append(c)
    chosen = sample_clusters(ids, clusters, 0.25, seed=0)
    per_cluster = {c: sum(1 for i in chosen if i // 100 == c) for c in sizes}
    assert per_cluster == {0: 1, 1: 1, 2: 1, 3: 3, 4: 2}
    assert len(chosen) == expected_kept(sizes.values(), 0.25) == 8
    assert sample_clusters(ids[::-1], clusters[::-1], 0.25, seed=0) == chosen
    assert len({frozenset(sample_clusters(ids, clusters, 0.25, seed=s)) for s in range(5)}) > 1


def test_prefilter_keep_count():
    assert prefilter_keep_count(10, 0.5) == 5 and prefilter_keep_count(11, 0.5) == 6 and prefilter_keep_count(0, 0.5) == 0


def test_refine_caption_joins_original_and_generated():
    assert refine_caption("a dog", "a brown dog on grass") == "a dog; a brown dog on grass"
    assert refine_caption(None, "gen") == "gen" and refine_caption("orig", "  ") == "orig"
    assert refine_caption("a", "b", separator=" | ") == "a | b"


class _Upper:
    def generate(self, images):
        return [f"{len(b)} bytes" if b is not None else "" for b in images]


def make_upper():
    return _Upper()


def test_captioner_loading_and_batch_refinement():
    cap = load_captioner(f"{__name__}:make_upper")
    assert refine_batch(cap, [b"abc", None], ["x", "y"]) == ["x; 3 bytes", "y"]
    with pytest.raises(ConfigError, match="params.captioner.*no_such_module"):
        load_captioner("no_such_module:factory")
    with pytest.raises(ConfigError, match="params.captioner.*has no attribute 'nope'"):
        load_captioner(f"{__name__}:nope")
    with pytest.raises(ConfigError, match="params.captioner_options"):
        load_captioner(f"{__name__}:make_upper", {"model_path": "/x"})


def test_config_defaults_and_errors():
    p = build_config(TldrParams, {})
    assert (p.sample_ratio, p.prefilter, p.prefilter_keep_fraction, p.refine_captions) == (0.25, False, 0.5, False)
    with pytest.raises(ConfigError, match="params.sample_ratio"):
        build_config(TldrParams, {"sample_ratio": 0})
    with pytest.raises(ConfigError, match="params.sample_ratio"):
        build_config(TldrParams, {"sample_ratio": 1.5})
    with pytest.raises(ConfigError, match="params.captioner.*required"):
        build_config(TldrParams, {"refine_captions": True})
    with pytest.raises(ConfigError, match="params.captioner"):
        build_config(TldrParams, {"captioner": "no_colon"})
