"""The VTB teacher: its outputs, its text side (learned and pretrained), and that it trains end to end."""

import sys

import pytest
import torch
import torch.nn.functional as F

from snnpar.errors import UserError
from snnpar.models import create_model
from snnpar.models.text_encoder import (
    WordVocabulary,
    build_text_encoder,
    default_sentences,
    embed_with_sentence_transformer,
)
from snnpar.models.vtb import PerAttributeLinear, TeacherOutput

SENTENCES = ["a pedestrian wearing a hat", "a pedestrian with glasses", "a female pedestrian",
             "a pedestrian carrying a backpack"]


def tiny_teacher(**overrides):
    torch.manual_seed(0)
    return create_model("vtb-tiny", num_attributes=len(SENTENCES), attribute_sentences=SENTENCES, **overrides)


def test_teacher_output_fields():
    model = tiny_teacher().eval()
    x = torch.randn(3, 3, 128, 64)
    with torch.no_grad():
        out = model(x)
        single = model(x[:1])
    assert isinstance(out, TeacherOutput)
    assert TeacherOutput._fields == ("logits", "visual_tokens", "text_features")
    d = model.config.embed_dim
    assert out.logits.shape == (3, 4)
    assert out.visual_tokens.shape == (3, 8 * 4, d)  # the patch tokens (the fusion also sees the class token)
    assert out.text_features.shape == (4, d)
    # Text features are the attribute tokens: the same whatever the image.
    assert torch.equal(out.text_features, single.text_features)
    # Visual tokens are per image; eval-mode BN makes each image's logits independent of the batch.
    assert torch.allclose(out.visual_tokens[:1], single.visual_tokens, atol=1e-5)
    assert torch.allclose(out.logits[:1], single.logits, atol=1e-5)


def test_gradients_reach_every_parameter_of_tiny_teacher():
    model = tiny_teacher().train()
    labels = torch.tensor([[1.0, 0, 1, 0], [0, 1, 1, 0]])
    F.binary_cross_entropy_with_logits(model(torch.randn(2, 3, 128, 64)).logits, labels).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, f"parameters without gradient: {no_grad}"


def test_teacher_embeds_the_given_sentences():
    model = tiny_teacher()
    assert {"hat", "glasses", "backpack", "female"} <= set(model.text.vocabulary.words)
    generic = create_model("vtb-tiny", num_attributes=3)
    assert generic.text.sentences == tuple(default_sentences(3))
    with pytest.raises(ValueError, match="3 attribute sentences for num_attributes=4"):
        create_model("vtb-tiny", num_attributes=4, attribute_sentences=SENTENCES[:3])


def test_word_vocabulary_is_deterministic_and_pads():
    vocab = WordVocabulary.from_sentences(["b a", "c, a b"])
    assert vocab == WordVocabulary.from_sentences(["c, a b", "b a"])
    assert vocab.words == (",", "a", "b", "c")
    ids, mask = vocab.encode(["b a", "c, a b", "unseen"])
    assert ids.tolist() == [[4, 3, 0, 0], [5, 2, 3, 4], [1, 0, 0, 0]]
    assert mask.tolist() == [[True, True, False, False], [True] * 4, [True, False, False, False]]


def test_learned_text_encoder_ignores_padding():
    # A short sentence must embed the same padded beside a longer one as alone.
    torch.manual_seed(0)
    encoder = build_text_encoder("learned", ["a b", "a b c d e"], width=16, depth=1, num_heads=2)
    with torch.no_grad():
        padded = encoder()[0]
        encoder.token_ids, encoder.token_mask = encoder.token_ids[:1, :2], encoder.token_mask[:1, :2]
        alone = encoder()[0]
    assert torch.allclose(padded, alone, atol=1e-6)


def test_per_attribute_head_is_one_linear_per_attribute_token():
    head = PerAttributeLinear(3, 5)
    tokens = torch.randn(2, 3, 5)
    separate = torch.stack([F.linear(tokens[:, i], head.weight[i : i + 1], head.bias[i : i + 1])[:, 0]
                            for i in range(3)], dim=1)
    assert torch.allclose(head(tokens), separate, atol=1e-6)


def test_text_model_folder_that_is_not_a_sentence_transformer_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"not a local sentence-transformers model folder \(no modules.json") as err:
        embed_with_sentence_transformer(tmp_path, ["female"])
    assert str(tmp_path) in str(err.value)


def test_text_model_without_sentence_transformers_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "modules.json").write_text("[]")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if the package were not installed
    with pytest.raises(UserError, match=r"needs sentence-transformers: pip install 'snnpar\[vtb\]'"):
        embed_with_sentence_transformer(tmp_path, ["female"])


def test_frozen_text_side_holds_the_given_vectors_as_a_saved_buffer():
    model = create_model("vtb-tiny", num_attributes=2, text_encoder="frozen", text_width=5)
    vectors = torch.randn(2, 5)
    model.text.set_vectors(vectors)
    assert torch.equal(model.text_features(), model.word_embed(vectors) + model.text_type_embed)
    assert torch.equal(model.state_dict()["text.embeddings"], vectors)
    assert not any(n.startswith("text.") for n, _ in model.named_parameters())
    with pytest.raises(ValueError, match=r"\[3, 5\] do not fit"):
        model.text.set_vectors(torch.randn(3, 5))


def test_teacher_round_trips_through_an_snnpar_checkpoint(tmp_path):
    from snnpar.checkpoint import ModelCard, load_model, save_checkpoint

    model = tiny_teacher().eval()
    kwargs = {"num_attributes": len(SENTENCES), "attribute_sentences": SENTENCES}
    save_checkpoint(tmp_path / "teacher.pt", model, ModelCard("vtb-tiny", kwargs, ["hat", "glasses", "female", "bag"],
                                                              {"mean": [0.5] * 3, "std": [0.5] * 3}))
    loaded, card = load_model(tmp_path / "teacher.pt")
    x = torch.randn(2, 3, 128, 64)
    with torch.no_grad():
        assert torch.equal(model(x).logits, loaded(x).logits)
    assert card.preset == "vtb-tiny"
