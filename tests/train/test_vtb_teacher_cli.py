"""`snnpar train --model vtb-b16 --vit-weights FILE --text-vectors FILE` starts VTB from the given weights.

The ViT file is timm's own VisionTransformer at ImageNet's 224x224 (a 14x14 grid, timm's key layout with its
1000-class head), the vectors file one `snnpar text-vectors` format holds. vtb-b16's width and depth are cut
down by --config (the wiring is the preset's: frozen vectors, stochastic depth, class token kept); the
learning rate is so small that one step leaves the weights as they were loaded.
"""

from __future__ import annotations

import json

import pytest
import torch

from snnpar.checkpoint import read_checkpoint
from snnpar.cli import main
from snnpar.data.attributes import attribute_phrases
from snnpar.models.text_vectors import write_text_vectors

D, DEPTH, HEADS, WIDTH = 32, 2, 4, 24


@pytest.fixture()
def vtb_files(tmp_path, attribute_names):
    timm = pytest.importorskip("timm.models.vision_transformer")
    torch.manual_seed(0)
    vit = timm.VisionTransformer(img_size=224, patch_size=16, embed_dim=D, depth=DEPTH, num_heads=HEADS,
                                 qkv_bias=True, num_classes=1000)
    torch.save(vit.state_dict(), tmp_path / "jx_vit.pth")
    vectors = torch.randn(len(attribute_names), WIDTH)
    write_text_vectors(tmp_path / "vectors.pt", attribute_names, attribute_phrases(attribute_names), vectors, "test")
    (tmp_path / "small.json").write_text(json.dumps({"model_overrides": {"embed_dim": D, "depth": DEPTH,
                                                                          "num_heads": HEADS}}))
    return vit.state_dict(), vectors, tmp_path


def test_vtb_b16_trains_from_the_given_vit_weights_and_attribute_vectors(synthetic_root, tiny_args, vtb_files,
                                                                         capsys):
    vit_state, vectors, folder = vtb_files
    out = folder / "teacher"
    assert main(["train", "--model", "vtb-b16", *tiny_args, "--data", "synthetic", "--root", str(synthetic_root),
                 "--out", str(out), "--config", str(folder / "small.json"), "--vit-weights", str(folder / "jx_vit.pth"),
                 "--text-vectors", str(folder / "vectors.pt"), "--lr", "1e-12", "--optimizer", "sgd",
                 "--no-tensorboard"]) == 0
    assert "ViT weights: " in capsys.readouterr().out
    state = read_checkpoint(out / "last.pt")["state_dict"]
    assert torch.equal(state["text.embeddings"], vectors)
    for key in ("blocks.0.attn.qkv.weight", "blocks.1.mlp.fc2.bias", "patch_embed.proj.weight", "cls_token"):
        torch.testing.assert_close(state[f"visual.{key}"], vit_state[key], rtol=0, atol=1e-9, msg=key)
    assert state["visual.pos_embed"].shape == (1, 1 + 2 * 1, D)  # 14x14 resized to the 32x16 image's 2x1 grid


def test_vtb_b16_without_vectors_or_with_vectors_of_another_data_set_says_what_to_give(synthetic_root, tiny_args,
                                                                                   vtb_files, capsys):
    _, _, folder = vtb_files
    common = ["train", "--model", "vtb-b16", *tiny_args, "--data", "synthetic", "--root", str(synthetic_root),
              "--config", str(folder / "small.json")]
    assert main([*common, "--out", str(folder / "a")]) == 2
    assert "--text-model DIR" in capsys.readouterr().err
    torch.save(torch.randn(5, WIDTH), folder / "five.pt")
    assert main([*common, "--out", str(folder / "b"), "--text-vectors", str(folder / "five.pt")]) == 2
    err = capsys.readouterr().err
    assert "five.pt holds vectors for 5 attributes but the data set has 26" in err
    assert main([*common, "--out", str(folder / "c"), "--text-vectors", str(folder / "vectors.pt"),
                 "--partition", "5"]) == 2
    assert "--partition 5 is out of range" in capsys.readouterr().err
