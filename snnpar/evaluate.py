"""Evaluation: run a model over a data split and score it with the PAR metrics (Table 1 of the paper).

What it does: turn model outputs (student logits, the teacher's `TeacherOutput`, the baseline's
logits) into per-attribute probabilities, check that a checkpoint and a data set name the same
attributes in the same order, and format the Table 1 row (mA, Acc, Prec, Recall, F1, in percent).
The metric definitions themselves live in `snnpar.metrics`; training lives in `snnpar.train`.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from snnpar.atomic_file import atomic_output
from snnpar.errors import UserError

TABLE1_COLUMNS: tuple[str, ...] = ("mA", "Acc", "Prec", "Recall", "F1")
EVAL_BATCH_SIZE = 64  # `snnpar eval` and the validation that picks best.pt score in batches of this size


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA where present, else the CPU; 'cuda' without a GPU is an error, not a silent fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but torch sees no CUDA GPU here; use --device cpu or auto")
    return resolved


def logits_of(output: Any) -> torch.Tensor:
    """The [B, A] logits of any model output: a tensor, a (logits, features) tuple or a TeacherOutput."""
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot find logits in a model output of type {type(output).__name__}")


def check_attribute_names(expected: Sequence[str], found: Sequence[str], what: str, where: str) -> None:
    """Raise a clear error when a model and a data set disagree on the attributes or their order."""
    expected, found = list(expected), list(found)
    if expected == found:
        return
    if sorted(expected) == sorted(found):
        detail = "the same names in a different order"
    else:
        missing = [n for n in expected if n not in found][:5]
        extra = [n for n in found if n not in expected][:5]
        detail = f"{len(expected)} vs {len(found)} attributes; only in {what}: {missing}, only in the data: {extra}"
    raise UserError(f"{what} does not fit the data set {where}: {detail}. "
                    "Use a checkpoint trained on this data set (same attributes, same order).")


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for mixed precision on CUDA; a no-op where dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def predict_probabilities(model: nn.Module, loader: DataLoader, device: torch.device,
                          autocast_dtype: torch.dtype | None = None, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """sigmoid(logits) [N, A] and labels [N, A] over a loader, the model in eval mode (restored after)."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    probs, labels = [], []
    try:
        for images, targets in tqdm(loader, desc="eval", unit="batch", disable=not progress, leave=False):
            with autocast_context(device, autocast_dtype):
                logits = logits_of(model(images.to(device, non_blocking=True)))
            probs.append(torch.sigmoid(logits.float()).cpu().numpy())
            labels.append(targets.numpy())
    finally:
        model.train(was_training)
    if not probs:
        raise UserError("the evaluation split holds no images")
    return np.concatenate(probs).astype(np.float32), np.concatenate(labels).astype(np.float32)


def table1_row(metrics: Any) -> dict[str, float]:
    """The paper's Table 1 columns (mA, Acc, Prec, Recall, F1) in percent."""
    return metrics.as_row()


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A Markdown table; floats with two decimals as in the paper."""

    def cell(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write rows atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_output(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_text(text: str, path: str | Path) -> Path:
    """Write a text file atomically (temporary file in the same folder, then rename)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)


@dataclass
class Evaluation:
    metrics: Any  # snnpar.metrics.PARMetrics
    attribute_names: list[str]
    probabilities: np.ndarray
    labels: np.ndarray
    preset: str


def evaluate_model(model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int = EVAL_BATCH_SIZE,
                   threshold: float | None = None, definition: str = "rethinking", num_workers: int = 0,
                   autocast_dtype: torch.dtype | None = None, progress: bool = False) -> tuple[Any, np.ndarray, np.ndarray]:
    """Metrics, probabilities and labels of `model` on `dataset` (threshold None: the definition's own)."""
    from snnpar.metrics import compute_metrics

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        pin_memory=device.type == "cuda")
    probs, labels = predict_probabilities(model, loader, device, autocast_dtype, progress)
    names = list(getattr(dataset, "attribute_names", [])) or None
    metrics = compute_metrics(probs, labels, threshold=threshold, definition=definition, attribute_names=names)
    return metrics, probs, labels


def evaluate_checkpoint(checkpoint: str | Path, data: str, root: str | Path, split: str = "test",
                        threshold: float | None = None, definition: str = "rethinking", batch_size: int = EVAL_BATCH_SIZE,
                        device: str = "auto", num_workers: int = 0, deploy: Callable | None = None,
                        progress: bool = False, partition_index: int = 0) -> Evaluation:
    """Load a checkpoint, check its attributes against the data set and score it on one split (of one of
    PETA's / RAPv1's five partitions: `partition_index`).

    `deploy(model, card, device) -> module` scores another form of the model instead (the composition root
    passes the Loihi 2 integer network this way; this library does not import hw_sim)."""
    from snnpar.checkpoint import load_model
    from snnpar.data import load_dataset

    dev = resolve_device(device)
    model, card = load_model(checkpoint, map_location=dev)
    image_size = tuple(card.model_kwargs.get("image_size") or model.config.image_size)
    dataset = load_dataset(data, root, split, image_size=image_size, augment=False, partition_index=partition_index,
                           normalization=card.normalization)
    check_attribute_names(card.attribute_names, dataset.attribute_names, f"checkpoint {checkpoint}",
                          f"{data!r} at {root}")
    if deploy is not None:
        model = deploy(model, card, dev)
    metrics, probs, labels = evaluate_model(model, dataset, dev, batch_size, threshold, definition, num_workers,
                                            progress=progress)
    return Evaluation(metrics, list(card.attribute_names), probs, labels, card.preset)

