"""Checkpoints: a trained model plus everything needed to rebuild and use it without the training code.

A checkpoint is a `torch.save`d dict:
    format          "snnpar-checkpoint-v1"
    preset          registry name, e.g. "snnpar-tiny" or "vtb-tiny"
    model_kwargs    overrides passed to the preset (num_attributes, image_size, time_steps, attention, ...)
    state_dict      the model's weights
    attribute_names list of attribute names, in logit order
    normalization   {"mean": [r, g, b], "std": [r, g, b]} applied to images in [0, 1]
    extra           free-form: epoch, metrics, the resolved training config, ...

Files are written atomically (temporary file + rename), so a crash never leaves half a checkpoint.
Every value in it is a plain Python type or a tensor, and files are read with `weights_only=True`
(`load_torch_file`): a checkpoint is what users download and share, and a pickle may carry code that
runs when it is loaded; such a file is refused, naming the object. A checkpoint whose weights are not
all finite is refused too. `weights_fingerprint` identifies the weights (not the file), so an exported
graph can say which checkpoint it came from. Training state for --resume (optimizer, scheduler, RNG)
is kept by the trainer, not here.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from snnpar.atomic_file import atomic_output, write_error
from snnpar.errors import UserError
from snnpar.models.registry import create_model, list_models

FORMAT = "snnpar-checkpoint-v1"


@dataclass
class ModelCard:
    """What a checkpoint says about its model, apart from the weights."""

    preset: str
    model_kwargs: dict[str, Any]
    attribute_names: list[str]
    normalization: dict[str, list[float]]
    extra: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""  # weights_fingerprint of the weights it was loaded with ("" before saving)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temporary file in the same folder, then rename over `path`.

    Written through a Python file object, so that a full disk surfaces as the OSError it is (torch's
    own writer reports only "unexpected pos ...") and is reported naming `path`.
    """
    with atomic_output(path) as tmp:
        try:
            with open(tmp, "wb") as f:
                torch.save(obj, f)
        except RuntimeError as err:
            cause = err.__context__
            if isinstance(cause, OSError) and write_error(path, cause) is not None:
                raise cause from None
            raise
    return Path(path)


def save_checkpoint(path: str | Path, model: nn.Module, card: ModelCard) -> Path:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return atomic_torch_save(
        {
            "format": FORMAT,
            "preset": card.preset,
            "model_kwargs": card.model_kwargs,
            "state_dict": state,
            "attribute_names": list(card.attribute_names),
            "normalization": card.normalization,
            "extra": card.extra,
        },
        path,
    )


_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")  # torch's wording of a refused class or function


def load_torch_file(path: str | Path, what: str, legacy_globals: Iterable[Any] = ()) -> Any:
    """`torch.load(path, weights_only=True)`: plain types and tensors only, nothing that runs code.

    `what` names the file in messages ("checkpoint", "training state"). `legacy_globals` are the only
    classes and functions a file written by an earlier version of this project may also hold; they
    are allowed only when the file holds nothing else. Every failure is a UserError naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist")
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder; give the .pt file inside it")
    legacy = list(legacy_globals)
    try:
        try:
            return _load_weights_only(path, [])
        except pickle.UnpicklingError as err:
            refused = _REFUSED_GLOBAL.search(str(err))
            if refused is None:
                raise
            try:
                found = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))  # reads, runs nothing
            except Exception:  # not a zip checkpoint: the refusal names the first object
                found = {refused[1]}
            known = {f"{g.__module__}.{g.__qualname__}" for g in legacy}
            if not legacy or not found <= known:
                name = sorted(found - known)[0] if found - known else refused[1]
                raise UserError(f"{what} {path} holds {name}, a Python object that is not weights or plain data "
                                "and could run code when loaded; refused. Use a file written by `snnpar train`, "
                                "from a source you trust") from None
            return _load_weights_only(path, legacy)
    except UserError:
        raise
    except OSError as err:
        raise UserError(f"cannot read {what} {path}: {err.strerror}") from err
    except Exception as err:  # torch raises many types for a damaged file: zip, pickle, EOF, key errors
        raise UserError(f"{what} {path} is damaged or not a PyTorch file ({_first_detail(err)}); it may be "
                        "truncated: copy it again or write it again") from err


def _first_detail(err: Exception) -> str:
    """The informative part of a library's (often many-line) message."""
    text = str(err)
    if "WeightsUnpickler error:" in text:  # torch's unpickler: the reason follows the marker
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0][:120]}" if lines else type(err).__name__


