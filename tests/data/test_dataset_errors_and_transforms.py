"""load_dataset's errors (each naming the file and the fix), transforms, and attribute vocabularies."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from snnpar.data import NORMALIZATION, DatasetError, attribute_sentences, load_dataset
from snnpar.data.attributes import (
    PA100K_ATTRIBUTES,
    PETA_ALL_ATTRIBUTES,
    PETA_ATTRIBUTES,
    RAP_ALL_ATTRIBUTES,
    RAP_ATTRIBUTES,
)
from snnpar.data.synthetic import generate
from snnpar.data.transforms import denormalize, eval_transform, train_transform

SIZE = (32, 16)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("d") / "syn", n=10, image_size=SIZE, workers=1)


def test_missing_root_unknown_name_and_unknown_split(tmp_path, synthetic_root):
    with pytest.raises(
        DatasetError, match=r"data root .*nowhere does not exist; generate it with `snnpar data synth"
    ):
        load_dataset("synthetic", tmp_path / "nowhere", "train")
    with pytest.raises(DatasetError, match=r"unknown data set 'market'.*synthetic, pa100k, peta, rap"):
        load_dataset("market", synthetic_root, "train")
    with pytest.raises(DatasetError, match=r"unknown split 'dev'.*train, val, trainval, test"):
        load_dataset("synthetic", synthetic_root, "dev")


def test_missing_image_is_reported_when_the_dataset_is_built(tmp_path):
    root = generate(tmp_path / "syn", n=10, image_size=SIZE, workers=1)
    (root / "data" / "000002.jpg").unlink()
    with pytest.raises(
        DatasetError, match=r"1 image\(s\) named in .*annotation\.mat are missing: .*000002\.jpg"
    ):
        load_dataset("synthetic", root, "train", image_size=SIZE)


def test_corrupt_image_is_reported_with_its_path_on_load(tmp_path):
    root = generate(tmp_path / "syn", n=10, image_size=SIZE, workers=1)
    (root / "data" / "000003.jpg").write_bytes(b"\xff\xd8 truncated")
    ds = load_dataset("synthetic", root, "train", image_size=SIZE)
    ds[0]
    with pytest.raises(DatasetError, match=r"000003\.jpg: image is corrupt.*re-extract"):
        ds[2]


def test_eval_items_are_normalised_and_denormalize_inverts_it(synthetic_root):
    ds = load_dataset("synthetic", synthetic_root, "train", image_size=(40, 20))
    image, labels = ds[0]
    assert image.shape == (3, 40, 20) and labels.dtype == torch.float32
    raw = Image.open(ds.image_paths[0]).convert("RGB").resize((20, 40), Image.BILINEAR)
    back = denormalize(image)
    assert torch.allclose(back, eval_transform((40, 20)).transforms[1](raw), atol=1 / 255 + 1e-6)
    assert denormalize(image.unsqueeze(0)).shape == (1, 3, 40, 20)


def test_train_transform_pads_crops_and_flips():
    img = Image.new("RGB", (16, 32), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 8, 32))  # left half blue
    t = train_transform(SIZE)
    names = [type(x).__name__ for x in t.transforms]
    assert names == ["Resize", "Pad", "RandomCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    torch.manual_seed(0)
    outs = [denormalize(t(img)) for _ in range(30)]
    assert all(o.shape == (3, *SIZE) for o in outs)
    left_blue = [bool(o[2, 16, 1] > 0.5) for o in outs]
    assert any(left_blue) and not all(left_blue)  # flipped sometimes
    assert any(bool((o.sum(0) < 1e-4).any()) for o in outs)  # zero padding shows after some crops
    assert NORMALIZATION == {"mean": [0.5] * 3, "std": [0.5] * 3}  # VTB's and SNN-PAR's get_transform


def test_attribute_lists_and_sentences():
    assert (len(PA100K_ATTRIBUTES), len(PETA_ATTRIBUTES), len(RAP_ATTRIBUTES)) == (26, 35, 51)
    assert (len(PETA_ALL_ATTRIBUTES), len(RAP_ALL_ATTRIBUTES)) == (105, 92)
    for names in (PA100K_ATTRIBUTES, PETA_ALL_ATTRIBUTES, RAP_ALL_ATTRIBUTES):
        assert len(set(names)) == len(names)
    sentences = attribute_sentences(PA100K_ATTRIBUTES)
    assert len(sentences) == 26 and len(set(sentences)) == 26
    assert sentences[PA100K_ATTRIBUTES.index("Skirt&Dress")] == "The pedestrian wears a skirt or a dress."
    assert attribute_sentences(["upperBodyBlack"]) == ["The pedestrian has the attribute upper body black."]
