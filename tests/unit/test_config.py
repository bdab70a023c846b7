"""Config loading: YAML + overrides into frozen dataclasses; every error names its key."""
from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from typing import Literal, Optional

import pytest

from pipelines.core.config import apply_overrides, build_config, config_hash, load_yaml, param
from pipelines.core.errors import ConfigError


@dataclass(frozen=True)
class Params:
    jaccard_threshold: float = param(0.8, doc="SlimPajama's threshold", minimum=0.0, maximum=1.0)
    num_perm: int = param(128, doc="permutations", minimum=1)
    scope: Literal["local", "global"] = param("global", doc="dedup scope")
    priority: tuple[str, ...] = param((), doc="source order")
    seed: Optional[int] = param(None, doc="seed")
    verify: bool = param(False, doc="exact Jaccard check")


def test_defaults_and_types():
    cfg = build_config(Params, {"num_perm": 64, "priority": ["wiki", "web"], "jaccard_threshold": 1})
    assert cfg == Params(jaccard_threshold=1.0, num_perm=64, priority=("wiki", "web"))
    assert isinstance(cfg.jaccard_threshold, float)
    with pytest.raises(FrozenInstanceError):
        cfg.num_perm = 3  # type: ignore[misc]


@pytest.mark.parametrize("data, message", [
    ({"num_prem": 3}, r"unknown config key 'params.num_prem'.*allowed keys: .*num_perm"),
    ({"scope": "everywhere"}, r"'params.scope': 'everywhere' is not valid; expected one of 'local', 'global'"),
    ({"jaccard_threshold": 1.5}, r"'params.jaccard_threshold': 1.5 is out of range; it must be <= 1.0"),
    ({"jaccard_threshold": -0.1}, r"'params.jaccard_threshold'.*>= 0.0"),
    ({"num_perm": "many"}, r"'params.num_perm': 'many' is not valid; expected int"),
    ({"num_perm": True}, r"'params.num_perm'"),
    ({"verify": "yes"}, r"'params.verify'.*expected bool"),
    ({"priority": "wiki"}, r"'params.priority'.*a list of str"),
])
def test_bad_values_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        build_config(Params, data)


def test_overrides_parse_yaml_scalars_into_sections():
    data = apply_overrides({"params": {"num_perm": 128}}, ["num_perm=64", "inputs.docs=demo/x", "priority=[a, b]"],
                           default_section="params")
    assert data == {"params": {"num_perm": 64, "priority": ["a", "b"]}, "inputs": {"docs": "demo/x"}}
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["novalue"])


def test_yaml_is_data_only(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("params: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(evil)
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_yaml(listy)


def test_config_hash_is_stable_and_sensitive():
    assert config_hash(Params()) == config_hash(Params())
    assert config_hash(Params()) != config_hash(Params(num_perm=64))
