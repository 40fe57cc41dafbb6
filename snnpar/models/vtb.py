"""The teacher: VTB (a Vision-language Transformer Baseline for pedestrian attribute recognition).

As in VTB's code (see DESIGN.md): a ViT runs its first depth-1 blocks over the image -> the class
token and the patch tokens, all of which VTB keeps; each attribute sentence is embedded by the text
encoder (frozen sentence vectors, as VTB, or a small learned encoder for offline demos), mapped by
Linear(D_text -> D) and given a learned type embedding -> A attribute tokens (the text features); the
visual tokens get their own type embedding; the ViT's last block fuses [attribute tokens; visual
tokens], then the ViT's final LayerNorm; logit i is Linear_i(D -> 1) of attribute token i, and a
BatchNorm1d normalises the A logits. Stochastic depth (VTB: 0.1 for the last block) is a config.

The fusion block is the ViT's own last block (module path ``visual.blocks.{depth-1}``), so an
ImageNet ViT checkpoint fills the whole visual side (see `snnpar.models.pretrained`).
What it returns is what feature distillation needs; losses live in `snnpar.losses`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from snnpar.models.text_encoder import LEARNED, build_text_encoder, default_sentences
from snnpar.models.vit import VisionTransformer, ViTConfig


class TeacherOutput(NamedTuple):
    logits: torch.Tensor  # [B, A]
    visual_tokens: torch.Tensor  # [B, N, D] patch tokens entering the fusion (with the visual type embedding)
    text_features: torch.Tensor  # [A, D] attribute tokens entering the fusion (SNN-PAR's feature-KD inputs)


@dataclass(frozen=True)
class VTBConfig:
    embed_dim: int = 768
    depth: int = 12  # depth-1 encoder blocks + 1 fusion block
    num_heads: int = 12
    mlp_ratio: float = 4.0
    num_attributes: int = 26
    image_size: tuple[int, int] = (256, 128)
    patch_embed: str = "linear"  # "conv": a convolutional stem (the tiny preset; see vit.ConvStem)
    attribute_sentences: tuple[str, ...] | None = None  # one per attribute; generic ones when None
    text_encoder: str = LEARNED  # or the path of a local pretrained sentence-encoder folder
    text_width: int = 256  # of the learned text encoder (a pretrained one brings its own width)
    text_depth: int = 2
    text_heads: int = 4
    drop_path_rate: float = 0.0  # stochastic depth (VTB: 0.1)

    def __post_init__(self):
        if self.depth < 2:
            raise ValueError(f"VTB needs depth >= 2 (encoder blocks + the fusion block), got {self.depth}")
        n = self.attribute_sentences
        if n is not None and len(n) != self.num_attributes:
            raise ValueError(f"got {len(n)} attribute sentences for num_attributes={self.num_attributes}; "
                             "pass exactly one sentence per attribute")

    def sentences(self) -> list[str]:
        if self.attribute_sentences is None:
            return default_sentences(self.num_attributes)
        return list(self.attribute_sentences)

    def vit_config(self) -> ViTConfig:
        return ViTConfig(embed_dim=self.embed_dim, depth=self.depth, num_heads=self.num_heads,
                         mlp_ratio=self.mlp_ratio, image_size=tuple(self.image_size), class_token=True,
                         patch_embed=self.patch_embed, drop_path_rate=self.drop_path_rate)


class PerAttributeLinear(nn.Module):
    """A separate Linear(D -> 1) for each of A tokens, held as one [A, D] weight: logit_i = w_i . x_i + b_i."""

    def __init__(self, num_attributes: int, dim: int):
        super().__init__()
        bound = dim ** -0.5  # nn.Linear's default initialisation range
        self.weight = nn.Parameter(torch.empty(num_attributes, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_attributes).uniform_(-bound, bound))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, A, D] -> [B, A]"""
        return torch.einsum("bad,ad->ba", tokens, self.weight) + self.bias


class VTB(nn.Module):
    """forward(images [B, 3, H, W]) -> TeacherOutput(logits, visual_tokens, text_features)."""

    def __init__(self, cfg: VTBConfig = VTBConfig()):
        super().__init__()
        self.config = cfg
        d = cfg.embed_dim
        self.visual = VisionTransformer(cfg.vit_config())
        self.text = build_text_encoder(cfg.text_encoder, cfg.sentences(), cfg.text_width, cfg.text_depth,
                                       cfg.text_heads)
        self.word_embed = nn.Linear(self.text.output_dim, d)
        self.text_type_embed = nn.Parameter(torch.zeros(1, d))
        self.visual_type_embed = nn.Parameter(torch.zeros(1, 1, d))
        self.attribute_heads = PerAttributeLinear(cfg.num_attributes, d)
        self.logit_bn = nn.BatchNorm1d(cfg.num_attributes)
        nn.init.trunc_normal_(self.text_type_embed, std=0.02)
        nn.init.trunc_normal_(self.visual_type_embed, std=0.02)

    def text_features(self) -> torch.Tensor:
        """[A, D] attribute tokens (independent of the image)."""
        return self.word_embed(self.text()) + self.text_type_embed

    def forward(self, images: torch.Tensor) -> TeacherOutput:
        vit = self.visual
        visual = vit.run_blocks(vit.embed(images), stop=-1) + self.visual_type_embed  # class token kept
        text = self.text_features()
        attribute_tokens = text.unsqueeze(0).expand(images.shape[0], -1, -1)
        fused = vit.norm(vit.blocks[-1](torch.cat([attribute_tokens, visual], dim=1)))
        logits = self.logit_bn(self.attribute_heads(fused[:, : self.config.num_attributes]))
        return TeacherOutput(logits, visual[:, vit.num_prefix_tokens:], text)


def build_vtb(**config) -> VTB:
    """VTB from VTBConfig's keyword arguments; `attribute_sentences` may be any sequence of strings."""
    if config.get("attribute_sentences") is not None:
        config["attribute_sentences"] = tuple(config["attribute_sentences"])
    if "image_size" in config:
        config["image_size"] = tuple(config["image_size"])
    return VTB(VTBConfig(**config))
