"""Loading a user's timm-style ViT weights: key mapping, position-embedding resize, strict key check."""

import pytest
import torch

from snnpar.models import create_model
from snnpar.models.pretrained import load_vit_weights
from snnpar.models.vit import VisionTransformer, ViTConfig


def imagenet_style_state(d: int, depth: int, heads: int) -> dict[str, torch.Tensor]:
    """A ViT trained at 224x224 (a 14x14 grid) with a 1000-class head, in timm's key layout."""
    torch.manual_seed(1)
    vit = VisionTransformer(ViTConfig(embed_dim=d, depth=depth, num_heads=heads, image_size=(224, 224)))
    state = {k: v.clone() for k, v in vit.state_dict().items()}
    state["head.weight"], state["head.bias"] = torch.randn(1000, d), torch.randn(1000)
    return state


def test_imagenet_style_weights_load_into_teacher_with_resized_positions(tmp_path):
    state = imagenet_style_state(64, 3, 4)  # vtb-tiny's ViT: width 64, 3 blocks
    channel_constants = torch.arange(64.0)
    state["pos_embed"][:, 1:] = channel_constants  # a grid constant per channel stays so under bicubic resize
    path = tmp_path / "vit.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}}, path)

    model = create_model("vtb-tiny", num_attributes=3, patch_embed="linear")
    report = load_vit_weights(model, path)

    vit = model.visual
    assert report.dropped == ("head.bias", "head.weight")
    assert report.pos_embed_grid == ((14, 14), (8, 4))
    assert report.loaded == len(vit.state_dict())
    for key in ("blocks.0.attn.qkv.weight", "blocks.2.mlp.fc2.bias", "patch_embed.proj.weight", "norm.weight",
                "cls_token"):
        assert torch.equal(vit.state_dict()[key], state[key]), key
    assert vit.pos_embed.shape == (1, 1 + 8 * 4, 64)
    assert torch.equal(vit.pos_embed[:, 0], state["pos_embed"][:, 0])  # class position kept as it is
    assert torch.allclose(vit.pos_embed[0, 1:], channel_constants.expand(32, 64), atol=1e-4)


def test_weights_into_pooled_baseline_drop_the_class_token(tmp_path):
    state = imagenet_style_state(32, 1, 2)  # vit-tiny's ViT
    path = tmp_path / "vit.pth"
    torch.save(state, path)
    model = create_model("vit-tiny", patch_embed="linear")
    report = load_vit_weights(model, path)
    assert report.dropped == ("head.bias", "head.weight", "cls_token")
    assert model.vit.pos_embed.shape == (1, 32, 32)
    assert torch.equal(model.vit.blocks[0].attn.proj.weight, state["blocks.0.attn.proj.weight"])


def test_checkpoint_with_a_wrong_key_fails_naming_the_key(tmp_path):
    state = imagenet_style_state(32, 1, 2)
    state["blocks.0.attn.qkv_renamed.weight"] = state.pop("blocks.0.attn.qkv.weight")
    path = tmp_path / "vit.pth"
    torch.save(state, path)
    model = create_model("vit-tiny", patch_embed="linear")
    before = model.vit.blocks[0].mlp.fc1.weight.clone()
    with pytest.raises(ValueError) as err:
        load_vit_weights(model, path)
    message = str(err.value)
    assert "missing keys (in the model, not in the file): blocks.0.attn.qkv.weight" in message
    assert "unexpected keys (in the file, not in the model): blocks.0.attn.qkv_renamed.weight" in message
    assert str(path) in message
    assert torch.equal(model.vit.blocks[0].mlp.fc1.weight, before)  # nothing half-loaded


def test_checkpoint_of_another_width_fails_naming_the_shapes(tmp_path):
    state = imagenet_style_state(32, 1, 2)
    state["norm.weight"] = torch.ones(48)
    torch.save(state, tmp_path / "vit.pth")
    with pytest.raises(ValueError, match=r"norm.weight: file \[48\] vs model \[32\]"):
        load_vit_weights(create_model("vit-tiny", patch_embed="linear"), tmp_path / "vit.pth")


def test_missing_or_non_checkpoint_file_is_a_clear_error(tmp_path):
    model = create_model("vit-tiny", patch_embed="linear")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_vit_weights(model, tmp_path / "nope.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="is not a PyTorch state-dict file"):
        load_vit_weights(model, tmp_path / "text.pth")
