"""`snnpar import` against the reference models themselves: the same weights give the same outputs.

The student oracle is SNN-PAR's Spikingformer built from SpikingJelly's MultiStepLIFNode
(tests/reference_spikingformer.py); the teacher oracle VTB's TransformerClassifier on timm's ViT
(tests/reference_vtb.py). Their state dicts, saved as the released code's save_ckpt saves them
({"state_dicts": ..., "epoch": ..., "metric": an easydict.EasyDict of numpy values}), are the files imported.
The student test is also the neurons' whole-network check: inputs drive SSA's attention neuron onto exact
ties (v == 0.5), and every spike of every layer must equal SpikingJelly's; gradients agree to 1e-5.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference_spikingformer import ReferenceSpikingformer, neuron_paths

from snnpar.errors import UserError
from snnpar.import_cli import import_checkpoint
from snnpar.models import create_model, record_spikes

T, D, DEPTH, HEADS, A = 4, 32, 1, 2, 26
SIZE = (128, 64)


def save_like_save_ckpt(state: dict, path) -> None:
    """torch.save({'state_dicts', 'epoch', 'metric'}) with the metric an easydict.EasyDict, as VTB/SNN-PAR do."""
    module = types.ModuleType("easydict")

    class EasyDict(dict):
        def __init__(self, d=None, **kwargs):
            super().__init__(d or {}, **kwargs)
            for k, v in self.items():
                setattr(self, k, v)

    EasyDict.__module__, EasyDict.__qualname__, module.EasyDict = "easydict", "EasyDict", EasyDict
    sys.modules["easydict"] = module
    try:
        metric = EasyDict(ma=np.float64(0.71), label_pos_recall=np.linspace(0, 1, A))
        torch.save({"state_dicts": state, "epoch": "2024-05-01 in epoch 60", "metric": metric}, path)
    finally:
        del sys.modules["easydict"]


def calibrated_oracle(seed: int = 0) -> ReferenceSpikingformer:
    """Random weights with BatchNorm statistics measured on random images, so every layer fires in eval mode."""
    torch.manual_seed(seed)
    oracle = ReferenceSpikingformer(D, DEPTH, HEADS, A, T)
    norms = [m for m in oracle.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in norms:
            m.weight.uniform_(0.8, 1.6)
            m.bias.uniform_(0.0, 0.5)
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batches
        oracle.train()
        for k in range(3):
            oracle(images(100 + k, batch=4))
        for m in norms:
            m.momentum = 0.1
    return oracle.eval()


def images(seed: int = 1, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, *SIZE, generator=torch.Generator().manual_seed(seed)) * 1.5


def oracle_spikes(oracle, x):
    out = {}
    hooks = [m.register_forward_hook(lambda _m, _i, y, name=name: out.__setitem__(name, y.detach()))
             for name, m in neuron_paths(oracle).items()]
    try:
        logits, tokens = oracle(x)
    finally:
        for h in hooks:
            h.remove()
    return logits, tokens, out


def ours(name: str) -> str:
    return name.replace("patch_embed.", "tokenizer.", 1).replace("block.", "blocks.", 1)


@pytest.fixture(scope="module")
def imported_student(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    oracle = calibrated_oracle().eval()
    save_like_save_ckpt(oracle.state_dict(), folder / "spikingformer.pth")
    model, report = import_checkpoint(folder / "spikingformer.pth", folder / "student.pt", part="student",
                                      preset="snnpar-tiny", time_steps=T, image_size=SIZE)
    return oracle, model.eval(), report


def test_student_import_reports_every_key_and_drops_only_the_unused_layernorms(imported_student):
    oracle, model, report = imported_student
    assert not report.missing and not report.unexpected
    assert {src for src, _ in report.mapped} | {src for src, _ in report.dropped} == set(oracle.state_dict())
    assert {src for src, _ in report.dropped} == {k for k in oracle.state_dict() if ".norm1." in k or ".norm2." in k}
    assert len({dst for _, dst in report.mapped}) == len(model.state_dict())


def test_imported_student_fires_every_spike_of_every_layer_like_spikingjelly(imported_student):
    oracle, model, _ = imported_student
    x = images()
    with torch.no_grad():
        logits_ref, tokens_ref, spikes_ref = oracle_spikes(oracle, x)
        with record_spikes(model) as spikes:
            logits, tokens = model(x, return_features=True)
    assert set(map(ours, spikes_ref)) == set(spikes)
    for name, expected in spikes_ref.items():
        assert 0 < expected.mean() < 1, name
        assert torch.equal(spikes[ours(name)].reshape(expected.shape), expected), name
    torch.testing.assert_close(logits, logits_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(tokens, tokens_ref, rtol=0, atol=1e-5)
    norse = create_model("snnpar-tiny", num_attributes=A, neurons="norse")  # v > v_th: the ties are real ones
    norse.load_state_dict(model.state_dict())
    with torch.no_grad(), record_spikes(norse.eval()) as norse_spikes:
        norse(x)
    attn = "blocks.0.attn.attn_lif"
    assert not torch.equal(norse_spikes[attn].reshape(spikes_ref["block.0.attn.attn_lif"].shape),
                           spikes_ref["block.0.attn.attn_lif"])


def test_imported_student_trains_with_spikingjellys_gradients(imported_student):
    oracle, model, _ = imported_student
    oracle.train(), model.train()
    x, labels = images(2, batch=4), (torch.arange(4 * A).reshape(4, A) % 3 == 0).float()
    F.binary_cross_entropy_with_logits(oracle(x)[0], labels).backward()
    F.binary_cross_entropy_with_logits(model(x), labels).backward()
    from snnpar.models.reference_import import student_key

    ours_params = dict(model.named_parameters())
    compared = 0
    for name, p in oracle.named_parameters():
        target = student_key(name)
        if target is None:
            assert p.grad is None  # the unused LayerNorms
            continue
        grad = ours_params[target].grad
        torch.testing.assert_close(grad.reshape(p.grad.shape), p.grad, rtol=0, atol=1e-5, msg=name)
        compared += 1
    assert compared == len(ours_params)
    oracle.eval(), model.eval()


def test_vtb_import_gives_the_outputs_of_vtbs_own_model(tmp_path):
    from reference_vtb import ReferenceVTB, vtb_state_dict

    from snnpar.models.text_vectors import write_text_vectors

    torch.manual_seed(3)
    dim, depth, heads, size = 32, 3, 4, (64, 32)
    oracle = ReferenceVTB(A, dim, depth, heads, size).eval()
    with torch.no_grad():
        oracle.bn.running_mean.uniform_(-0.5, 0.5)
        oracle.bn.running_var.uniform_(0.5, 2.0)
    save_like_save_ckpt(vtb_state_dict(oracle), tmp_path / "vtb.pth")
    vectors = torch.randn(A, 768)
    from snnpar.data.attributes import PA100K_ATTRIBUTES, attribute_phrases

    write_text_vectors(tmp_path / "vectors.pt", list(PA100K_ATTRIBUTES), attribute_phrases(PA100K_ATTRIBUTES),
                       vectors, "test")
    model, report = import_checkpoint(tmp_path / "vtb.pth", tmp_path / "teacher.pt", preset="vtb-b16",
                                      image_size=size, text_vectors=str(tmp_path / "vectors.pt"),
                                      overrides={"embed_dim": dim, "depth": depth, "num_heads": heads})
    assert not report.missing and not report.unexpected
    dropped = {src for src, _ in report.dropped}
    assert {"vit.fc.weight", "vit.fc.bias", "norm.weight", "blocks.0.attn.qkv.weight"} <= dropped
    x = torch.randn(3, 3, *size)
    with torch.no_grad():
        logits_ref, visual_ref, text_ref = oracle(x, vectors)
        out = model.eval()(x)
    torch.testing.assert_close(out.logits, logits_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.visual_tokens, visual_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.text_features, text_ref[0], rtol=1e-4, atol=1e-5)
    write_text_vectors(tmp_path / "narrow.pt", list(PA100K_ATTRIBUTES), attribute_phrases(PA100K_ATTRIBUTES),
                       vectors[:, :512], "test")
    with pytest.raises(UserError, match=r"narrow\.pt holds 512-wide vectors but the teacher's text side takes 768"):
        import_checkpoint(tmp_path / "vtb.pth", tmp_path / "t2.pt", preset="vtb-b16", image_size=size,
                          text_vectors=str(tmp_path / "narrow.pt"))
    with pytest.raises(UserError, match=r"vtb\.pth does not fill the model.*missing text\.embeddings.*--text-vectors"):
        import_checkpoint(tmp_path / "vtb.pth", tmp_path / "t3.pt", preset="vtb-b16", image_size=size,
                          overrides={"embed_dim": dim, "depth": depth, "num_heads": heads})


def test_snn_par_checkpoint_holds_both_models_and_imports_either(tmp_path):
    from reference_vtb import ReferenceVTB, vtb_state_dict

    torch.manual_seed(4)
    teacher = ReferenceVTB(A, 32, 2, 4, (128, 64))
    student = calibrated_oracle(5)
    state = {**vtb_state_dict(teacher), **{f"snn_model.{k}": v for k, v in student.state_dict().items()}}
    torch.save({"state_dicts": state}, tmp_path / "snn_par.pth")
    model, report = import_checkpoint(tmp_path / "snn_par.pth", tmp_path / "s.pt", preset="snnpar-tiny",
                                      time_steps=T, image_size=SIZE)
    assert not report.missing and all(src.startswith("snn_model.") for src, _ in report.mapped)
    torch.testing.assert_close(model.head.weight, student.head.weight, rtol=0, atol=0)


def test_unknown_layout_and_missing_or_extra_keys_are_user_errors_naming_the_file(tmp_path, imported_student):
    oracle = imported_student[0]
    torch.save({"state_dict": {"encoder.layer.0.weight": torch.zeros(2)}}, tmp_path / "foreign.pth")
    with pytest.raises(UserError, match=r"foreign\.pth.*unknown checkpoint layout"):
        import_checkpoint(tmp_path / "foreign.pth", tmp_path / "x.pt", preset="snnpar-tiny")
    state = oracle.state_dict()
    missing = {k: v for k, v in state.items() if k != "block.0.attn.k_conv.weight"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(UserError, match=r"missing\.pth.*missing blocks\.0\.attn\.k\.0\.weight"):
        import_checkpoint(tmp_path / "missing.pth", tmp_path / "x.pt", preset="snnpar-tiny", time_steps=T)
    torch.save({**state, "block.0.attn.extra_conv.weight": torch.zeros(2)}, tmp_path / "extra.pth")
    with pytest.raises(UserError, match=r"extra\.pth.*unexpected keys block\.0\.attn\.extra_conv\.weight"):
        import_checkpoint(tmp_path / "extra.pth", tmp_path / "x.pt", preset="snnpar-tiny", time_steps=T)
    with pytest.raises(UserError, match=r"snnpar-8-768"):  # a width that does not fit names the preset
        import_checkpoint(tmp_path / "extra.pth", tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
