"""Reference checkpoints into our models: VTB's key layout (the teacher) and SNN-PAR's / Spikingformer's
SpikingJelly key layout (the student), with a report of every key mapped, dropped or missing.

Layouts read (from the released code: VTB models/base_block.py + models/vit.py; OpenPAR SNN-PAR
models/SNN_model.py + base_block.py; Spikingformer imagenet/model.py):
- "vtb": VTB's TransformerClassifier: ``vit.*`` (its ViT-B/16: ``patch_embed.proj``, ``cls_token``,
  ``pos_embed``, ``blocks.{i}``, ``norm``, an unused ImageNet ``fc``), ``blocks.0.*`` and ``norm.*`` (the same
  modules as ``vit.blocks.11`` and ``vit.norm``, stored twice), ``word_embed``, ``tex_embed``, ``vis_embed``,
  ``weight_layer.{i}`` (one Linear(768, 1) per attribute) and ``bn`` (BatchNorm1d over the logits).
  The attribute sentence vectors are not in it (VTB reads them from its data set pickle): give them.
- "spikingformer": a bare student, ``patch_embed.proj_conv`` / ``proj{i}_conv`` / ``_bn``,
  ``block.{j}.attn.{q,k,v,proj}_conv`` / ``_bn``, ``block.{j}.mlp.mlp{1,2}_conv`` (1x1 Conv2d) / ``_bn``,
  ``block.{j}.norm1/2`` (LayerNorms built but never called: dropped), ``head``.
- "snn-par": SNN-PAR's TransformerClassifier, the VTB keys plus the student under ``snn_model.``.
Checkpoints are read with torch.load(weights_only=True). VTB's and SNN-PAR's save_ckpt also store their
metrics as an easydict.EasyDict of numpy values; those are read as plain data (an OrderedDict stands in for
EasyDict, numpy arrays through numpy's own reconstructors, as torch documents for weights_only) and
ignored: no code from the file runs. This module maps tensors; `snnpar import` writes the snnpar checkpoint.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snnpar.errors import UserError

WRAPPERS = ("state_dicts", "state_dict", "model", "module")  # save_ckpt's, timm's and others' wrapping keys
STUDENT_PREFIX = "snn_model."
LAYOUTS = ("vtb", "snn-par", "spikingformer")


@dataclass
class ImportReport:
    """What happened to every key: file key -> model key, file key -> why dropped, model keys left unfilled."""

    mapped: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # known reference keys we do not need
    unexpected: list[str] = field(default_factory=list)  # file keys of no known meaning
    missing: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"mapped {len(self.mapped)} tensors, dropped {len(self.dropped)}, unexpected {len(self.unexpected)}, "
               f"missing {len(self.missing)}"]
        out += [f"  mapped     {src} -> {dst}" for src, dst in self.mapped]
        out += [f"  dropped    {src} ({why})" for src, why in self.dropped]
        out += [f"  unexpected {src}" for src in self.unexpected]
        out += [f"  missing    {dst}" for dst in self.missing]
        return out


def _numpy_reconstructors() -> list:
    dtypes = [type(np.dtype(code)) for code in ("f8", "f4", "f2", "i8", "i4", "i2", "i1", "u1", "b1")]
    return [np.core.multiarray._reconstruct, np.core.multiarray.scalar, np.ndarray, np.dtype, *dtypes]


def read_reference_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a reference checkpoint, unwrapped from its save format and DataParallel's "module."."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"reference checkpoint {path} does not exist; give the path of a VTB, SNN-PAR or "
                        "Spikingformer .pth file")
    try:
        with torch.serialization.safe_globals([(OrderedDict, "easydict.EasyDict"), *_numpy_reconstructors()]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a damaged or foreign file
        raise UserError(f"{path} cannot be read as a weights-only PyTorch checkpoint ({type(err).__name__}: "
                        f"{str(err).splitlines()[0]}); re-save its state dict with torch.save(model.state_dict(), ...)"
                        ) from err
    for key in WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} holds no state dict (a mapping of names to tensors) under any of {WRAPPERS}")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def detect_layout(state: dict[str, torch.Tensor], path: Path) -> str:
    keys = set(state)
    has_vtb = "vit.patch_embed.proj.weight" in keys and "word_embed.weight" in keys
    if has_vtb and f"{STUDENT_PREFIX}patch_embed.proj_conv.weight" in keys:
        return "snn-par"
    if has_vtb:
        return "vtb"
    if "patch_embed.proj_conv.weight" in keys and any(k.startswith("block.") for k in keys):
        return "spikingformer"
    shown = ", ".join(sorted(keys)[:6])
    raise UserError(f"{path}: unknown checkpoint layout (keys {shown}, ...); `snnpar import` reads VTB "
                    "(vit.*, word_embed, weight_layer.*), SNN-PAR (the same plus snn_model.*) and Spikingformer "
                    "(patch_embed.proj_conv, block.*) checkpoints; for an snnpar checkpoint no import is needed")


# --- the student ------------------------------------------------------------------------------------------

_STUDENT_RULES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"patch_embed\.(proj\d?_(?:conv|bn))\.(.+)"), r"tokenizer.\1.\2"),
    (re.compile(r"block\.(\d+)\.attn\.([qkv]|proj)_conv\.(.+)"), r"blocks.\1.attn.\2.0.\3"),
    (re.compile(r"block\.(\d+)\.attn\.([qkv]|proj)_bn\.(.+)"), r"blocks.\1.attn.\2.1.\3"),
    (re.compile(r"block\.(\d+)\.mlp\.(mlp[12])_conv\.(.+)"), r"blocks.\1.mlp.\2.0.\3"),
    (re.compile(r"block\.(\d+)\.mlp\.(mlp[12])_bn\.(.+)"), r"blocks.\1.mlp.\2.1.\3"),
    (re.compile(r"head\.(.+)"), r"head.\1"),
]
_UNUSED_NORM = re.compile(r"block\.\d+\.norm[12]\..+")


def student_key(key: str) -> str | None:
    """Our Spikingformer's key for a reference student key, or None where it has no counterpart."""
    for pattern, target in _STUDENT_RULES:
        if pattern.fullmatch(key):
            return pattern.sub(target, key)
    return None


