"""Readers of PA100K / PETA / RAPv1 annotations (.mat and the field's pickle) through `load_dataset`.

Every fixture is written here, into tmp_path, as scipy.io.savemat cell arrays and structs, and pickles
of an EasyDict. Expected values do not come from the loader's idea of the formats: they come from the
released preprocessing code's own indexing, transcribed below (`released_*`: VTB's dataset/preprocess/
pa100k.py and rap.py, SNN-PAR's dataset/preprocess/peta.py, VTB's AttrDataset for the pickle). Those
expressions index the structs by position (RAP_annotation[0][0][5] is imagesname, peta[0][0][3] the
partitions, ...), so a fixture they read correctly has the real field layout, and the loader must agree.
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
from scipy.io import loadmat, savemat

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


def released_pa100k(path: Path) -> dict:
    """VTB dataset/preprocess/pa100k.py (its counts 80000/10000/10000 read from the file)."""
    d = loadmat(path)
    n = {s: len(d[f"{s}_images_name"]) for s in ("train", "val", "test")}
    names = [d[f"{s}_images_name"][i][0][0] for s in ("train", "val", "test") for i in range(n[s])]
    label = np.concatenate((d["train_label"], d["val_label"], d["test_label"]), axis=0)
    a, b = n["train"], n["train"] + n["val"]
    return {"image_name": names, "label": label, "attr_name": [d["attributes"][i][0][0] for i in range(26)],
            "train": np.arange(0, a), "val": np.arange(a, b), "test": np.arange(b, b + n["test"]),
            "trainval": np.arange(0, b)}


def released_peta(path: Path) -> dict:
    """SNN-PAR dataset/preprocess/peta.py."""
    p = loadmat(path)
    n = p["peta"][0][0][0].shape[0]
    out = {"image_name": [f"{i + 1:05}.png" for i in range(n)], "label": p["peta"][0][0][0][:, 4:][:, :35],
           "attr_name": [i[0][0] for i in p["peta"][0][0][1]][:35], "train": [], "val": [], "test": [], "trainval": []}
    for idx in range(5):
        train = p["peta"][0][0][3][idx][0][0][0][0][:, 0] - 1
        val = p["peta"][0][0][3][idx][0][0][0][1][:, 0] - 1
        out["train"].append(train)
        out["val"].append(val)
        out["test"].append(p["peta"][0][0][3][idx][0][0][0][2][:, 0] - 1)
        out["trainval"].append(np.concatenate((train, val), axis=0))
    return out


def released_rap(path: Path) -> dict:
    """VTB dataset/preprocess/rap.py."""
    data = loadmat(path)
    n = data["RAP_annotation"][0][0][1].shape[0]
    out = {"image_name": [data["RAP_annotation"][0][0][5][i][0][0] for i in range(n)],
           "label": data["RAP_annotation"][0][0][1][:, np.array(range(51))],
           "attr_name": [data["RAP_annotation"][0][0][3][i][0][0] for i in range(92)][:51], "trainval": [], "test": []}
    for idx in range(5):
        out["trainval"].append(data["RAP_annotation"][0][0][0][idx][0][0][0][0][0, :] - 1)
        out["test"].append(data["RAP_annotation"][0][0][0][idx][0][0][0][1][0, :] - 1)
    return out


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
    write_pa100k(tmp_path / "PA100k", np.random.default_rng(0))
    ref = released_pa100k(tmp_path / "PA100k" / "annotation.mat")
    for split in ("train", "val", "test", "trainval"):
        data = load_dataset("pa100k", tmp_path / "PA100k", split, image_size=SIZE)
        assert data.attribute_names == ref["attr_name"] == list(PA100K_ATTRIBUTES)
        np.testing.assert_array_equal(data.labels, ref["label"][ref[split]])
        assert [p.name for p in data.image_paths] == [ref["image_name"][i] for i in ref[split]]
    test = load_dataset("pa100k", tmp_path / "PA100k", "test", image_size=SIZE)
    assert test.image_paths[0] == tmp_path / "PA100k" / "data" / ref["image_name"][ref["test"][0]]
    image, label = test[1]
    assert image.shape == (3, *SIZE) and image.dtype == torch.float32
    assert torch.equal(label, torch.from_numpy(ref["label"][ref["test"][1]].astype(np.float32)))


def test_vtbs_dataset_pkl_reads_as_vtbs_attr_dataset_reads_it(tmp_path, monkeypatch):
    """The pickle VTB's pa100k.py writes (attr_words, attr_vectors, weight_*), split as its AttrDataset does."""
    root = tmp_path / "PA100k"
    write_pa100k(root, np.random.default_rng(11))
    ref = released_pa100k(root / "annotation.mat")
    (root / "annotation.mat").unlink()
    EasyDict = fake_easydict(monkeypatch)
    d = EasyDict()
    d.description = "pa100k"
    d.root = str(root / "data")
    d.image_name = ref["image_name"]
    d.label = ref["label"]
    d.attr_name = ref["attr_name"]
    d.attr_words = np.array(["female"] * 26)
    d.attr_vectors = np.zeros((26, 768), dtype=np.float32)
    d.partition = EasyDict({k: ref[k] for k in ("train", "val", "test", "trainval")})
    d.weight_train = np.mean(d.label[d.partition.train], axis=0).astype(np.float32)
    dump_without_easydict(monkeypatch, root / "dataset.pkl", d)
    for split in ("trainval", "test"):
        img_idx = d.partition[split]  # AttrDataset: partition[split], the first run where it is a list
        data = load_dataset("pa100k", root, split, image_size=SIZE)
        np.testing.assert_array_equal(data.labels, d.label[img_idx])
        assert [str(p) for p in data.image_paths] == [str(Path(d.root) / d.image_name[i]) for i in img_idx]


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
    write_peta(tmp_path / "PETA", np.random.default_rng(3))
    ref = released_peta(tmp_path / "PETA" / "PETA.mat")
    for p in (0, 4):
        for split in ("train", "val", "test", "trainval"):
            data = load_dataset("peta", tmp_path / "PETA", split, image_size=SIZE, partition_index=p)
            assert data.attribute_names == ref["attr_name"] == list(PETA_ATTRIBUTES)
            np.testing.assert_array_equal(data.labels, ref["label"][ref[split][p]])
            assert [q.name for q in data.image_paths] == [ref["image_name"][i] for i in ref[split][p]]
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
    write_rap(tmp_path / "RAP", np.random.default_rng(5))
    ref = released_rap(tmp_path / "RAP" / "RAP_annotation" / "RAP_annotation.mat")
    for p in (0, 3):
        for split in ("trainval", "test"):
            data = load_dataset("rap", tmp_path / "RAP", split, image_size=SIZE, partition_index=p)
            expected = ref["label"][ref[split][p]].astype(np.float32)
            expected[expected == 2] = 0  # RAP's 2 = unknown, read as 0
            assert data.attribute_names == ref["attr_name"] == list(RAP_ATTRIBUTES)
            np.testing.assert_array_equal(data.labels, expected)
            assert [q.name for q in data.image_paths] == [ref["image_name"][i] for i in ref[split][p]]
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
