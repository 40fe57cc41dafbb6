"""`snnpar text-vectors`: the attribute phrases embedded by a local sentence-transformers folder, as VTB does.

The folder is a tiny sentence-transformers model made here (a one-layer BERT with a word-level vocabulary,
mean pooling, then normalisation, the module pipeline all-mpnet-base-v2 has), saved with
SentenceTransformer.save(): no download. Expected vectors: that model's own encode() of VTB's phrases.
"""

from __future__ import annotations

import pytest
import torch

from snnpar.cli import main
from snnpar.data.attributes import PA100K_ATTRIBUTES, attribute_phrases
from snnpar.errors import UserError
from snnpar.models.text_vectors import read_text_vectors


@pytest.fixture(scope="module")
def sentence_model(tmp_path_factory):
    st = pytest.importorskip("sentence_transformers")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("text_model")
    words = sorted({w for p in attribute_phrases(PA100K_ATTRIBUTES) for w in p.split()})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    torch.manual_seed(0)
    bert = transformers.BertModel(transformers.BertConfig(vocab_size=len(words) + 5, hidden_size=16,
                                                          num_hidden_layers=1, num_attention_heads=2,
                                                          intermediate_size=32, max_position_embeddings=32))
    bert.save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "bert")
    m = pytest.importorskip("sentence_transformers.sentence_transformer.modules")
    modules = [m.Transformer(str(folder / "bert")), m.Pooling(16, "mean"), m.Normalize()]
    st.SentenceTransformer(modules=modules, device="cpu").save(str(folder / "model"))
    return folder / "model"


def test_text_vectors_are_the_sentence_models_own_embeddings_of_vtbs_phrases(sentence_model, tmp_path, capsys):
    from sentence_transformers import SentenceTransformer

    assert main(["text-vectors", "--text-model", str(sentence_model), "--data", "pa100k",
                 "--out", str(tmp_path / "vectors.pt")]) == 0
    vectors = read_text_vectors(tmp_path / "vectors.pt", list(PA100K_ATTRIBUTES), width=16)
    expected = SentenceTransformer(str(sentence_model), device="cpu").encode(
        ["female", "age over 60", *attribute_phrases(PA100K_ATTRIBUTES)[2:]], convert_to_tensor=True)
    torch.testing.assert_close(vectors, expected.float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(26), rtol=0, atol=1e-5)  # the Normalize module ran
    assert "26 attribute vectors of width 16" in capsys.readouterr().out


def test_vectors_of_the_wrong_count_names_or_width_are_refused(tmp_path):
    torch.save(torch.randn(26, 16), tmp_path / "raw.pt")
    assert read_text_vectors(tmp_path / "raw.pt", list(PA100K_ATTRIBUTES)).shape == (26, 16)
    with pytest.raises(UserError, match=r"raw\.pt holds vectors for 26 attributes but the data set has 35"):
        read_text_vectors(tmp_path / "raw.pt", ["a"] * 35)
    with pytest.raises(UserError, match=r"raw\.pt holds 16-wide vectors .* takes 768"):
        read_text_vectors(tmp_path / "raw.pt", list(PA100K_ATTRIBUTES), width=768)
    with pytest.raises(UserError, match=r"missing\.pt does not exist.*snnpar text-vectors"):
        read_text_vectors(tmp_path / "missing.pt", list(PA100K_ATTRIBUTES))
