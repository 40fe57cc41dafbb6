"""Readers of PA100K / PETA / RAPv1 annotations (.mat and the field's pickle) through `load_dataset`.

Every fixture is written here, into tmp_path, in the real on-disk structure: scipy.io.savemat cell
arrays and structs as MATLAB stores them, and pickles of an EasyDict as Rethinking_of_PAR's
preprocessing scripts write them.
"""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from snnpar.data import DatasetError, load_dataset
from snnpar.data.attributes import (
    PA100K_ATTRIBUTES,
    PETA_ALL_ATTRIBUTES,
    PETA_ATTRIBUTES,
    RAP_ALL_ATTRIBUTES,
    RAP_ATTRIBUTES,
)

SIZE = (16, 8)


def cell(strings) -> np.ndarray:
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = s
    return out


def write_images(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 16), (i * 20 % 255, 100, 50)).save(folder / name)


def write_pa100k(root: Path, rng: np.random.Generator, sizes=(6, 2, 3)) -> np.ndarray:
    """annotation.mat + data/*.jpg; returns the labels of all images in file order."""
    n = sum(sizes)
    labels = rng.integers(0, 2, (n, 26)).astype(np.uint8)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    mat = {"attributes": cell(PA100K_ATTRIBUTES)}
    start = 0
    for split, k in zip(("train", "val", "test"), sizes):
        mat[f"{split}_images_name"] = cell(names[start : start + k])
        mat[f"{split}_label"] = labels[start : start + k]
        start += k
    root.mkdir(parents=True, exist_ok=True)
    savemat(root / "annotation.mat", mat)
    write_images(root / "data", names)
    return labels


def peta_partitions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    cells = np.empty((5, 1), dtype=object)
    runs = []
    for p in range(5):
        perm = rng.permutation(n) + 1  # MATLAB: 1-based
        run = {"train_index": perm[:6].reshape(-1, 1), "val_index": perm[6:8].reshape(-1, 1),
               "test_index": perm[8:].reshape(-1, 1)}  # fmt: skip
        cells[p, 0] = run
        runs.append(run)
    return cells, runs


def write_peta(root: Path, rng: np.random.Generator, n: int = 12):
    labels = rng.integers(0, 2, (n, 105)).astype(np.float64)
    ids = np.stack([np.arange(1, n + 1)] * 4, axis=1).astype(np.float64)  # the 4 id columns
    parts, runs = peta_partitions(n, rng)
    peta = {"data": np.concatenate([ids, labels], axis=1), "attribute": cell(PETA_ALL_ATTRIBUTES),
            "selected_attribute": np.arange(1, 36).reshape(1, -1), "partion_attribute": parts}  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    savemat(root / "PETA.mat", {"peta": peta})
    write_images(root / "images", [f"{i + 1:05d}.png" for i in range(n)])
    return labels, runs


def write_rap(root: Path, rng: np.random.Generator, n: int = 10):
    labels = rng.integers(0, 3, (n, 92)).astype(np.uint8)  # 2 = unknown
    names = [f"CAM{i % 3:02d}-2014-02-15-{i:04d}.png" for i in range(n)]
    parts = np.empty((5, 1), dtype=object)
    runs = []
    for p in range(5):
        perm = rng.permutation(n) + 1
        run = {"trainval_index": perm[:7].reshape(1, -1), "test_index": perm[7:].reshape(1, -1)}
        parts[p, 0] = run
        runs.append(run)
    rap = {"partion": parts, "label": labels, "attribute_chinese": cell(["x"] * 92),
           "attribute_eng": cell(RAP_ALL_ATTRIBUTES), "position": np.zeros((n, 16)), "imagesname": cell(names),
           "attribute_exp": cell(["e"] * 92)}  # fmt: skip
    (root / "RAP_annotation").mkdir(parents=True, exist_ok=True)
    savemat(root / "RAP_annotation" / "RAP_annotation.mat", {"RAP_annotation": rap})
    write_images(root / "RAP_dataset", names)
    return labels, names, runs


