"""Load a user's ViT weights (e.g. ImageNet ViT-B/16) into the ViT inside the teacher or the baseline.

Two file formats, the two VTB starts from:
- a PyTorch state dict in timm's key layout (``patch_embed.proj.weight``, ``blocks.0.attn.qkv.weight``,
  ...; our ViT uses the same names), plain or wrapped as {"state_dict": ...} / {"model": ...}, optionally
  prefixed by "module." or "model." (VTB's ``jx_vit_base_p16_224-80ecf9dd.pth`` is such a file);
- Google's ``.npz`` (``embedding/kernel``, ``Transformer/encoderblock_0/...``), converted by timm's own
  loader into timm's layout first (the optional ``vtb`` extra: timm is the well-kept converter).
The ImageNet classifier (``head.*``, ``pre_logits.*``) is dropped on purpose; every other key must match
exactly: a silently dropped key is how published PAR checkpoints have lost accuracy before. Position
embeddings are resized to the model's patch grid (14x14 -> 16x8 for 224x224 -> 256x128) bilinearly, as VTB.

Whole trained snnpar models are saved and loaded with `snnpar.checkpoint`, not here. Nothing is
downloaded: the file must already be on disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from snnpar.errors import UserError
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


def npz_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Google's ViT .npz in timm's key layout, through timm's loader (into a timm ViT of the file's own shape)."""
    import numpy as np

    try:
        from timm.models.vision_transformer import VisionTransformer as TimmViT
        from timm.models.vision_transformer import _load_weights
    except ImportError as err:
        raise UserError(f"{path} is a .npz of Google's layout, which needs timm to convert: pip install "
                        "'snnpar[vtb]' (or give a .pth in timm's key layout)") from err
    try:
        w = np.load(path)
        kernel, pos = w["embedding/kernel"], w["Transformer/posembed_input/pos_embedding"]
        depth = len({k.split("/")[1] for k in w.files if k.startswith("Transformer/encoderblock_")})
        heads = w["Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel"].shape[1]
    except (KeyError, ValueError, OSError) as err:
        raise UserError(f"{path} is not a ViT .npz in Google's layout (embedding/kernel, Transformer/...): {err}") from err
    prefix = 1 if "cls" in w.files else 0
    side = math.isqrt(pos.shape[1] - prefix)
    classes = w["head/kernel"].shape[-1] if "head/kernel" in w.files else 0
    vit = TimmViT(img_size=side * kernel.shape[0], patch_size=kernel.shape[0], embed_dim=kernel.shape[-1],
                  depth=depth, num_heads=heads, num_classes=classes, class_token=bool(prefix),
                  global_pool="token" if prefix else "avg")
    _load_weights(vit, str(path))
    return dict(vit.state_dict())


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"ViT weights file {path} does not exist; give ImageNet ViT-B/16 weights as a .pth "
                        "(timm's key layout) or Google's .npz")
    if path.suffix == ".npz":
        return npz_state_dict(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a file that is not a checkpoint
        raise UserError(f"{path} is not a PyTorch state-dict file ({type(err).__name__}); give a .pth in timm's "
                        "key layout or Google's .npz") from err
    for key in WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} holds no state dict (a mapping of names to tensors)")
    return {_strip_wrappers(k): v for k, v in obj.items()}


def _strip_wrappers(key: str) -> str:
    for prefix in WRAPPER_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _square_grid(positions: int, path: Path) -> tuple[int, int]:
    side = math.isqrt(positions)
    if side * side != positions:
        raise UserError(f"{path}: pos_embed has {positions} grid positions, not a square grid; "
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
            raise UserError(f"{path}: pos_embed has shape {list(pos.shape)}, "
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
        lines = [f"ViT weights in {path} do not match the model (timm key names expected):"]
        if missing:
            lines.append(f"  missing keys (in the model, not in the file): {', '.join(missing)}")
        if unexpected:
            lines.append(f"  unexpected keys (in the file, not in the model): {', '.join(unexpected)}")
        if wrong_shape:
            lines.append(f"  shape mismatches: {'; '.join(wrong_shape)}")
        lines.append("  Check that the file is a ViT of the same width, depth and patch size as the preset.")
        raise UserError(" ".join(line.strip() for line in lines))


def load_vit_weights(model: nn.Module, path: str | Path) -> LoadReport:
    """Copy a timm-style ViT state dict from `path` into the ViT of `model` (strictly; see module doc)."""
    path = Path(path)
    vit = find_vit(model)
    mapped, dropped, old_grid = map_timm_state_dict(read_state_dict(path), vit, path)
    check_keys(mapped, vit, path)
    with torch.no_grad():
        vit.load_state_dict(mapped, strict=True)
    return LoadReport(loaded=len(mapped), dropped=tuple(dropped), pos_embed_grid=(old_grid, vit.config.grid_size))
