"""The trainer's student loss is w_bce*BCE + alpha*response KD + beta*feature KD of the loss functions, with a
frozen teacher and a trained projection; the recipes' learning-rate schedules have their stated shape."""

from __future__ import annotations

import math

import pytest
import torch

from snnpar.losses import WeightedBCE, feature_kd, positive_ratio, response_kd
from snnpar.train import RECIPES, Trainer, learning_rate_factor, loss_weights, resolve_config


def one_batch(trainer: Trainer):
    images, labels = next(iter(trainer.train_loader))
    return images, labels.float()


@pytest.mark.parametrize("kd", ["none", "response", "feature", "both"])
def test_total_loss_is_the_weighted_sum_of_the_loss_functions(tiny_config, teacher_checkpoint, kd):
    trainer = Trainer(tiny_config(kd=kd, teacher=str(teacher_checkpoint), response_mode="sigmoid"))
    images, labels = one_batch(trainer)
    torch.manual_seed(1)
    total, parts = trainer.compute_loss(images, labels)

    # the same quantities, computed here from the models and snnpar.losses directly
    bce = WeightedBCE(positive_ratio(trainer.train_set.labels))
    w_bce, alpha, beta = loss_weights(kd)
    logits, tokens = trainer.model(images, return_features=True)
    expected = w_bce * bce(logits, labels)
    assert torch.allclose(parts["bce"], bce(logits, labels), rtol=1e-6, atol=1e-7)
    if kd != "none":
        with torch.no_grad():
            t = trainer.teacher.model(images)
        if kd in ("response", "both"):
            r = response_kd(logits, t.logits, temperature=2.0, mode="sigmoid")
            assert torch.allclose(parts["response_kd"], r, rtol=1e-6, atol=1e-7)
            expected = expected + alpha * r
        if kd in ("feature", "both"):
            f = feature_kd(tokens, t.visual_tokens, t.text_features, trainer.projection)
            assert torch.allclose(parts["feature_kd"], f, rtol=1e-6, atol=1e-7)
            expected = expected + beta * f
    assert set(parts) == {"bce"} | ({"response_kd"} if kd in ("response", "both") else set()) | (
        {"feature_kd"} if kd in ("feature", "both") else set())
    assert torch.allclose(total, expected, rtol=1e-6, atol=1e-7)


def test_reference_weights_and_explicit_overrides():
    assert loss_weights("both") == (0.6, 1.0, 100.0)
    assert loss_weights("response") == (0.8, 1.0, 0.0)
    assert loss_weights("feature") == (0.8, 0.0, 100.0)
    cfg = resolve_config("demo", None, dict(model="snnpar-tiny", data="synthetic", kd="both", teacher="t.pt",
                                            response_weight=3.0, bce_weight=0.5))
    assert (cfg.bce_weight, cfg.response_weight, cfg.feature_weight) == (0.5, 3.0, 100.0)


def test_teacher_is_frozen_and_only_student_and_projection_learn(tiny_config, teacher_checkpoint):
    trainer = Trainer(tiny_config(kd="both", teacher=str(teacher_checkpoint)))
    teacher_before = {k: v.clone() for k, v in trainer.teacher.model.state_dict().items()}
    projection_before = trainer.projection.linear.weight.detach().clone()
    images, labels = one_batch(trainer)
    total, _ = trainer.compute_loss(images, labels)
    total.backward()
    assert all(p.grad is None and not p.requires_grad for p in trainer.teacher.model.parameters())
    assert not trainer.teacher.model.training
    assert trainer.projection.linear.weight.grad is not None and trainer.projection.linear.weight.grad.abs().sum() > 0
    optimised = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert id(trainer.projection.linear.weight) in optimised
    assert not optimised & {id(p) for p in trainer.teacher.model.parameters()}
    trainer.train_one_epoch(0)
    for k, v in trainer.teacher.model.state_dict().items():  # BatchNorm statistics included
        assert torch.equal(v, teacher_before[k]), k
    assert not torch.equal(trainer.projection.linear.weight.detach(), projection_before)


def test_paper_schedule_warms_up_linearly_then_steps_down_by_ten():
    cfg = resolve_config("paper", None, dict(model="snnpar-tiny", data="pa100k"))
    assert (cfg.optimizer, cfg.lr, cfg.batch_size, cfg.epochs, cfg.warmup_epochs) == ("adam", 8e-4, 12, 60, 10)
    spe = 100
    factors = [learning_rate_factor(s, spe, cfg) for s in range(60 * spe)]
    warm = factors[: 10 * spe]
    assert warm[0] == pytest.approx(1 / (10 * spe)) and warm[-1] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(warm, warm[1:]))
    after = sorted(set(round(f, 12) for f in factors[10 * spe:]), reverse=True)
    assert after == pytest.approx([1.0, 0.1, 0.01])


def test_reference_schedule_is_sgd_with_five_warmup_epochs_then_cosine_to_zero():
    cfg = resolve_config("reference", None, dict(model="snnpar-tiny", data="pa100k"))
    assert (cfg.optimizer, cfg.momentum, cfg.weight_decay, cfg.warmup_epochs) == ("sgd", 0.9, 1e-4, 5)
    spe = 10
    assert learning_rate_factor(5 * spe - 1, spe, cfg) == pytest.approx(1.0)
    mid = 5 * spe + (55 * spe) // 2
    assert learning_rate_factor(mid, spe, cfg) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)), abs=1e-3)
    assert learning_rate_factor(60 * spe - 1, spe, cfg) < 1e-4
    assert set(RECIPES) == {"paper", "reference", "demo"}
