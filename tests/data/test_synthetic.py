"""The synthetic pedestrian set: PA100K layout, determinism, atomic writes, label structure, visibility."""

from __future__ import annotations

import numpy as np
import pytest

from snnpar.data import load_dataset, synthetic
from snnpar.data.attributes import PA100K_ATTRIBUTES
from snnpar.data.synthetic import A, draw_pedestrian, generate, sample_attributes
from snnpar.errors import UserError

SIZE = (64, 32)


def test_written_in_pa100k_layout_and_read_by_both_names(tmp_path):
    out = generate(tmp_path / "syn", n=20, seed=3, image_size=SIZE, workers=1)
    assert (out / "annotation.mat").is_file() and len(list((out / "data").glob("*.jpg"))) == 20
    syn = {s: load_dataset("synthetic", out, s, image_size=SIZE) for s in ("train", "val", "test")}
    assert [len(syn[s]) for s in ("train", "val", "test")] == [16, 2, 2]
    pa = load_dataset("pa100k", out, "test", image_size=SIZE)
    np.testing.assert_array_equal(pa.labels, syn["test"].labels)
    assert pa.image_paths == syn["test"].image_paths
    assert pa.attribute_names == list(PA100K_ATTRIBUTES)
    image, labels = syn["train"][0]
    assert image.shape == (3, *SIZE) and labels.shape == (26,)


def test_same_seed_gives_identical_files_and_smaller_sets_are_prefixes(tmp_path):
    a = generate(tmp_path / "a", n=8, seed=1, image_size=SIZE, workers=1)
    b = generate(tmp_path / "b", n=8, seed=1, image_size=SIZE, workers=2)  # parallel drawing: same result
    c = generate(tmp_path / "c", n=12, seed=1, image_size=SIZE, workers=1)
    d = generate(tmp_path / "d", n=8, seed=2, image_size=SIZE, workers=1)
    assert (a / "annotation.mat").read_bytes() == (b / "annotation.mat").read_bytes()
    for i in range(1, 9):
        name = f"data/{i:06d}.jpg"
        assert (a / name).read_bytes() == (b / name).read_bytes() == (c / name).read_bytes()
    assert (a / "data/000001.jpg").read_bytes() != (d / "data/000001.jpg").read_bytes()


def test_a_failure_leaves_nothing_on_disk(tmp_path, monkeypatch):
    real = synthetic.render

    def failing(seed, index, image_size):
        if index == 5:
            raise RuntimeError("disk full")
        return real(seed, index, image_size)

    monkeypatch.setattr(synthetic, "render", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(tmp_path / "syn", n=10, image_size=SIZE, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_identical_set_is_reused_and_foreign_folders_are_not_overwritten(tmp_path):
    out = generate(tmp_path / "syn", n=6, image_size=SIZE, workers=1)
    stamp = (out / "annotation.mat").stat().st_mtime_ns
    generate(tmp_path / "syn", n=6, image_size=SIZE, workers=1)
    assert (out / "annotation.mat").stat().st_mtime_ns == stamp
    generate(tmp_path / "syn", n=7, image_size=SIZE, workers=1)  # another config: redrawn in place
    assert len(load_dataset("synthetic", out, "train", image_size=SIZE)) == 6  # round(0.8 * 7)
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(UserError, match="not a synthetic data set"):
        generate(foreign, n=6, image_size=SIZE)
    assert (foreign / "holiday.jpg").read_bytes() == b"x"


def test_labels_are_consistent_like_a_street_scene():
    rng = np.random.default_rng(0)
    y = np.stack([sample_attributes(rng) for _ in range(3000)]).astype(bool)
    col = {n: y[:, i] for n, i in A.items()}

    def exactly_one(*names):
        return (np.sum([col[n] for n in names], axis=0) == 1).all()

    assert exactly_one("AgeOver60", "Age18-60", "AgeLess18")
    assert exactly_one("Front", "Side", "Back")
    assert exactly_one("Trousers", "Shorts", "Skirt&Dress")
    assert exactly_one("ShortSleeve", "LongSleeve")
    assert not (col["LongCoat"] & col["ShortSleeve"]).any()
    assert not (col["Back"] & (col["Glasses"] | col["HoldObjectsInFront"])).any()
    assert not (col["Skirt&Dress"] & ~col["Female"]).any()
    assert not (col["UpperPlaid"] & (col["UpperStride"] | col["UpperLogo"])).any()
    ratio = y.mean(0)
    assert (ratio > 0.05).all() and (ratio < 0.8).all(), dict(zip(PA100K_ATTRIBUTES, ratio.round(3)))


BASE = {"Age18-60", "Front", "Trousers", "ShortSleeve"}
GROUPS = [("AgeOver60", "Age18-60", "AgeLess18"), ("Front", "Side", "Back"), ("Trousers", "Shorts", "Skirt&Dress"),
          ("ShortSleeve", "LongSleeve")]  # fmt: skip


def labels_of(names) -> np.ndarray:
    y = np.zeros(26, dtype=np.uint8)
    y[[A[n] for n in names]] = 1
    return y


def switched(name: str) -> set[str]:
    """BASE with `name` switched, keeping one-of groups one-hot."""
    for group in GROUPS:
        if name in group:
            target = name if name not in BASE else next(g for g in group if g != name)
            return (BASE - set(group)) | {target}
    return BASE ^ {name}


def changed_pixels(name: str, seed: int) -> np.ndarray:
    """[H, W] mask of the pixels that differ when only `name` is switched (same image seed)."""
    before = np.asarray(draw_pedestrian(labels_of(BASE), np.random.default_rng(seed), (128, 64)), dtype=int)
    after = np.asarray(
        draw_pedestrian(labels_of(switched(name)), np.random.default_rng(seed), (128, 64)), dtype=int
    )
    return np.abs(after - before).sum(axis=2) > 30


def changed_rows(name: str, seed: int) -> np.ndarray:
    return np.flatnonzero(changed_pixels(name, seed).any(axis=1))


@pytest.mark.parametrize("name", PA100K_ATTRIBUTES)
def test_switching_any_attribute_changes_the_drawing(name):
    counts = [int(changed_pixels(name, seed).sum()) for seed in (0, 1, 2)]
    assert min(counts) >= 12, f"{name} changes only {counts} pixels of 128x64"


@pytest.mark.parametrize(
    "name, low, high",
    [("Hat", 0.0, 0.4), ("Glasses", 0.0, 0.4), ("boots", 0.6, 1.0), ("LowerStripe", 0.4, 1.0),
     ("UpperStride", 0.1, 0.7), ("Skirt&Dress", 0.4, 1.0)],
)  # fmt: skip
def test_attributes_are_drawn_where_they_belong(name, low, high):
    rows = changed_rows(name, seed=4)
    assert rows.size > 3
    assert rows.min() >= low * 128 - 3 and rows.max() <= high * 128 + 3, (rows.min(), rows.max())


def test_every_attribute_has_a_cue_in_the_pixels_of_nearly_every_image():
    """Each attribute, switched on and off with the same randomness, changes a visible part of the image:
    at least 0.3 % of the pixels by 24 grey levels or more, and is hidden (by an occluder, hair) in at most
    1 image in 8. The measured areas are what `snnpar data info --data synthetic` prints."""
    from snnpar.data.synthetic import cue_visibility

    vis = cue_visibility(seed=3, n=8, image_size=(128, 64))
    assert set(vis) == set(PA100K_ATTRIBUTES)
    for name, v in vis.items():
        assert v["area"] >= 0.003 and v["hidden"] <= 1 / 8 and v["contrast"] >= 60, (name, v)
