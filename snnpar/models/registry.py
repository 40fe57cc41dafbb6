"""Model presets by name, in the manner of timm's registry.

A preset is a small function that fills a config and builds the model; CLIs, tests and benchmarks ask
for a name ("snnpar-8-768") and never repeat hyper-parameters. Overrides (number of attributes,
image size, time steps, attention mode, ...) are passed as keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_PRESETS: dict[str, Callable[..., nn.Module]] = {}
_KINDS: dict[str, str] = {}


def register_model(name: str, kind: str):
    """Register a builder under `name`. kind is 'student', 'teacher' or 'baseline'."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _PRESETS:
            raise ValueError(f"model preset {name!r} registered twice")
        _PRESETS[name] = fn
        _KINDS[name] = kind
        return fn

    return wrap


def create_model(name: str, **overrides) -> nn.Module:
    _import_families()
    if name not in _PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known presets: {', '.join(list_models())}")
    return _PRESETS[name](**overrides)


def list_models(kind: str | None = None) -> list[str]:
    _import_families()
    return sorted(n for n in _PRESETS if kind is None or _KINDS[n] == kind)


def model_kind(name: str) -> str:
    _import_families()
    return _KINDS[name]


def _import_families() -> None:
    """Import every model family once so its presets register themselves."""
    from snnpar.models import presets  # noqa: F401
