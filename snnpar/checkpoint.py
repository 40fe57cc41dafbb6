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
Training state for --resume (optimizer, scheduler, RNG) is kept by the trainer, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from snnpar.atomic_file import atomic_output
from snnpar.models.registry import create_model

FORMAT = "snnpar-checkpoint-v1"


@dataclass
class ModelCard:
    """What a checkpoint says about its model, apart from the weights."""

    preset: str
    model_kwargs: dict[str, Any]
    attribute_names: list[str]
    normalization: dict[str, list[float]]
    extra: dict[str, Any] = field(default_factory=dict)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temporary file in the same folder, then rename over `path`."""
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)
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


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; train one with `snnpar train` first")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a damaged file
        raise ValueError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); it may be truncated or not a checkpoint") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not an snnpar checkpoint (expected format {FORMAT!r}); was it written by `snnpar train`?")
    return data


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard]:
    """Rebuild the model of a checkpoint, load its weights strictly, and return it in eval mode."""
    data = read_checkpoint(path)
    kwargs = dict(data["model_kwargs"])
    if "image_size" in kwargs:
        kwargs["image_size"] = tuple(kwargs["image_size"])
    model = create_model(data["preset"], **kwargs)
    missing, unexpected = model.load_state_dict(data["state_dict"], strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint {path} does not fit preset {data['preset']!r}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
    card = ModelCard(data["preset"], data["model_kwargs"], data["attribute_names"], data["normalization"], data.get("extra", {}))
    return model.to(map_location).eval(), card
