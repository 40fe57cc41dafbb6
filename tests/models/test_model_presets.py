"""Every preset builds and returns the documented shapes; parameter counts match the architecture formulas."""

import pytest
import torch

from snnpar.models import create_model, list_models, model_kind
from snnpar.models.flops import count_parameters
from snnpar.models.vit import VisionTransformer, ViTConfig
from snnpar.models.vtb import TeacherOutput

BIG_PRESETS = ["snnpar-8-768", "snnpar-8-512", "snnpar-8-384", "vit-8-768", "vtb-b16"]
TINY_PRESETS = ["snnpar-tiny", "vit-tiny", "vtb-tiny"]


def spikingformer_parameters(d: int, depth: int, attributes: int, mlp_ratio: int = 4) -> int:
    """Learnable parameters of Spikingformer-depth-d, written out layer by layer (BN: weight + bias)."""
    bn = lambda c: 2 * c  # noqa: E731
    widths = [d // 8, d // 4, d // 2, d, d]
    tokenizer = 3 * widths[0] * 9 + bn(widths[0])  # encoder conv 3x3 (no bias) + BN
    tokenizer += sum(widths[i - 1] * widths[i] * 9 + bn(widths[i]) for i in range(1, 5))
    hidden = mlp_ratio * d
    attention = 3 * (d * d + bn(d)) + (d * d + d + bn(d))  # q, k, v (no bias) + proj (bias)
    mlp = (d * hidden + hidden + bn(hidden)) + (hidden * d + d + bn(d))
    head = d * attributes + attributes
    return tokenizer + depth * (attention + mlp) + head


def vit_parameters(d: int, depth: int, tokens: int, class_token: bool, mlp_ratio: int = 4) -> int:
    """Learnable parameters of a ViT encoder with 16x16 patches and no classifier."""
    patch = 3 * 16 * 16 * d + d
    positions = (tokens + class_token) * d
    hidden = mlp_ratio * d
    block = 2 * (2 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d)
    return patch + positions + class_token * d + depth * block + 2 * d


def test_presets_are_registered_by_kind():
    assert list_models("student") == ["snnpar-8-384", "snnpar-8-512", "snnpar-8-768", "snnpar-tiny"]
    assert list_models("teacher") == ["vtb-b16", "vtb-tiny"]
    assert list_models("baseline") == ["vit-8-768", "vit-tiny"]
    assert set(BIG_PRESETS + TINY_PRESETS) == set(list_models())


@pytest.mark.parametrize("name", TINY_PRESETS)
def test_tiny_presets_output_shapes(name):
    torch.manual_seed(0)
    model = create_model(name, num_attributes=5).eval()
    images = torch.randn(2, 3, 128, 64)
    with torch.no_grad():
        out = model(images)
        if model_kind(name) == "teacher":
            assert isinstance(out, TeacherOutput)
            assert out.logits.shape == (2, 5)
            assert out.visual_tokens.shape == (2, 32, model.config.embed_dim)
            assert out.text_features.shape == (5, model.config.embed_dim)
        else:
            logits, tokens = model(images, return_features=True)
            assert out.shape == logits.shape == (2, 5)
            assert tokens.shape == (2, 32, model.config.embed_dim)
            assert torch.allclose(out, logits)
    assert torch.isfinite(out[0] if isinstance(out, tuple) else out).all()


@pytest.mark.parametrize("name", BIG_PRESETS)
def test_big_presets_output_shapes_on_meta_device(name):
    # The meta device runs the full forward's shape logic without arithmetic (a real 8-768 forward
    # costs seconds on this CPU). T is configuration: one step exercises the same layers as 8.
    overrides = {"time_steps": 1} if model_kind(name) == "student" else {}
    with torch.device("meta"):
        model = create_model(name, **overrides).eval()
        with torch.no_grad():
            out = model(torch.zeros(1, 3, 256, 128))
    d = model.config.embed_dim
    if model_kind(name) == "teacher":
        assert (out.logits.shape, out.visual_tokens.shape, out.text_features.shape) == ((1, 26), (1, 128, d), (26, d))
    else:
        with torch.device("meta"), torch.no_grad():
            logits, tokens = model(torch.zeros(1, 3, 256, 128), return_features=True)
        assert out.shape == logits.shape == (1, 26)
        assert tokens.shape == (1, 128, d)


@pytest.mark.parametrize("attributes, millions", [(26, 65.59), (1000, 66.34)])
def test_student_8_768_parameter_count_matches_paper(attributes, millions):
    expected = spikingformer_parameters(768, 8, attributes)
    assert round(expected / 1e6, 2) == millions  # Table 4 of SNN-PAR; Spikingformer-8-768 on ImageNet
    with torch.device("meta"):
        model = create_model("snnpar-8-768", num_attributes=attributes)
    assert count_parameters(model) == expected


def test_student_8_768_has_65589626_parameters_with_26_attributes():
    assert spikingformer_parameters(768, 8, 26) == 65_589_626


@pytest.mark.parametrize("name, d, depth", [("snnpar-8-512", 512, 8), ("snnpar-8-384", 384, 8), ("snnpar-tiny", 32, 1)])
def test_other_student_parameter_counts_match_formula(name, d, depth):
    with torch.device("meta"):
        model = create_model(name)
    assert count_parameters(model) == spikingformer_parameters(d, depth, 26)


def test_vit_b16_encoder_has_timms_parameter_count():
    # timm's vit_base_patch16_224 without its classifier: 85,798,656 parameters.
    with torch.device("meta"):
        vit = VisionTransformer(ViTConfig(image_size=(224, 224)))
    assert count_parameters(vit) == vit_parameters(768, 12, 196, class_token=True) == 85_798_656


@pytest.mark.parametrize("name, d, depth", [("vit-8-768", 768, 8), ("vit-tiny", 32, 1)])
def test_vit_baseline_parameter_count_matches_formula(name, d, depth):
    with torch.device("meta"):
        model = create_model(name, patch_embed="linear")  # the formula is the linear-patch ViT's
    tokens = 128 if d == 768 else 32
    assert count_parameters(model) == vit_parameters(d, depth, tokens, class_token=False) + d * 26 + 26


def test_vtb_b16_has_vtbs_learnable_parameters_counted_from_the_published_vit_b16():
    """timm's vit_base_patch16_224 has 86,567,656 parameters (the ViT-B/16 of the ViT paper and of VTB's
    jx_vit_base_p16_224 weights). VTB drops its 1000-class head, has 129 positions at 256x128 instead of 197,
    and adds word_embed Linear(768, 768), two type embeddings, 26 Linear(768, 1) heads and a BatchNorm1d(26);
    the attribute vectors are frozen (a buffer, not a parameter)."""
    published_vit_b16 = 86_567_656
    expected = (published_vit_b16 - (768 * 1000 + 1000) - (197 - 129) * 768
                + (768 * 768 + 768) + 2 * 768 + (26 * 768 + 26) + 2 * 26)
    with torch.device("meta"):
        model = create_model("vtb-b16")
        timm_vit = pytest.importorskip("timm").create_model("vit_base_patch16_224", pretrained=False)
    assert count_parameters(timm_vit) == published_vit_b16
    assert count_parameters(model) == expected == 86_358_606
    assert count_parameters(model.text) == 0 and model.text.embeddings.shape == (26, 768)


def test_conv_stem_keeps_the_patch_grid_so_teacher_and_student_have_equal_token_counts():
    teacher = create_model("vtb-tiny")  # patch_embed="conv"
    student = create_model("snnpar-tiny")
    out = teacher(torch.randn(2, 3, *teacher.config.image_size))
    assert out.visual_tokens.shape[1] == student.config.num_tokens == (128 // 16) * (64 // 16)
    with pytest.raises(ValueError, match="patch_embed"):
        create_model("vit-tiny", patch_embed="pixels")