def map_student(state: dict[str, torch.Tensor], model: nn.Module, prefix: str = "") -> tuple[dict, ImportReport]:
    """Reference student tensors (under `prefix`) -> a state dict for our Spikingformer `model`."""
    report, out = ImportReport(), {}
    expected = model.state_dict()
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        local = key[len(prefix):]
        if _UNUSED_NORM.fullmatch(local):
            report.dropped.append((key, "LayerNorm built but never called by the reference"))
            continue
        target = student_key(local)
        if target is None or target not in expected:
            report.unexpected.append(key)
            continue
        if value.dim() == 4 and expected[target].dim() == 3 and value.shape[-2:] == (1, 1):
            value = value[..., 0]  # SNN-PAR's MLP is a 1x1 Conv2d on the token grid; ours a 1x1 Conv1d
        out[target] = value
        report.mapped.append((key, target))
    report.missing = sorted(set(expected) - set(out))
    return out, report


# --- the teacher ------------------------------------------------------------------------------------------

def map_vtb(state: dict[str, torch.Tensor], model: nn.Module, text_vectors: torch.Tensor | None = None
            ) -> tuple[dict, ImportReport]:
    """VTB tensors -> a state dict for our VTB `model` (see the module docstring for the layout)."""
    report, out = ImportReport(), {}
    expected = model.state_dict()
    depth = len(model.visual.blocks)
    for key, value in state.items():
        if key.startswith(STUDENT_PREFIX):
            continue
        if key.startswith("vit.fc.") or key.startswith("vit.head."):
            report.dropped.append((key, "the ViT's ImageNet classifier, never called by VTB"))
        elif key.startswith("blocks.0.") or key.startswith("norm."):
            twin = "vit." + (key.replace("blocks.0.", f"blocks.{depth - 1}.", 1) if key.startswith("blocks.0.") else key)
            if twin not in state or not torch.equal(state[twin], value):
                raise UserError(f"checkpoint key {key} should be the same tensor as {twin} (VTB's fusion block is its "
                                "ViT's last block) but is not; the file is not a VTB checkpoint")
            report.dropped.append((key, f"the same module as {twin}"))
        elif key.startswith("vit."):
            out[f"visual.{key[4:]}"] = value
            report.mapped.append((key, f"visual.{key[4:]}"))
        elif key.startswith("word_embed."):
            out[key] = value
            report.mapped.append((key, key))
        elif key in ("tex_embed", "vis_embed"):
            target = {"tex_embed": "text_type_embed", "vis_embed": "visual_type_embed"}[key]
            out[target] = value.reshape(expected[target].shape) if target in expected else value
            report.mapped.append((key, target))
        elif key.startswith("bn."):
            out[f"logit_bn.{key[3:]}"] = value
            report.mapped.append((key, f"logit_bn.{key[3:]}"))
        elif (m := re.fullmatch(r"weight_layer\.(\d+)\.(weight|bias)", key)):
            report.mapped.append((key, f"attribute_heads.{m.group(2)}[{m.group(1)}]"))
        else:
            report.unexpected.append(key)
    heads = sorted({int(m.group(1)) for k in state if (m := re.fullmatch(r"weight_layer\.(\d+)\.weight", k))})
    if heads:
        out["attribute_heads.weight"] = torch.cat([state[f"weight_layer.{i}.weight"] for i in heads])
        out["attribute_heads.bias"] = torch.cat([state[f"weight_layer.{i}.bias"] for i in heads])
    if text_vectors is not None and "text.embeddings" in expected:
        out["text.embeddings"] = text_vectors.to(expected["text.embeddings"].dtype)
        report.mapped.append(("(the attribute vectors given)", "text.embeddings"))
    report.missing = sorted(set(expected) - set(out))
    return out, report


def load_mapped(model: nn.Module, mapped: dict[str, torch.Tensor], report: ImportReport, path: Path,
                fix: str) -> None:
    """Load strictly; a missing key or a shape that does not fit is a UserError naming the file and the fix."""
    expected = model.state_dict()
    wrong = [f"{k}: file {list(v.shape)} vs model {list(expected[k].shape)}"
             for k, v in mapped.items() if k in expected and v.shape != expected[k].shape]
    if report.missing or report.unexpected or wrong:
        parts = []
        if report.unexpected:
            parts.append(f"unexpected keys {', '.join(report.unexpected[:8])}"
                         f"{' ...' if len(report.unexpected) > 8 else ''}")
        if report.missing:
            parts.append(f"missing {', '.join(report.missing[:8])}{' ...' if len(report.missing) > 8 else ''}")
        if wrong:
            parts.append(f"shapes differ: {'; '.join(wrong[:4])}")
        raise UserError(f"{path} does not fill the model: {'; '.join(parts)}; {fix}")
    model.load_state_dict(mapped, strict=True)
