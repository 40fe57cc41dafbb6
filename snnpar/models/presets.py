"""The named presets of every model family (student, teacher, baseline)."""

from __future__ import annotations

from snnpar.models.registry import register_model
from snnpar.models.spikingformer import Spikingformer, SpikingformerConfig


def _student(embed_dim: int, depth: int, num_heads: int, overrides: dict) -> Spikingformer:
    """The preset's size, unless the overrides change it too."""
    return Spikingformer(SpikingformerConfig(**{"embed_dim": embed_dim, "depth": depth, "num_heads": num_heads,
                                                **overrides}))


@register_model("snnpar-8-768", kind="student")
def snnpar_8_768(**overrides) -> Spikingformer:
    """The paper's student (65.59 M learnable parameters with 26 attributes)."""
    return _student(768, 8, 8, overrides)


@register_model("snnpar-8-512", kind="student")
def snnpar_8_512(**overrides) -> Spikingformer:
    return _student(512, 8, 8, overrides)


@register_model("snnpar-8-384", kind="student")
def snnpar_8_384(**overrides) -> Spikingformer:
    return _student(384, 8, 8, overrides)


@register_model("snnpar-tiny", kind="student")
def snnpar_tiny(**overrides) -> Spikingformer:
    """Trains on a CPU in seconds: for tests and the demo."""
    overrides = {"image_size": (128, 64), "time_steps": 4, **overrides}
    return _student(32, 1, 2, overrides)


# --- teacher (VTB) and ANN baseline presets ---------------------------------------------------------

from snnpar.models.vit_baseline import ViTBaseline, ViTBaselineConfig  # noqa: E402
from snnpar.models.vtb import VTB, build_vtb  # noqa: E402


@register_model("vtb-b16", kind="teacher")
def vtb_b16(**overrides) -> VTB:
    """VTB as VTB builds it: ViT-B/16 at 256x128 (11 encoder blocks -> class token + 128 patch tokens, the 12th
    block fuses), stochastic depth 0.1, frozen 768-d attribute vectors (all-mpnet-base-v2's width)."""
    defaults = {"embed_dim": 768, "depth": 12, "num_heads": 12, "drop_path_rate": 0.1, "text_encoder": "frozen",
                "text_width": 768}
    return build_vtb(**{**defaults, **overrides})


@register_model("vtb-tiny", kind="teacher")
def vtb_tiny(**overrides) -> VTB:
    """Trains on a CPU in a minute or two at 128x64: for tests and the demo."""
    defaults = {"embed_dim": 64, "depth": 3, "num_heads": 4, "image_size": (128, 64), "patch_embed": "conv",
                "text_width": 32, "text_depth": 1, "text_heads": 2}
    return build_vtb(**{**defaults, **overrides})


def _baseline(embed_dim: int, depth: int, num_heads: int, overrides: dict) -> ViTBaseline:
    if "image_size" in overrides:
        overrides["image_size"] = tuple(overrides["image_size"])
    return ViTBaseline(ViTBaselineConfig(**{"embed_dim": embed_dim, "depth": depth, "num_heads": num_heads,
                                            **overrides}))


@register_model("vit-8-768", kind="baseline")
def vit_8_768(**overrides) -> ViTBaseline:
    """Table 2's ANN student: the SNN swapped for a ViT of the same width and depth (768, 8 blocks, 8 heads)."""
    return _baseline(768, 8, 8, overrides)


@register_model("vit-tiny", kind="baseline")
def vit_tiny(**overrides) -> ViTBaseline:
    """The ViT counterpart of snnpar-tiny (width 32, one block, 128x64)."""
    return _baseline(32, 1, 2, {"image_size": (128, 64), "patch_embed": "conv", **overrides})
