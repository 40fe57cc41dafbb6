"""Load a user's ViT weights (e.g. ImageNet ViT-B/16) into the ViT inside the teacher or the baseline.

Accepts timm-style key names (``patch_embed.proj.weight``, ``blocks.0.attn.qkv.weight``, ...; our ViT
uses the same names), in a plain state dict or one wrapped as {"state_dict": ...} / {"model": ...},
optionally prefixed by "module." or "model.". The ImageNet classifier (``head.*``, ``pre_logits.*``)
is dropped on purpose; every other key must match exactly: a silently dropped key is how published
PAR checkpoints have lost accuracy before. Position embeddings are resized to the model's patch grid
(14x14 -> 16x8 for 224x224 -> 256x128) by bicubic interpolation.

Whole trained snnpar models are saved and loaded with `snnpar.checkpoint`, not here. Nothing is
downloaded: the file must already be on disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from snnpar.models.vit import VisionTransformer, resize_pos_embed

CLASSIFIER_PREFIXES = ("head.", "pre_logits.")  # ImageNet's classifier: never part of our encoders
WRAPPER_PREFIXES = ("module.", "model.")  # DataParallel / training-framework wrappers
WRAPPER_KEYS = ("state_dict", "model", "module")


@dataclass(frozen=True)
class LoadReport:
    loaded: int  # tensors copied into the model
    dropped: tuple[str, ...]  # file keys deliberately not loaded (classifier; class token for pooled ViTs)
    pos_embed_grid: tuple[tuple[int, int], tuple[int, int]]  # (file grid, model grid)


def find_vit(model: nn.Module) -> VisionTransformer:
    """The model itself if it is a ViT, else its one VisionTransformer submodule."""
    found = [m for m in model.modules() if isinstance(m, VisionTransformer)]
    if len(found) != 1:
        raise ValueError(f"{type(model).__name__} holds {len(found)} VisionTransformer modules; expected exactly one")
    return found[0]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ViT weights file {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a file that is not a checkpoint
        raise ValueError(f"{str(path)!r} is not a PyTorch state-dict file: {err}") from err
    for key in WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{str(path)!r} holds no state dict (a mapping of names to tensors)")
    return {_strip_wrappers(k): v for k, v in obj.items()}


def _strip_wrappers(key: str) -> str:
    for prefix in WRAPPER_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _square_grid(positions: int, path: Path) -> tuple[int, int]:
    side = math.isqrt(positions)
    if side * side != positions:
        raise ValueError(f"{str(path)!r}: pos_embed has {positions} grid positions, not a square grid; "
                         "cannot tell its shape to resize it")
    return side, side


def map_timm_state_dict(state: dict[str, torch.Tensor], vit: VisionTransformer,
                        path: Path) -> tuple[dict[str, torch.Tensor], list[str], tuple[int, int]]:
    """timm keys -> this ViT's keys: drop the classifier, fit the class token and position grid."""
    dropped = sorted(k for k in state if k.startswith(CLASSIFIER_PREFIXES))
    mapped = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIXES)}
    file_prefix = 1 if "cls_token" in mapped else 0
    if vit.cls_token is None and "cls_token" in mapped:
        del mapped["cls_token"]  # a mean-pooled ViT has no class token
        dropped.append("cls_token")
    old_grid = vit.config.grid_size
    if "pos_embed" in mapped:
        pos = mapped["pos_embed"]
        if pos.dim() != 3 or pos.shape[-1] != vit.config.embed_dim:
            raise ValueError(f"{str(path)!r}: pos_embed has shape {list(pos.shape)}, "
                             f"expected [1, positions, {vit.config.embed_dim}]")
        positions = pos.shape[1] - file_prefix
        if positions != vit.config.num_patches:
            old_grid = _square_grid(positions, path)
        pos = resize_pos_embed(pos, old_grid, vit.config.grid_size, file_prefix)
        if file_prefix > vit.num_prefix_tokens:  # drop the class token's position with the class token
            pos = pos[:, file_prefix:]
        mapped["pos_embed"] = pos
    return mapped, dropped, old_grid


def check_keys(mapped: dict[str, torch.Tensor], vit: VisionTransformer, path: Path) -> None:
    """Raise one error listing every missing key, unexpected key and shape mismatch."""
    expected = vit.state_dict()
    missing = sorted(set(expected) - set(mapped))
    unexpected = sorted(set(mapped) - set(expected))
    wrong_shape = sorted(f"{k}: file {list(mapped[k].shape)} vs model {list(expected[k].shape)}"
                         for k in set(expected) & set(mapped) if mapped[k].shape != expected[k].shape)
    if missing or unexpected or wrong_shape:
        lines = [f"ViT weights in {str(path)!r} do not match the model (timm key names expected):"]
        if missing:
            lines.append(f"  missing keys (in the model, not in the file): {', '.join(missing)}")
        if unexpected:
            lines.append(f"  unexpected keys (in the file, not in the model): {', '.join(unexpected)}")
        if wrong_shape:
            lines.append(f"  shape mismatches: {'; '.join(wrong_shape)}")
        lines.append("  Check that the file is a ViT of the same width, depth and patch size as the preset.")
        raise ValueError("\n".join(lines))


def load_vit_weights(model: nn.Module, path: str | Path) -> LoadReport:
    """Copy a timm-style ViT state dict from `path` into the ViT of `model` (strictly; see module doc)."""
    path = Path(path)
    vit = find_vit(model)
    mapped, dropped, old_grid = map_timm_state_dict(read_state_dict(path), vit, path)
    check_keys(mapped, vit, path)
    with torch.no_grad():
        vit.load_state_dict(mapped, strict=True)
    return LoadReport(loaded=len(mapped), dropped=tuple(dropped), pos_embed_grid=(old_grid, vit.config.grid_size))
