"""Prediction on image files: the attributes a checkpoint sees in each picture, and that picture drawn with them.

The drawing follows Fig. 3 of the paper: the pedestrian image with the list of predicted attributes
beside it. Images are resized to the model's input size and normalised with the checkpoint's own
normalisation, so this needs only the checkpoint, not the data set or the training code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snnpar.atomic_file import atomic_output
from snnpar.errors import UserError
from snnpar.evaluate import logits_of


@dataclass
class Prediction:
    image: Path
    probabilities: dict[str, float]  # every attribute, in the model's order
    threshold: float

    @property
    def present(self) -> list[tuple[str, float]]:
        """Attributes at or above the threshold, most probable first."""
        hits = [(n, p) for n, p in self.probabilities.items() if p >= self.threshold]
        return sorted(hits, key=lambda item: -item[1])


def load_image(path: str | Path, image_size: tuple[int, int], normalization: dict[str, list[float]]) -> torch.Tensor:
    """An image file -> normalised float tensor [3, H, W] at the model's input size."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise UserError(f"image {path} does not exist" if not path.exists() else f"image {path} is not a file")
    try:
        with Image.open(path) as img:
            img = img.convert("RGB").resize((image_size[1], image_size[0]), Image.BILINEAR)
    except (OSError, SyntaxError, ValueError) as err:  # PIL: unidentified, truncated or corrupt data
        raise UserError(f"image {path} cannot be decoded ({err}); is it a whole image file?") from err
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(normalization["mean"]).view(3, 1, 1)
    std = torch.tensor(normalization["std"]).view(3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def predict_images(model: nn.Module, attribute_names: Sequence[str], images: Sequence[str | Path],
                   image_size: tuple[int, int], normalization: dict[str, list[float]], threshold: float = 0.5,
                   batch_size: int = 32, device: torch.device | str = "cpu",
                   unreadable: list[UserError] | None = None) -> list[Prediction]:
    """Predictions for every image; with a list for `unreadable`, an image that cannot be read is skipped
    and its error appended there (so one damaged file does not cost the others), else it raises."""
    model.eval()
    results: list[Prediction] = []
    for start in range(0, len(images), batch_size):
        paths, tensors = [], []
        for p in images[start:start + batch_size]:
            try:
                tensors.append(load_image(p, image_size, normalization))
                paths.append(Path(p))
            except UserError as err:
                if unreadable is None:
                    raise
                unreadable.append(err)
        if not tensors:
            continue
        probs = torch.sigmoid(logits_of(model(torch.stack(tensors).to(device))).float()).cpu().numpy()
        for path, row in zip(paths, probs):
            results.append(Prediction(path, {n: float(p) for n, p in zip(attribute_names, row)}, threshold))
    return results


def predict_checkpoint(checkpoint: str | Path, images: Sequence[str | Path], threshold: float = 0.5,
                       device: str = "auto", unreadable: list[UserError] | None = None) -> list[Prediction]:
    from snnpar.checkpoint import load_model
    from snnpar.evaluate import resolve_device

    dev = resolve_device(device)
    model, card = load_model(checkpoint, map_location=dev)
    image_size = tuple(card.model_kwargs.get("image_size") or model.config.image_size)
    return predict_images(model, card.attribute_names, images, image_size, card.normalization, threshold,
                          device=dev, unreadable=unreadable)


def draw_prediction(prediction: Prediction, out_path: str | Path, max_attributes: int = 12) -> Path:
    """Save the image with its predicted attributes listed beside it (Fig. 3 of the paper); atomic write."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    out_path = Path(out_path)
    with Image.open(prediction.image) as img:
        picture = np.asarray(img.convert("RGB"))
    present = prediction.present[:max_attributes]
    fig, (ax_img, ax_txt) = plt.subplots(1, 2, figsize=(4.2, 3.6), gridspec_kw={"width_ratios": [1, 1.5]})
    ax_img.imshow(picture)
    ax_img.set_axis_off()
    ax_txt.set_axis_off()
    lines = [f"{name}  {p:.2f}" for name, p in present] or ["(no attribute above threshold)"]
    ax_txt.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=8,
                transform=ax_txt.transAxes, color="#1a5e1a")
    ax_txt.set_title(f"p >= {prediction.threshold:g}", fontsize=8, loc="left")
    fig.tight_layout()
    try:
        with atomic_output(out_path, suffix=out_path.suffix) as tmp:
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    return out_path
