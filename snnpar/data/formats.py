"""Readers of the PAR data sets' on-disk annotation formats, into one `Annotation`.

Formats read:
- PA100K `annotation.mat`: variables `attributes` (26×1 cell), `{train,val,test}_images_name`
  (N×1 cells) and `{train,val,test}_label` (N×26); the fixed 80k/10k/10k split.
- PETA `PETA.mat`: struct `peta` = (data 19000×(4+105), attribute 105×1 cell, selected_attribute,
  partion_attribute 5×1 cell of structs with 1-based train/val/test index columns); the first 35
  attributes are evaluated; images are `images/00001.png` ... .
- RAPv1 `RAP_annotation.mat`: struct `RAP_annotation` = (partion 5×1 cell of structs with 1-based
  trainval/test index rows, label 41585×92, attribute_chinese, attribute_eng 92×1 cell, position,
  imagesname 41585×1 cell, ...); the first 51 attributes are evaluated; label 2 means unknown.
- The PAR field's preprocessed pickle (`dataset_all.pkl` / `dataset.pkl` of Rethinking_of_PAR and
  the strong baseline): an (Easy)dict with `image_name`, `label`, `attr_name`, `partition`
  (arrays, or lists of 5 arrays for PETA/RAP), optional `label_idx.eval`, `root`.

Struct fields are found by name where the file has the usual names and by position otherwise, as
the reference preprocessing scripts index them. This module reads annotations only; it does not
open images (see `dataset`).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnpar.errors import UserError

EVALUATED_ATTRIBUTES = {"pa100k": 26, "peta": 35, "rap": 51}
MAT_FILES = {
    "pa100k": ("annotation.mat",),
    "peta": ("PETA.mat",),
    "rap": ("RAP_annotation/RAP_annotation.mat", "RAP_annotation.mat"),
}
PICKLE_FILES = ("dataset_all.pkl", "dataset.pkl")
IMAGE_DIRS = {
    "pa100k": ("data", "data/release_data/release_data", "release_data/release_data", "images", "."),
    "peta": ("images", "."),
    "rap": ("RAP_dataset", "."),
}
DISPLAY = {"pa100k": "PA100K", "peta": "PETA", "rap": "RAPv1"}


class DatasetError(UserError):
    """An input file or folder is not what the loader needs; the message names it and the fix."""


@dataclass
class Annotation:
    """All images of one data set with their evaluated labels and its standard partitions."""

    kind: str  # "pa100k" | "peta" | "rap"
    source: Path  # the annotation file read
    image_names: list[str]
    labels: np.ndarray  # [N, A] float32 of 0/1 (unknown read as 0)
    attribute_names: list[str]
    partitions: dict[str, list[np.ndarray]]  # split -> one index array per partition
    image_root_hint: str | None = None  # a folder named inside the file (the pickle's `root`)
    description: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- helpers


def _mat_string(cell: Any) -> str:
    """One entry of a MATLAB cell of strings as scipy.io.loadmat returns it."""
    value = cell
    while isinstance(value, np.ndarray):
        if value.size == 0:
            return ""
        value = value.flat[0]
    return str(value)


def _mat_strings(cell: np.ndarray) -> list[str]:
    return [_mat_string(c) for c in np.asarray(cell, dtype=object).reshape(-1)]


def _struct_field(record: Any, names: tuple[str, ...], position: int, path: Path, what: str) -> Any:
    fields = record.dtype.names or ()
    for name in names:
        if name in fields:
            return record[name]
    if position < len(fields):
        return record[position]
    raise DatasetError(
        f"{path}: the struct has no field {what} (fields: {', '.join(fields)}); is it the right file?"
    )


def _index_array(value: Any) -> np.ndarray:
    return np.asarray(value).reshape(-1).astype(np.int64)


def clean_labels(labels: Any, path: Path) -> np.ndarray:
    """0/1 float32 labels; 2 (RAP's "unknown") reads as 0; anything else is an error."""
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise DatasetError(
            f"{path}: the label matrix has shape {arr.shape}, expected 2-D (images × attributes)"
        )
    arr = arr.astype(np.float32)
    bad = ~np.isin(arr, (0.0, 1.0, 2.0))
    if bad.any():
        values = np.unique(arr[bad])[:5]
        raise DatasetError(f"{path}: labels must be 0, 1 or 2 (unknown); found {values.tolist()}")
    arr[arr == 2.0] = 0.0
    return arr


def _check_width(labels: np.ndarray, names: list[str], path: Path, kind: str) -> None:
    if labels.shape[1] != len(names):
        raise DatasetError(
            f"{path}: the label matrix has {labels.shape[1]} columns but the file names {len(names)} "
            "attributes; the file is damaged or was edited: restore the original annotation"
        )
    need = EVALUATED_ATTRIBUTES[kind]
    if len(names) < need:
        raise DatasetError(
            f"{path}: {DISPLAY[kind]} has {need} evaluated attributes but this file names only {len(names)}; "
            f"is it a {DISPLAY[kind]} annotation?"
        )


def identify_mat(path: Path) -> str | None:
    """Which data set a .mat annotation belongs to, from its variable names (without loading it)."""
    from scipy.io import whosmat

    try:
        variables = {name for name, _, _ in whosmat(str(path))}
    except Exception as err:  # scipy raises several types for a damaged file
        raise DatasetError(
            f"{path}: cannot be read as a MATLAB file ({err}); restore it from the original archive"
        ) from err
    if "peta" in variables:
        return "peta"
    if "RAP_annotation" in variables:
        return "rap"
    if {"attributes", "train_images_name", "train_label"} <= variables:
        return "pa100k"
    return None


def _load_mat(path: Path, kind: str) -> dict[str, Any]:
    from scipy.io import loadmat

    found = identify_mat(path)
    if found != kind:
        what = f"a {DISPLAY[found]} annotation" if found else "no PAR annotation this loader knows"
        hint = f" (load it with --data {found})" if found else ""
        raise DatasetError(
            f"{path} holds {what}{hint}, not {DISPLAY[kind]}'s; point --root at the {DISPLAY[kind]} folder"
        )
    try:
        return loadmat(str(path))
    except Exception as err:
        raise DatasetError(
            f"{path}: cannot be read as a MATLAB file ({err}); restore it from the original archive"
        ) from err


# ---------------------------------------------------------------- .mat readers


def read_pa100k_mat(path: Path) -> Annotation:
    data = _load_mat(path, "pa100k")
    try:
        names = _mat_strings(data["attributes"])
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{path}: the variable attributes is not a cell of names ({err}); restore the original file") from err
    image_names: list[str] = []
    labels = []
    partitions: dict[str, list[np.ndarray]] = {}
    start = 0
    for split in ("train", "val", "test"):
        key_names, key_labels = f"{split}_images_name", f"{split}_label"
        if key_names not in data or key_labels not in data:
            raise DatasetError(
                f"{path}: variable {key_names} or {key_labels} is missing; restore the original file"
            )
        split_names = _mat_strings(data[key_names])
        split_labels = np.asarray(data[key_labels])
        if split_labels.size == 0:
            split_labels = split_labels.reshape(0, len(names))
        if split_labels.ndim != 2 or split_labels.shape[0] != len(split_names):
            raise DatasetError(
                f"{path}: {key_names} has {len(split_names)} entries but {key_labels} has shape {split_labels.shape}; "
                "restore the original file"
            )
        if split_labels.shape[1] != len(names):
            raise DatasetError(
                f"{path}: {key_labels} has {split_labels.shape[1]} columns but the file names {len(names)} attributes; "
                "the file is damaged or was edited: restore the original annotation"
            )
        image_names += split_names
        labels.append(split_labels)
        partitions[split] = [np.arange(start, start + len(split_names))]
        start += len(split_names)
    partitions["trainval"] = [np.concatenate([partitions["train"][0], partitions["val"][0]])]
    label = clean_labels(np.concatenate(labels, axis=0), path)
    _check_width(label, names, path, "pa100k")
    return Annotation("pa100k", path, image_names, label[:, :26], names[:26], partitions)


def read_peta_mat(path: Path) -> Annotation:
    data = _load_mat(path, "peta")
    record = data["peta"].reshape(-1)[0]
    raw = np.asarray(_struct_field(record, ("data",), 0, path, "data"))
    names = _mat_strings(_struct_field(record, ("attribute",), 1, path, "attribute"))
    if raw.ndim != 2 or raw.shape[1] < 4:
        raise DatasetError(
            f"{path}: peta.data has shape {raw.shape}, expected (images, 4 id columns + attributes)"
        )
    label = clean_labels(raw[:, 4:], path)
    _check_width(label, names, path, "peta")
    parts = np.asarray(_struct_field(record, ("partion_attribute", "partition_attribute"), 3, path, "partion_attribute"),
                       dtype=object).reshape(-1)  # fmt: skip
    partitions: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": [], "trainval": []}
    for part in parts:
        rec = np.asarray(part).reshape(-1)[0]
        idx = {}
        for k, split in enumerate(("train", "val", "test")):
            idx[split] = _index_array(_struct_field(rec, (f"{split}_index",), k, path, f"{split}_index")) - 1
            partitions[split].append(idx[split])
        partitions["trainval"].append(np.concatenate([idx["train"], idx["val"]]))
    image_names = [f"{i + 1:05d}.png" for i in range(label.shape[0])]
    return Annotation("peta", path, image_names, label[:, :35], names[:35], partitions)


def read_rap_mat(path: Path) -> Annotation:
    data = _load_mat(path, "rap")
    record = data["RAP_annotation"].reshape(-1)[0]
    parts = np.asarray(
        _struct_field(record, ("partion", "partition"), 0, path, "partion"), dtype=object
    ).reshape(-1)
    label = clean_labels(_struct_field(record, ("label", "data"), 1, path, "label"), path)
    names = _mat_strings(_struct_field(record, ("attribute_eng", "attribute"), 3, path, "attribute_eng"))
    image_names = _mat_strings(_struct_field(record, ("imagesname", "name"), 5, path, "imagesname"))
    _check_width(label, names, path, "rap")
    if len(image_names) != label.shape[0]:
        raise DatasetError(f"{path}: {len(image_names)} image names but {label.shape[0]} label rows")
    partitions: dict[str, list[np.ndarray]] = {"trainval": [], "test": []}
    for part in parts:
        rec = np.asarray(part).reshape(-1)[0]
        partitions["trainval"].append(
            _index_array(_struct_field(rec, ("trainval_index",), 0, path, "trainval_index")) - 1
        )
        partitions["test"].append(
            _index_array(_struct_field(rec, ("test_index",), 1, path, "test_index")) - 1
        )
    return Annotation("rap", path, image_names, label[:, :51], names[:51], partitions)


MAT_READERS = {"pa100k": read_pa100k_mat, "peta": read_peta_mat, "rap": read_rap_mat}


# ---------------------------------------------------------------- the preprocessed pickle


class AttrDict(dict):
    """Stands in for easydict.EasyDict when reading the field's pickles without that package."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name in self.__dict__:
                return self.__dict__[name]
            raise AttributeError(name) from None


_SAFE_MODULES = ("numpy", "builtins", "collections", "copyreg", "_codecs")
_SAFE_BUILTINS = {"range", "slice", "set", "frozenset", "list", "dict", "tuple", "int", "float", "str", "bytes",
                  "bytearray", "complex", "bool", "object"}  # fmt: skip


class _AnnotationUnpickler(pickle.Unpickler):
    """Unpickles the annotation pickles: plain data, numpy arrays and EasyDicts only."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("easydict"):
            return AttrDict
        if module.startswith("numpy._core"):  # written by numpy 2, read by numpy 1
            module = "numpy.core" + module[len("numpy._core") :]
        if module == "builtins" and name not in _SAFE_BUILTINS:
            raise pickle.UnpicklingError(f"refusing to load builtins.{name}")
        if module.split(".")[0] in _SAFE_MODULES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a PAR annotation")


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        return getattr(obj, "__dict__", {}).get(key, default)
    return getattr(obj, key, default)


def read_pickle(path: Path, kind: str) -> Annotation:
    try:
        with open(path, "rb") as f:
            data = _AnnotationUnpickler(f, encoding="latin1").load()
    except Exception as err:
        raise DatasetError(f"{path}: cannot be read as a PAR annotation pickle ({err}); regenerate it with the "
                           "preprocessing script of Rethinking_of_PAR (dataset/preprocess/format_*.py)") from err  # fmt: skip
    missing = [k for k in ("image_name", "label", "attr_name", "partition") if _get(data, k) is None]
    if missing:
        raise DatasetError(f"{path}: not a PAR annotation pickle (missing keys: {', '.join(missing)})")
    description = str(_get(data, "description", "") or "").lower()
    known = {"pa100k": "pa100k", "peta": "peta", "rap": "rap", "rapv1": "rap"}
    if description in known and known[description] != kind:
        found = known[description]
        raise DatasetError(
            f"{path} describes {DISPLAY[found]}, not {DISPLAY[kind]}; load it with --data {found}"
        )
    if description.startswith("rapv2") or description == "rap2":
        raise DatasetError(f"{path} describes RAPv2, which this loader does not read; use a RAPv1 annotation")
    names = [str(n) for n in _get(data, "attr_name")]
    label = clean_labels(_get(data, "label"), path)
    image_names = [str(n) for n in _get(data, "image_name")]
    if len(image_names) != label.shape[0]:
        raise DatasetError(f"{path}: {len(image_names)} image names but {label.shape[0]} label rows")
    if label.shape[1] != len(names):
        raise DatasetError(f"{path}: the label matrix has {label.shape[1]} columns but attr_name lists {len(names)} "
                           "attributes; regenerate the pickle")  # fmt: skip
    label_idx = _get(data, "label_idx")
    eval_idx = _get(label_idx, "eval") if label_idx is not None else None
    if eval_idx is not None:
        cols = [int(i) for i in eval_idx]
        label, names = label[:, cols], [names[i] for i in cols]
    need = EVALUATED_ATTRIBUTES[kind]
    if len(names) != need:
        raise DatasetError(
            f"{path}: {len(names)} evaluated attributes, but {DISPLAY[kind]} has {need}; is it a {DISPLAY[kind]} pickle?"
        )
    partitions: dict[str, list[np.ndarray]] = {}
    for split, value in dict(_get(data, "partition")).items():
        runs = value if isinstance(value, list | tuple) else [value]
        partitions[str(split)] = [_index_array(v) for v in runs]
    root = _get(data, "root")
    return Annotation(kind, path, image_names, label, names, partitions, str(root) if root else None,
                      {"description": description})  # fmt: skip


# ---------------------------------------------------------------- finding the files


def find_annotation(kind: str, root: Path, label_format: str | None = None) -> tuple[str, Path]:
    """(format, path) of the annotation file in `root`: the original .mat first, else the pickle."""
    if label_format not in (None, "mat", "pickle"):
        raise DatasetError(f"label_format must be 'mat', 'pickle' or None (auto), got {label_format!r}")
    mats = [root / f for f in MAT_FILES[kind]]
    pickles = [root / f for f in PICKLE_FILES]
    if label_format in (None, "mat"):
        for p in mats:
            if p.is_file():
                return "mat", p
    if label_format in (None, "pickle"):
        for p in pickles:
            if p.is_file():
                return "pickle", p
    others = [
        f"{f} ({DISPLAY[k]})"
        for k, files in MAT_FILES.items()
        if k != kind
        for f in files
        if (root / f).is_file()
    ]
    wanted = {None: MAT_FILES[kind] + PICKLE_FILES, "mat": MAT_FILES[kind], "pickle": PICKLE_FILES}[
        label_format
    ]
    hint = f"; it holds {', '.join(others)}: choose that data set instead" if others else ""
    raise DatasetError(
        f"{root}: no {DISPLAY[kind]} annotation found (looked for {', '.join(wanted)}){hint}. "
        f"Point --root at the folder that holds the {DISPLAY[kind]} annotation"
    )


def read_annotation(kind: str, root: Path, label_format: str | None = None) -> Annotation:
    fmt, path = find_annotation(kind, root, label_format)
    if fmt == "mat":
        return MAT_READERS[kind](path)
    return read_pickle(path, kind)


def find_image_dir(kind: str, root: Path, annotation: Annotation) -> Path:
    """The folder that holds the images: the first candidate that has the first image."""
    candidates = []
    if annotation.image_root_hint:
        hint = Path(annotation.image_root_hint)
        candidates.append(hint if hint.is_absolute() else root / hint)
    candidates += [root / d for d in IMAGE_DIRS[kind]]
    first = annotation.image_names[0] if annotation.image_names else None
    for folder in candidates:
        if first is not None and (folder / first).is_file():
            return folder
    for folder in candidates[len(candidates) - len(IMAGE_DIRS[kind]) :]:
        if folder.is_dir() and folder != root:
            return folder
    return root