def _load_weights_only(path: Path, allowed: list[Any]) -> Any:
    with warnings.catch_warnings(), torch.serialization.safe_globals(allowed):
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        return torch.load(path, map_location="cpu", weights_only=True)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's dict, with its layout checked (it may come from anywhere)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"checkpoint {path} does not exist; train one with `snnpar train` first")
    data = load_torch_file(path, "checkpoint")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path} is not an snnpar checkpoint (expected format {FORMAT!r}); was it written by "
                        "`snnpar train`?")
    expected = {"preset": str, "model_kwargs": dict, "state_dict": dict, "attribute_names": list,
                "normalization": dict}
    for key, kind in expected.items():
        if not isinstance(data.get(key), kind):
            raise UserError(f"checkpoint {path}: {key!r} is missing or not a {kind.__name__}; the file is damaged")
    state = data["state_dict"]
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise UserError(f"checkpoint {path}: state_dict entry {name!r} is a {type(value).__name__}, not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise UserError(f"checkpoint {path}: weights {name!r} hold NaN or infinite values; the run that wrote "
                            "it diverged: use an earlier checkpoint or train again with a lower --lr")
    norm = data["normalization"]
    if not all(isinstance(norm.get(k), (list, tuple)) and len(norm[k]) == 3 for k in ("mean", "std")):
        raise UserError(f"checkpoint {path}: normalization must hold 3 'mean' and 3 'std' values, got {norm}")
    if not all(isinstance(n, str) for n in data["attribute_names"]):
        raise UserError(f"checkpoint {path}: attribute_names must be a list of strings")
    return data


def weights_fingerprint(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of the weights, in name order (the first 16 hex
    digits): equal for files holding the same weights, whatever else they carry."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu()
        digest.update(f"{name}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard]:
    """Rebuild the model of a checkpoint, load its weights strictly, and return it in eval mode."""
    data = read_checkpoint(path)
    kwargs = dict(data["model_kwargs"])
    if "image_size" in kwargs:
        kwargs["image_size"] = tuple(kwargs["image_size"])
    if data["preset"] not in list_models():
        raise UserError(f"checkpoint {path} names model preset {data['preset']!r}, which this version does not "
                        f"know (known: {', '.join(list_models())})")
    try:
        model = create_model(data["preset"], **kwargs)
    except (TypeError, ValueError) as err:
        raise UserError(f"checkpoint {path}: preset {data['preset']!r} cannot be built with its model_kwargs "
                        f"{kwargs} ({err})") from err
    missing, unexpected = _strict_keys(model, data["state_dict"])
    if missing or unexpected:
        raise UserError(f"checkpoint {path} does not fit preset {data['preset']!r}: missing keys {missing[:5]}, "
                        f"unexpected keys {unexpected[:5]}; the file was edited or written by another version: "
                        "use the checkpoint `snnpar train` wrote, or `snnpar import` for a reference layout")
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as err:  # shapes that do not fit the preset
        raise UserError(f"checkpoint {path} does not fit preset {data['preset']!r}: {mismatch_detail(err)}; the file was edited or "
                        "written for another preset: use the checkpoint `snnpar train` wrote") from err
    card = ModelCard(data["preset"], data["model_kwargs"], data["attribute_names"], data["normalization"],
                     data.get("extra", {}), weights_fingerprint(data["state_dict"]))
    return model.to(map_location).eval(), card


def mismatch_detail(err: Exception) -> str:
    """The informative line of torch's load_state_dict error (the first size mismatch, else its start)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return next((line for line in lines if "size mismatch" in line or "Missing key" in line or "Unexpected key" in line),
                lines[0] if lines else type(err).__name__)[:240]


def _strict_keys(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    expected = set(model.state_dict())
    return sorted(expected - set(state)), sorted(set(state) - expected)
