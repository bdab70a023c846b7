"""Stage configs: frozen dataclasses loaded from YAML plus ``--set key=value`` overrides.

Each stage defines one frozen dataclass of its parameters whose defaults are the paper's recipe.
Fields carry their documentation and bounds in ``field(metadata=...)`` through :func:`param`;
``typing.Literal`` annotations give the allowed values. :func:`build_config` checks every key and
value and raises :class:`ConfigError` naming the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, get_args, get_origin, get_type_hints

import yaml

from pipelines.core.errors import ConfigError

_MISSING = dataclasses.MISSING


def param(default: Any = _MISSING, *, doc: str, minimum: float | None = None,
          maximum: float | None = None, exclusive_minimum: bool = False,
          default_factory: Any = _MISSING) -> Any:
    """A documented config field. ``doc`` says what it is and where the default comes from."""
    meta = {"doc": doc, "minimum": minimum, "maximum": maximum, "exclusive_minimum": exclusive_minimum}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with ``safe_load`` (data only: no tags, no code execution)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file '{path}' is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping at the top, not {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'params.num_bands=9'`` -> (['params', 'num_bands'], 9). The value is parsed as YAML data."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: Mapping[str, Any], overrides: list[str], default_section: str | None = None) -> dict:
    """Return a copy of ``data`` with each ``key=value`` applied. A bare key goes to ``default_section``."""
    out = json.loads(json.dumps(data, default=str)) if data else {}
    for text in overrides:
        path, value = parse_override(text)
        if len(path) == 1 and default_section is not None:
            path = [default_section, *path]
        node = out
        for part in path[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override '{text}': '{part}' is not a section")
            node = nxt
        node[path[-1]] = value
    return out


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin in (tuple, list):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return f"a list of {_describe(args[0])}" if args else "a list"
    if origin in (dict, Mapping):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp`` and normalise it (lists -> tuples, int -> float)."""
    origin = get_origin(tp)
    bad = ConfigError(f"config key '{key}': {value!r} is not valid; expected {_describe(tp)}")
    if tp is Any:
        return value
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise bad
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in get_args(tp):
            return None
        for arg in get_args(tp):
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise bad
    if origin in (tuple, list):
        if isinstance(value, str) and value.strip() == "":
            value = []
        if not isinstance(value, (list, tuple)):
            raise bad
        args = [a for a in get_args(tp) if a is not Ellipsis]
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise bad
        kt, vt = (get_args(tp) + (Any, Any))[:2]
        return {_coerce(k, kt, key): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise bad


def _check_bounds(value: Any, meta: Mapping[str, Any], key: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    lo, hi = meta.get("minimum"), meta.get("maximum")
    if value != value:  # NaN
        raise ConfigError(f"config key '{key}': NaN is not allowed")
    if lo is not None:
        if meta.get("exclusive_minimum") and not value > lo:
            raise ConfigError(f"config key '{key}': {value} is out of range; it must be > {lo}")
        if not meta.get("exclusive_minimum") and value < lo:
            raise ConfigError(f"config key '{key}': {value} is out of range; it must be >= {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"config key '{key}': {value} is out of range; it must be <= {hi}")


def build_config(cls: type, data: Mapping[str, Any] | None, *, section: str = "params"):
    """Build the frozen dataclass ``cls`` from ``data``; every problem names its key.

    Cross-field rules live in the dataclass's ``__post_init__`` and raise :class:`ConfigError`.
    """
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key '{section}.{unknown[0]}' for {cls.__name__}; "
            f"allowed keys: {', '.join(sorted(fields))}"
        )
    hints = get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        key = f"{section}.{name}"
        coerced = _coerce(value, hints[name], key)
        _check_bounds(coerced, fields[name].metadata, key)
        kwargs[name] = coerced
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str))


def config_hash(obj: Any) -> str:
    """A stable SHA-256 of a config (dataclass or JSON-ready data)."""
    data = config_to_dict(obj) if dataclasses.is_dataclass(obj) else obj
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def describe_config(cls: type) -> list[tuple[str, str, str]]:
    """(key, default, doc) for each field: used by ``lakesieve run STAGE --help-config``."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not _MISSING else (
            f.default_factory() if f.default_factory is not _MISSING else "(required)")
        rows.append((f.name, repr(default), f.metadata.get("doc", "")))
    return rows
