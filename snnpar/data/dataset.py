"""The PAR torch Dataset and `load_dataset`, one entry point for every data set and split.

`load_dataset(name, root, split)` reads the annotation (`formats`), picks the split (and, for
PETA and RAP, one of the five standard partitions), checks cheaply that every image file exists,
and returns a Dataset yielding (normalised image [3, H, W], labels [A] float). Images are decoded
lazily; a corrupt one raises with its path. The synthetic set is PA100K-shaped and goes through
the PA100K reader. This module does not draw or write data (see `synthetic`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from snnpar.data.formats import DISPLAY, DatasetError, find_image_dir, read_annotation
from snnpar.data.transforms import eval_transform, train_transform

DATASETS = ("synthetic", "pa100k", "peta", "rap")
SPLITS = ("train", "val", "trainval", "test")
_ALIASES = {
    "rapv1": "rap",
    "pa-100k": "pa100k",
    "pa100k": "pa100k",
    "peta": "peta",
    "rap": "rap",
    "synthetic": "synthetic",
}


class PARDataset(Dataset):
    """Images and 0/1 attribute labels of one split; `labels` is the whole split's [N, A] matrix."""

    def __init__(
        self,
        image_paths: list[Path],
        labels: np.ndarray,
        attribute_names: list[str],
        transform: Callable[[Image.Image], torch.Tensor],
        name: str = "",
        split: str = "",
    ) -> None:
        if labels.shape != (len(image_paths), len(attribute_names)):
            raise DatasetError(
                f"{name}/{split}: labels have shape {labels.shape} but there are {len(image_paths)} images "
                f"and {len(attribute_names)} attribute names"
            )
        self.image_paths = list(image_paths)
        self.labels = labels
        self.attribute_names = list(attribute_names)
        self.transform = transform
        self.name = name
        self.split = split

    def __len__(self) -> int:
        return len(self.image_paths)

    @property
    def num_attributes(self) -> int:
        return len(self.attribute_names)

    def load_image(self, index: int) -> Image.Image:
        path = self.image_paths[index]
        try:
            with Image.open(path) as img:
                return img.convert("RGB")
        except FileNotFoundError as err:
            raise DatasetError(
                f"{path}: image file is missing; restore it from the {self.name} archive"
            ) from err
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise DatasetError(
                f"{path}: image is corrupt and cannot be decoded ({err}); re-extract it from the {self.name} "
                "archive (or regenerate the synthetic set with `snnpar data synth`)"
            ) from err

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.transform(self.load_image(index))
        return image, torch.from_numpy(self.labels[index]).float()


def check_images_exist(paths: list[Path], source: str) -> None:
    """Raise naming the missing images; one directory listing per folder, not one stat per file."""
    by_dir: dict[Path, list[Path]] = defaultdict(list)
    for p in paths:
        by_dir[p.parent].append(p)
    missing: list[Path] = []
    for folder, files in by_dir.items():
        try:
            present = set(os.listdir(folder))
        except OSError:
            missing += files
            continue
        missing += [p for p in files if p.name not in present]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DatasetError(
            f"{len(missing)} image(s) named in {source} are missing: {shown}{more}. "
            f"Extract the images into {missing[0].parent} (or regenerate the synthetic set with `snnpar data synth`)"
        )


def canonical_name(name: str) -> str:
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise DatasetError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}")
    return _ALIASES[key]


def load_dataset(
    name: str,
    root: str | Path,
    split: str,
    image_size: tuple[int, int] = (256, 128),
    augment: bool = False,
    label_format: str | None = None,
    partition_index: int = 0,
    transform: Callable[[Image.Image], torch.Tensor] | None = None,
    normalization: dict[str, list[float]] | None = None,
) -> PARDataset:
    """One split of a PAR data set as a Dataset of (normalised image, float labels).

    name: synthetic | pa100k | peta | rap. split: train | val | trainval | test (RAPv1 has only
    trainval and test). partition_index: which of PETA's/RAP's five standard partitions (0-4).
    label_format: "mat" | "pickle" | None (auto: the original .mat if present, else the pickle).
    transform: replaces the default (train transform when `augment`, else eval transform).
    normalization: {"mean", "std"} of the default transforms (a checkpoint's own; default NORMALIZATION).
    """
    kind = canonical_name(name)
    reader_kind = "pa100k" if kind == "synthetic" else kind
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DatasetError(f"data root {root} is a file; pass the folder that holds the {DISPLAY[reader_kind]} "
                           "annotation and images")
    if not root.is_dir():
        fix = (f"generate it with `snnpar data synth --out {root}`" if kind == "synthetic"
               else f"download {DISPLAY[reader_kind]} and pass the folder that holds its annotation")  # fmt: skip
        raise DatasetError(f"data root {root} does not exist; {fix}")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    annotation = read_annotation(reader_kind, root, label_format)
    if split not in annotation.partitions:
        have = ", ".join(s for s in SPLITS if s in annotation.partitions)
        raise DatasetError(
            f"{annotation.source}: {DISPLAY[reader_kind]} has no {split!r} split (it has: {have}); "
            + (
                "train on 'trainval' and evaluate on 'test', as the literature does"
                if reader_kind == "rap"
                else "choose one of those"
            )
        )
    runs = annotation.partitions[split]
    if not 0 <= partition_index < len(runs):
        raise DatasetError(
            f"{annotation.source}: partition_index {partition_index} out of range; this file has {len(runs)} "
            f"partition(s) (0..{len(runs) - 1})"
        )
    indices = runs[partition_index]
    n_all = len(annotation.image_names)
    if indices.size and (indices.min() < 0 or indices.max() >= n_all):
        raise DatasetError(
            f"{annotation.source}: the {split} partition indexes images outside 1..{n_all}; the file is damaged"
        )
    image_dir = find_image_dir(reader_kind, root, annotation)
    paths = [image_dir / annotation.image_names[i] for i in indices]
    check_images_exist(paths, str(annotation.source))
    labels = np.ascontiguousarray(annotation.labels[indices], dtype=np.float32)
    if transform is None:
        transform = (train_transform(image_size, normalization) if augment
                     else eval_transform(image_size, normalization))
    return PARDataset(paths, labels, annotation.attribute_names, transform, name=kind, split=split)
