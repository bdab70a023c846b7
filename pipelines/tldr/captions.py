"""Caption refinement for TL;DR (Wang et al., ICCV 2023, §3): the kept caption becomes
``original; generated``, where ``generated`` comes from an image-to-text model.

The model is pluggable: ``params.captioner`` names a factory (``package.module:factory``) that
returns a :class:`Captioner`. lakesieve ships no captioning weights and downloads none; a user
points the factory at a local model. Tests use a deterministic captioner defined in the tests.
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from pipelines.core.errors import ConfigError

_CACHE: dict[tuple[str, str], "Captioner"] = {}


@runtime_checkable
class Captioner(Protocol):
    """Turns a batch of encoded images (PNG/JPEG bytes, or None) into one caption each."""

    def generate(self, images: Sequence[bytes | None]) -> list[str]:
        ...


def refine_caption(original: str | None, generated: str | None, separator: str = "; ") -> str | None:
    """``original; generated`` (§3); either side alone when the other is missing or blank."""
    parts = [p.strip() for p in (original, generated) if p is not None and p.strip()]
    return separator.join(parts) if parts else original


def load_captioner(spec: str, options: Mapping[str, Any] | None = None) -> Captioner:
    """Import ``package.module:factory`` and call it with ``options``; errors name ``params.captioner``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"config key 'params.captioner': {spec!r} must look like 'package.module:factory'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"config key 'params.captioner': cannot import module '{module_name}' ({exc})") from exc
    factory = getattr(module, attr, None)
    if factory is None:
        raise ConfigError(f"config key 'params.captioner': module '{module_name}' has no attribute '{attr}'")
    try:
        captioner = factory(**dict(options or {}))
    except TypeError as exc:
        raise ConfigError(f"config key 'params.captioner_options' does not fit {spec}: {exc}") from exc
    if not isinstance(captioner, Captioner):
        raise ConfigError(f"config key 'params.captioner': {spec} did not return an object with generate(images)")
    return captioner


def cached_captioner(spec: str, options: Mapping[str, Any] | None = None) -> Captioner:
    """One captioner per Python worker process, so a model is loaded once per executor, not per batch."""
    key = (spec, repr(sorted(dict(options or {}).items())))
    if key not in _CACHE:
        _CACHE[key] = load_captioner(spec, options)
    return _CACHE[key]


def refine_batch(captioner: Captioner, images: Sequence[bytes | None], originals: Sequence[str | None],
                 separator: str = "; ") -> list[str | None]:
    """Refined captions for one batch; the captioner must return one caption per image."""
    generated = list(captioner.generate(list(images)))
    if len(generated) != len(images):
        raise ValueError(f"captioner returned {len(generated)} captions for {len(images)} images")
    return [refine_caption(o, g, separator) for o, g in zip(originals, generated)]