def fake_easydict(monkeypatch) -> type:
    """An `easydict` module like the real one (attribute and item access), for writing pickles only."""

    class EasyDict(dict):
        def __init__(self, d=None):
            super().__init__()
            for k, v in (d or {}).items():
                setattr(self, k, v)

        def __setattr__(self, name, value):
            if isinstance(value, dict) and not isinstance(value, EasyDict):
                value = EasyDict(value)
            super().__setattr__(name, value)
            super().__setitem__(name, value)

        __setitem__ = __setattr__

    module = types.ModuleType("easydict")
    EasyDict.__module__, EasyDict.__qualname__ = "easydict", "EasyDict"
    module.EasyDict = EasyDict
    monkeypatch.setitem(sys.modules, "easydict", module)
    return EasyDict


def dump_without_easydict(monkeypatch, path: Path, obj) -> None:
    path.write_bytes(pickle.dumps(obj))
    monkeypatch.delitem(sys.modules, "easydict")  # the loader must not need the package


# ----------------------------------------------------------------------------- PA100K


def test_pa100k_mat_splits_labels_and_images(tmp_path):
    labels = write_pa100k(tmp_path / "PA100k", np.random.default_rng(0))
    train = load_dataset("pa100k", tmp_path / "PA100k", "train", image_size=SIZE)
    test = load_dataset("pa100k", tmp_path / "PA100k", "test", image_size=SIZE)
    trainval = load_dataset("pa100k", tmp_path / "PA100k", "trainval", image_size=SIZE)
    assert (len(train), len(test), len(trainval)) == (6, 3, 8)
    assert train.attribute_names == list(PA100K_ATTRIBUTES)
    np.testing.assert_array_equal(train.labels, labels[:6])
    np.testing.assert_array_equal(test.labels, labels[8:])
    assert test.image_paths[0] == tmp_path / "PA100k" / "data" / "000009.jpg"
    image, label = test[1]
    assert image.shape == (3, *SIZE) and image.dtype == torch.float32
    assert torch.equal(label, torch.from_numpy(labels[9].astype(np.float32)))


def test_pa100k_pickle_with_group_order_reads_without_easydict(tmp_path, monkeypatch):
    root = tmp_path / "PA100k"
    labels = write_pa100k(root, np.random.default_rng(1))
    (root / "annotation.mat").unlink()
    EasyDict = fake_easydict(monkeypatch)
    order = [7, 8, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 9, 10, 11, 12, 1, 2, 3, 0, 4, 5, 6]
    d = EasyDict()
    d.description = "pa100k"
    d.reorder = "group_order"
    d.root = "/mnt/somewhere/else/data"  # the preprocessing machine's path: not present here
    d.image_name = [f"{i + 1:06d}.jpg" for i in range(11)]
    d.label = labels
    d.attr_name = list(PA100K_ATTRIBUTES)
    d.label_idx = EasyDict({"eval": order})
    d.partition = EasyDict({"train": np.arange(0, 6), "val": np.arange(6, 8), "test": np.arange(8, 11),
                            "trainval": np.arange(0, 8)})  # fmt: skip
    d.weight_train = labels[:6].mean(0)
    dump_without_easydict(monkeypatch, root / "dataset_all.pkl", d)

    val = load_dataset("pa100k", root, "val", image_size=SIZE)
    assert val.attribute_names == [PA100K_ATTRIBUTES[i] for i in order]
    np.testing.assert_array_equal(val.labels, labels[6:8][:, order])
    assert val.image_paths[0] == root / "data" / "000007.jpg"


