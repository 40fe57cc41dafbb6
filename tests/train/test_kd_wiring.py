"""The trainer's student loss against the released SNN-PAR code's own formulas, and its schedules against timm.

Expected values are computed here the way SNN-PAR's batch_engine.py and loss/CE_loss.py compute them, with
torch primitives only (nothing from snnpar.losses): CEL_Sigmoid = sum over attributes and samples of
ratio2weight * BCE, divided by the batch; feature KD = KL(softmax over tokens of the teacher's text-to-visual
cosine map || the student's), batchmean; response KD = KL(softmax over attributes of teacher / T || student / T),
batchmean, times T^2; total = 0.6 BCE + 100 feature + 1 response (0.8 BCE with one term). The reference
recipe's learning rates are those of timm's CosineLRScheduler as the released code configures and steps it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snnpar.train import Trainer, learning_rate_factor, resolve_config

RELEASED_WEIGHTS = {"none": (1.0, 0.0, 0.0), "response": (0.8, 0.0, 1.0), "feature": (0.8, 100.0, 0.0),
                    "both": (0.6, 100.0, 1.0)}  # batch_engine.py: (ces, kl_loss_1 = feature, kl_loss_2 = response)


def released_cel_sigmoid(logits, targets, sample_weight):
    """SNN-PAR loss/CE_loss.py CEL_Sigmoid with tools/function.py ratio2weight."""
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    mask = (targets > 0.5).float()
    weight = torch.exp(mask * (1 - sample_weight) + (1 - mask) * sample_weight)
    return (loss * weight).sum() / logits.shape[0]


@pytest.mark.parametrize("kd", ["none", "response", "feature", "both"])
def test_student_loss_is_the_released_codes(tiny_config, make_teacher, attribute_names, tmp_path, kd):
    teacher = make_teacher(tmp_path / "teacher.pt", attribute_names)
    trainer = Trainer(tiny_config(kd=kd, teacher=str(teacher) if kd != "none" else None, feature_weight=100.0,
                                  model_overrides={"time_steps": 2, "embed_dim": 64}))  # as wide as vtb-tiny
    # feature_weight: the released 100 (the demo recipe, which tiny_config uses, sets 1)
    images, labels = next(iter(trainer.train_loader))
    labels = labels.float()
    total, parts = trainer.compute_loss(images, labels)

    logits, student_tokens = trainer.model(images, return_features=True)
    ratio = torch.as_tensor(np.asarray(trainer.train_set.labels).mean(axis=0), dtype=torch.float32)
    w_ces, w_feat, w_resp = RELEASED_WEIGHTS[kd]
    expected = w_ces * released_cel_sigmoid(logits, labels, ratio)
    if kd != "none":
        with torch.no_grad():
            t = trainer.teacher.model(images)
        text = t.text_features.unsqueeze(0).expand(images.shape[0], -1, -1)
        sim_s = F.cosine_similarity(text.unsqueeze(2), student_tokens.unsqueeze(1), dim=-1)
        sim_t = F.cosine_similarity(text.unsqueeze(2), t.visual_tokens.unsqueeze(1), dim=-1)
        kl_feature = F.kl_div(F.log_softmax(sim_s, dim=-1), F.softmax(sim_t, dim=-1), reduction="batchmean")
        temp = 2
        kl_response = F.kl_div(F.log_softmax(logits / temp, dim=-1), F.softmax(t.logits / temp, dim=-1),
                               reduction="batchmean") * temp * temp
        expected = expected + w_feat * kl_feature + w_resp * kl_response
        assert trainer.projection is None  # student and teacher are both 64 wide: no projection, as released
    torch.testing.assert_close(total, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(parts["bce"], released_cel_sigmoid(logits, labels, ratio), rtol=1e-5, atol=1e-6)


def test_teacher_is_frozen_and_only_the_student_learns(tiny_config, make_teacher, attribute_names, tmp_path):
    teacher = make_teacher(tmp_path / "teacher.pt", attribute_names)
    trainer = Trainer(tiny_config(kd="both", teacher=str(teacher), model_overrides={"time_steps": 2, "embed_dim": 64}))
    before = {k: v.clone() for k, v in trainer.teacher.model.state_dict().items()}
    trainer.train_one_epoch(0)
    assert all(not p.requires_grad for p in trainer.teacher.model.parameters()) and not trainer.teacher.model.training
    for k, v in trainer.teacher.model.state_dict().items():  # BatchNorm statistics included
        assert torch.equal(v, before[k]), k
    optimised = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert optimised == {id(p) for p in trainer.model.parameters()}


def test_a_projection_is_learned_only_where_the_widths_differ(tiny_config, make_teacher, attribute_names, tmp_path):
    teacher = make_teacher(tmp_path / "teacher.pt", attribute_names)  # vtb-tiny: 64 wide
    trainer = Trainer(tiny_config(kd="feature", teacher=str(teacher)))  # snnpar-tiny: 32 wide
    assert (trainer.projection.student_dim, trainer.projection.teacher_dim) == (32, 64)
    optimised = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert id(trainer.projection.linear.weight) in optimised


def test_reference_recipe_follows_timms_cosine_scheduler_as_the_released_code_steps_it():
    timm_scheduler = pytest.importorskip("timm.scheduler")
    cfg = resolve_config("reference", None, dict(model="snnpar-tiny", data="pa100k"))
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.batch_size, cfg.epochs) == (
        "sgd", 8e-4, 0.9, 1e-4, 12, 60)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    # SNN-PAR solver/scheduler_factory.py: lr_min 0.002 lr, warmup_lr_init 0.01 lr, warmup_t 5 (train.py), per epoch
    scheduler = timm_scheduler.CosineLRScheduler(optimizer, t_initial=60, lr_min=0.002 * cfg.lr, cycle_decay=0.1,
                                                 warmup_lr_init=0.01 * cfg.lr, warmup_t=5, cycle_limit=1,
                                                 t_in_epochs=True)
    steps_per_epoch = 7
    for epoch in range(1, 61):
        scheduler.step(epoch)  # train.py: scheduler.step(i) before epoch i
        expected = optimizer.param_groups[0]["lr"]
        for step in ((epoch - 1) * steps_per_epoch, epoch * steps_per_epoch - 1):
            assert cfg.lr * learning_rate_factor(step, steps_per_epoch, cfg) == pytest.approx(expected, rel=1e-9), epoch


def test_paper_schedule_warms_up_linearly_then_steps_down_by_ten():
    cfg = resolve_config("paper", None, dict(model="snnpar-tiny", data="pa100k"))
    assert (cfg.optimizer, cfg.lr, cfg.batch_size, cfg.epochs, cfg.warmup_epochs) == ("adam", 8e-4, 12, 60, 10)
    factors = [learning_rate_factor(s, 100, cfg) for s in range(60 * 100)]
    assert factors[0] == pytest.approx(1 / 1000) and factors[999] == pytest.approx(1.0)
    assert sorted({round(f, 12) for f in factors[1000:]}, reverse=True) == pytest.approx([1.0, 0.1, 0.01])
