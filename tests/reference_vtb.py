"""Oracle: VTB's TransformerClassifier as its released code builds it, on timm's VisionTransformer.

VTB's models/vit.py is a copy of timm's ViT (qkv_bias, LayerNorm eps 1e-6, class token); its forward runs
patch embedding, class token, position embedding and all blocks but the last (no final norm). VTB's
models/base_block.py then adds `word_embed` (Linear 768 -> dim) and `tex_embed` to the attribute vectors,
`vis_embed` to every visual token (class token included), runs `blocks = vit.blocks[-1:]` and
`norm = vit.norm` over [text; visual], one `weight_layer[i]` = Linear(dim, 1) per attribute token, and
`bn` = BatchNorm1d over the logits. The state dict of this module is a checkpoint in VTB's key layout
(its ViT's ImageNet classifier is `vit.fc` in VTB's copy, `vit.head` in timm's: `vtb_state_dict` renames it).

Written here for the tests (timm is a test dependency); nothing in the package imports it.
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn


class ReferenceVTB(nn.Module):
    def __init__(self, attr_num: int, dim: int, depth: int, num_heads: int, image_size: tuple[int, int],
                 text_width: int = 768):
        super().__init__()
        self.attr_num = attr_num
        self.word_embed = nn.Linear(text_width, dim)
        self.vit = VisionTransformer(img_size=image_size, patch_size=16, embed_dim=dim, depth=depth,
                                     num_heads=num_heads, qkv_bias=True, class_token=True, num_classes=1000)
        self.blocks = nn.ModuleList([self.vit.blocks[-1]])  # VTB's ModuleList slice: keys blocks.0.*
        self.norm = self.vit.norm
        self.weight_layer = nn.ModuleList(nn.Linear(dim, 1) for _ in range(attr_num))
        self.bn = nn.BatchNorm1d(attr_num)
        self.vis_embed = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.tex_embed = nn.Parameter(torch.randn(1, 1, dim) * 0.02)

    def visual_features(self, imgs: torch.Tensor) -> torch.Tensor:
        x = self.vit._pos_embed(self.vit.patch_embed(imgs))  # cat(class token, patches) + pos_embed
        for blk in self.vit.blocks[:-1]:
            x = blk(x)
        return x

    def forward(self, imgs: torch.Tensor, word_vec: torch.Tensor):
        """-> (logits, the patch tokens with vis_embed, the text tokens): what SNN-PAR's feature KD reads."""
        features = self.visual_features(imgs)
        tex = self.word_embed(word_vec).expand(features.shape[0], word_vec.shape[0], features.shape[-1]) + self.tex_embed
        vis = features + self.vis_embed
        x = torch.cat([tex, vis], dim=1)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        logits = torch.cat([self.weight_layer[i](x[:, i, :]) for i in range(self.attr_num)], dim=1)
        return self.bn(logits), vis[:, 1:, :], tex


def vtb_state_dict(model: ReferenceVTB) -> dict[str, torch.Tensor]:
    """The state dict as VTB saves it: timm's classifier `vit.head` is `vit.fc` in VTB's ViT."""
    return {k.replace("vit.head.", "vit.fc.", 1): v for k, v in model.state_dict().items()}