def test_format_override_and_auto_detection_prefers_the_mat(tmp_path):
    root = tmp_path / "PA100k"
    write_pa100k(root, np.random.default_rng(2))
    (root / "dataset_all.pkl").write_bytes(b"not a pickle")
    assert len(load_dataset("pa100k", root, "train", image_size=SIZE)) == 6  # .mat chosen
    with pytest.raises(DatasetError, match="dataset_all.pkl.*cannot be read"):
        load_dataset("pa100k", root, "train", image_size=SIZE, label_format="pickle")


# ----------------------------------------------------------------------------- PETA


def test_peta_mat_takes_the_35_evaluated_attributes_and_each_partition(tmp_path):
    labels, runs = write_peta(tmp_path / "PETA", np.random.default_rng(3))
    for p in (0, 4):
        train = load_dataset("peta", tmp_path / "PETA", "train", image_size=SIZE, partition_index=p)
        idx = runs[p]["train_index"][:, 0] - 1
        assert train.attribute_names == list(PETA_ATTRIBUTES)
        np.testing.assert_array_equal(train.labels, labels[idx, :35])
        assert [q.name for q in train.image_paths] == [f"{i + 1:05d}.png" for i in idx]
    trainval = load_dataset("peta", tmp_path / "PETA", "trainval", image_size=SIZE, partition_index=2)
    assert len(trainval) == 8
    with pytest.raises(DatasetError, match="partition_index 5 out of range.*5 partition"):
        load_dataset("peta", tmp_path / "PETA", "test", image_size=SIZE, partition_index=5)


def test_peta_pickle_dataset_pkl_without_label_idx(tmp_path, monkeypatch):
    """The older `dataset.pkl` (strong baseline) keeps only the 35 evaluated columns and no label_idx."""
    root = tmp_path / "PETA"
    labels, runs = write_peta(root, np.random.default_rng(4))
    (root / "PETA.mat").unlink()
    EasyDict = fake_easydict(monkeypatch)
    d = EasyDict()
    d.description = "peta"
    d.root = str(root / "images")
    d.image_name = [f"{i + 1:05d}.png" for i in range(12)]
    d.label = labels[:, :35]
    d.attr_name = list(PETA_ATTRIBUTES)
    d.partition = EasyDict({s: [r[f"{s}_index"][:, 0] - 1 for r in runs] for s in ("train", "val", "test")})
    dump_without_easydict(monkeypatch, root / "dataset.pkl", d)
    test = load_dataset("peta", root, "test", image_size=SIZE, partition_index=1)
    np.testing.assert_array_equal(test.labels, labels[runs[1]["test_index"][:, 0] - 1, :35])


# ----------------------------------------------------------------------------- RAPv1


def test_rap_mat_reads_unknown_as_zero_and_has_only_trainval_and_test(tmp_path):
    labels, names, runs = write_rap(tmp_path / "RAP", np.random.default_rng(5))
    test = load_dataset("rap", tmp_path / "RAP", "test", image_size=SIZE, partition_index=3)
    idx = runs[3]["test_index"][0] - 1
    expected = labels[idx, :51].astype(np.float32)
    expected[expected == 2] = 0
    assert test.attribute_names == list(RAP_ATTRIBUTES)
    np.testing.assert_array_equal(test.labels, expected)
    assert set(np.unique(test.labels)) <= {0.0, 1.0}
    assert [p.name for p in test.image_paths] == [names[i] for i in idx]
    with pytest.raises(DatasetError, match="no 'train' split.*trainval"):
        load_dataset("rap", tmp_path / "RAP", "train", image_size=SIZE)


