"""The named presets of every model family (student, teacher, baseline)."""

from __future__ import annotations

from snnpar.models.registry import register_model
from snnpar.models.spikingformer import Spikingformer, SpikingformerConfig


def _student(embed_dim: int, depth: int, num_heads: int, **overrides) -> Spikingformer:
    return Spikingformer(SpikingformerConfig(embed_dim=embed_dim, depth=depth, num_heads=num_heads, **overrides))


@register_model("snnpar-8-768", kind="student")
def snnpar_8_768(**overrides) -> Spikingformer:
    """The paper's student (65.59 M learnable parameters with 26 attributes)."""
    return _student(768, 8, 8, **overrides)


@register_model("snnpar-8-512", kind="student")
def snnpar_8_512(**overrides) -> Spikingformer:
    return _student(512, 8, 8, **overrides)


@register_model("snnpar-8-384", kind="student")
def snnpar_8_384(**overrides) -> Spikingformer:
    return _student(384, 8, 8, **overrides)


@register_model("snnpar-tiny", kind="student")
def snnpar_tiny(**overrides) -> Spikingformer:
    """Trains on a CPU in seconds: for tests and the demo."""
    overrides = {"image_size": (128, 64), "time_steps": 4, **overrides}
    return _student(32, 1, 2, **overrides)
