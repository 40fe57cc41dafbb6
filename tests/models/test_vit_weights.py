"""ImageNet ViT weights into the teacher's ViT, from files in the real key layouts, with timm as the oracle.

The files are written from timm's own VisionTransformer (small, random): a state dict in timm's layout
(what VTB's jx_vit_base_p16_224-80ecf9dd.pth is), and Google's .npz layout, transcribed from the layout
Google's vision_transformer checkpoints use (HWIO conv kernel, per-head query/key/value kernels
[D, heads, head_dim], MlpBlock_3/Dense_0, ...). Expected values: timm's own forward and its
`resample_abs_pos_embed` with VTB's interpolation (bilinear, no anti-aliasing).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer as TimmViT

from snnpar.errors import UserError
from snnpar.models import create_model
from snnpar.models.pretrained import load_vit_weights, read_state_dict
from snnpar.models.vit_baseline import ViTBaseline, ViTBaselineConfig

D, DEPTH, HEADS = 64, 3, 4  # vtb-tiny's ViT


def timm_vit(image_size, seed: int = 1) -> TimmViT:
    torch.manual_seed(seed)
    vit = TimmViT(img_size=image_size, patch_size=16, embed_dim=D, depth=DEPTH, num_heads=HEADS, qkv_bias=True,
                  num_classes=1000).eval()
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(torch.randn_like(p) * 0.02)  # away from timm's init (zeros biases, ones norms)
    return vit


def google_npz(vit: TimmViT, path) -> None:
    """timm's weights written in Google's .npz layout."""
    sd = {k: v.detach().numpy() for k, v in vit.state_dict().items()}
    dh = D // HEADS
    w = {"embedding/kernel": sd["patch_embed.proj.weight"].transpose(2, 3, 1, 0),
         "embedding/bias": sd["patch_embed.proj.bias"], "cls": sd["cls_token"],
         "Transformer/posembed_input/pos_embedding": sd["pos_embed"],
         "Transformer/encoder_norm/scale": sd["norm.weight"], "Transformer/encoder_norm/bias": sd["norm.bias"],
         "head/kernel": sd["head.weight"].T, "head/bias": sd["head.bias"]}
    for i in range(DEPTH):
        b, p = f"Transformer/encoderblock_{i}/", f"blocks.{i}."
        q, k, v = np.split(sd[p + "attn.qkv.weight"], 3)
        qb, kb, vb = np.split(sd[p + "attn.qkv.bias"], 3)
        for name, kern, bias in (("query", q, qb), ("key", k, kb), ("value", v, vb)):
            w[f"{b}MultiHeadDotProductAttention_1/{name}/kernel"] = kern.T.reshape(D, HEADS, dh)
            w[f"{b}MultiHeadDotProductAttention_1/{name}/bias"] = bias.reshape(HEADS, dh)
        w[f"{b}MultiHeadDotProductAttention_1/out/kernel"] = sd[p + "attn.proj.weight"].T.reshape(HEADS, dh, D)
        w[f"{b}MultiHeadDotProductAttention_1/out/bias"] = sd[p + "attn.proj.bias"]
        for j, norm in ((0, "norm1"), (2, "norm2")):
            w[f"{b}LayerNorm_{j}/scale"], w[f"{b}LayerNorm_{j}/bias"] = sd[p + f"{norm}.weight"], sd[p + f"{norm}.bias"]
        for j, fc in ((0, "fc1"), (1, "fc2")):
            w[f"{b}MlpBlock_3/Dense_{j}/kernel"] = sd[p + f"mlp.{fc}.weight"].T
            w[f"{b}MlpBlock_3/Dense_{j}/bias"] = sd[p + f"mlp.{fc}.bias"]
    np.savez(path, **w)


def teacher(image_size=(64, 32)):
    return create_model("vtb-tiny", num_attributes=3, patch_embed="linear", image_size=image_size)


def test_timm_layout_weights_make_our_vit_compute_timms_features(tmp_path):
    vit = timm_vit((64, 32))
    torch.save({"model": {f"module.{k}": v for k, v in vit.state_dict().items()}}, tmp_path / "vit.pth")
    model = teacher()
    report = load_vit_weights(model, tmp_path / "vit.pth")
    assert report.dropped == ("head.bias", "head.weight") and report.pos_embed_grid == ((4, 2), (4, 2))
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.visual(x), vit.forward_features(x), rtol=1e-4, atol=1e-5)


def test_imagenet_grid_is_resized_bilinearly_as_vtb(tmp_path):
    vit = timm_vit((224, 224))  # ImageNet's 14 x 14 grid
    torch.save(vit.state_dict(), tmp_path / "vit.pth")
    model = teacher((128, 64))
    assert load_vit_weights(model, tmp_path / "vit.pth").pos_embed_grid == ((14, 14), (8, 4))
    expected = resample_abs_pos_embed(vit.pos_embed.detach(), new_size=(8, 4), old_size=(14, 14),
                                      num_prefix_tokens=1, interpolation="bilinear", antialias=False)
    torch.testing.assert_close(model.visual.pos_embed.detach(), expected, rtol=0, atol=1e-6)


def test_google_npz_is_read_through_timm_into_the_same_weights(tmp_path):
    vit = timm_vit((64, 64))  # Google's checkpoints have square grids (the file does not store the grid's shape)
    google_npz(vit, tmp_path / "vit.npz")
    state = read_state_dict(tmp_path / "vit.npz")
    for key, value in vit.state_dict().items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)
    model = teacher((64, 64))
    load_vit_weights(model, tmp_path / "vit.npz")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.visual(x), vit.forward_features(x), rtol=1e-4, atol=1e-5)


def test_weights_into_pooled_baseline_drop_the_class_token(tmp_path):
    vit = timm_vit((64, 32))
    torch.save(vit.state_dict(), tmp_path / "vit.pth")
    model = ViTBaseline(ViTBaselineConfig(embed_dim=D, depth=DEPTH, num_heads=HEADS, image_size=(64, 32)))
    assert load_vit_weights(model, tmp_path / "vit.pth").dropped == ("head.bias", "head.weight", "cls_token")
    assert torch.equal(model.vit.pos_embed.detach(), vit.pos_embed.detach()[:, 1:])


def test_a_wrong_key_width_or_file_fails_naming_it_and_loads_nothing(tmp_path):
    state = dict(timm_vit((64, 32)).state_dict())
    state["blocks.0.attn.qkv_renamed.weight"] = state.pop("blocks.0.attn.qkv.weight")
    torch.save(state, tmp_path / "renamed.pth")
    model = teacher()
    before = model.visual.blocks[0].mlp.fc1.weight.clone()
    with pytest.raises(UserError, match=r"renamed\.pth.*missing keys.*blocks\.0\.attn\.qkv\.weight.*unexpected keys.*"
                                        r"qkv_renamed"):
        load_vit_weights(model, tmp_path / "renamed.pth")
    assert torch.equal(model.visual.blocks[0].mlp.fc1.weight, before)
    state = dict(timm_vit((64, 32)).state_dict())
    state["norm.weight"] = torch.ones(48)
    torch.save(state, tmp_path / "wide.pth")
    with pytest.raises(UserError, match=r"norm.weight: file \[48\] vs model \[64\]"):
        load_vit_weights(teacher(), tmp_path / "wide.pth")
    with pytest.raises(UserError, match="nope.pth"):
        load_vit_weights(teacher(), tmp_path / "nope.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(UserError, match="is not a PyTorch state-dict file"):
        load_vit_weights(teacher(), tmp_path / "text.pth")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(UserError, match=r"other\.npz is not a ViT \.npz in Google's layout"):
        load_vit_weights(teacher(), tmp_path / "other.npz")