def test_rap_pickle_dataset_all_with_numpy_partitions_and_range(tmp_path, monkeypatch):
    root = tmp_path / "RAP"
    labels, names, runs = write_rap(root, np.random.default_rng(6))
    EasyDict = fake_easydict(monkeypatch)
    d = EasyDict()
    d.description = "rap"
    d.root = str(root / "RAP_dataset")
    d.image_name = names
    d.label = labels
    d.attr_name = list(RAP_ALL_ATTRIBUTES)
    d.label_idx = EasyDict({"eval": list(range(51)), "color": list(range(63, 92)), "extra": range(51, 63)})
    d.partition = EasyDict({"trainval": [r["trainval_index"][0] - 1 for r in runs],
                            "test": [r["test_index"][0] - 1 for r in runs]})  # fmt: skip
    dump_without_easydict(monkeypatch, root / "dataset_all.pkl", d)
    trainval = load_dataset("rap", root, "trainval", image_size=SIZE, label_format="pickle")
    expected = labels[runs[0]["trainval_index"][0] - 1, :51].astype(np.float32)
    expected[expected == 2] = 0
    np.testing.assert_array_equal(trainval.labels, expected)


# ----------------------------------------------------------------------------- errors


def test_wrong_kind_of_annotation_is_named(tmp_path):
    write_peta(tmp_path / "PETA", np.random.default_rng(7))
    (tmp_path / "PETA" / "PETA.mat").rename(tmp_path / "PETA" / "annotation.mat")
    with pytest.raises(DatasetError, match=r"annotation\.mat holds a PETA annotation.*--data peta"):
        load_dataset("pa100k", tmp_path / "PETA", "train", image_size=SIZE)


def test_a_folder_of_another_data_set_is_named(tmp_path):
    write_rap(tmp_path / "RAP", np.random.default_rng(8))
    with pytest.raises(DatasetError, match=r"no PETA annotation found.*RAP_annotation\.mat \(RAPv1\)"):
        load_dataset("peta", tmp_path / "RAP", "train", image_size=SIZE)


def test_pickle_describing_another_data_set_is_refused(tmp_path):
    root = tmp_path / "x"
    root.mkdir()
    data = {"description": "peta", "image_name": ["a.png"], "label": np.zeros((1, 35)),
            "attr_name": list(PETA_ATTRIBUTES), "partition": {"train": [np.array([0])]}}  # fmt: skip
    (root / "dataset_all.pkl").write_bytes(pickle.dumps(data))
    with pytest.raises(DatasetError, match="describes PETA, not RAPv1.*--data peta"):
        load_dataset("rap", root, "train", image_size=SIZE)


def test_pickle_with_code_is_refused(tmp_path):
    root = tmp_path / "x"
    root.mkdir()
    (root / "dataset.pkl").write_bytes(pickle.dumps({"image_name": Path("a")}))
    with pytest.raises(DatasetError, match="refusing to load pathlib"):
        load_dataset("pa100k", root, "train", image_size=SIZE)


def test_label_width_not_matching_the_attribute_list(tmp_path):
    root = tmp_path / "PA100k"
    write_pa100k(root, np.random.default_rng(9))
    mat = {"attributes": cell(PA100K_ATTRIBUTES[:25])}
    for split, k in zip(("train", "val", "test"), (2, 1, 1)):
        mat[f"{split}_images_name"] = cell([f"{i + 1:06d}.jpg" for i in range(k)])
        mat[f"{split}_label"] = np.zeros((k, 26), dtype=np.uint8)
    savemat(root / "annotation.mat", mat)
    with pytest.raises(
        DatasetError, match=r"annotation\.mat: train_label has 26 columns but the file names 25"
    ):
        load_dataset("pa100k", root, "train", image_size=SIZE)


def test_label_values_other_than_0_1_2_are_refused(tmp_path):
    root = tmp_path / "PA100k"
    write_pa100k(root, np.random.default_rng(10))
    mat = {"attributes": cell(PA100K_ATTRIBUTES)}
    for split in ("train", "val", "test"):
        mat[f"{split}_images_name"] = cell(["000001.jpg"])
        mat[f"{split}_label"] = np.full((1, 26), -1, dtype=np.int8)
    savemat(root / "annotation.mat", mat)
    with pytest.raises(DatasetError, match=r"labels must be 0, 1 or 2.*-1"):
        load_dataset("pa100k", root, "train", image_size=SIZE)
