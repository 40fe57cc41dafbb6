"""Weighted BCE and the two distillation losses against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from snnpar.losses import FeatureProjection, WeightedBCE, feature_kd, positive_ratio, response_kd

LN2 = math.log(2.0)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_positive_ratio_counts_only_ones():
    assert positive_ratio(np.array([[1, 0], [1, 2], [0, 0], [1, 0]])).tolist() == [0.75, 0.0]
    assert positive_ratio(torch.tensor([[1.0], [0.0]])).tolist() == [0.5]
    with pytest.raises(ValueError, match="non-empty"):
        positive_ratio(np.zeros((0, 3)))


def test_weighted_bce_by_hand_including_ratios_0_and_1():
    loss_fn = WeightedBCE([0.25, 1.0, 0.0])
    targets = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    # logits 0 -> BCE = ln 2 everywhere; weights exp(1-r) on positives, exp(r) on negatives
    expected = LN2 * ((math.exp(0.75) + 1 + 1) + (math.exp(0.25) + 1 + 1)) / 2
    assert loss_fn(torch.zeros(2, 3), targets).item() == pytest.approx(expected, rel=1e-6)
    logits = torch.tensor([[2.0, -1.0, 0.5]], requires_grad=True)
    value = loss_fn(logits, torch.tensor([[1.0, 0.0, 1.0]]))
    by_hand = (math.exp(0.75) * math.log(1 + math.exp(-2.0)) + math.exp(1.0) * math.log(1 + math.exp(-1.0))
               + math.exp(1.0) * math.log(1 + math.exp(-0.5)))  # fmt: skip
    assert value.item() == pytest.approx(by_hand, rel=1e-6)
    value.backward()
    assert torch.isfinite(logits.grad).all()


def test_weighted_bce_ignores_unknown_labels_and_checks_width():
    loss_fn = WeightedBCE(np.array([0.5, 0.5]))
    assert loss_fn(torch.zeros(1, 2), torch.tensor([[2.0, 1.0]])).item() == pytest.approx(math.exp(0.5) * LN2)
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        loss_fn(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        WeightedBCE([1.5])


def test_response_kd_sigmoid_is_the_per_attribute_binary_kl_times_t_squared():
    student = torch.tensor([[0.0, 1.0]])
    teacher = torch.tensor([[2.0, 1.0]])  # second attribute agrees: KL 0
    p, q = sigmoid(1.0), 0.5  # at T = 2
    kl = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    assert response_kd(student, teacher, temperature=2.0).item() == pytest.approx(4 * kl / 2, rel=1e-5)
    batch = response_kd(student.repeat(3, 1), teacher.repeat(3, 1))
    assert batch.item() == pytest.approx(4 * kl / 2, rel=1e-5)  # batch mean
    assert response_kd(teacher, teacher).item() == pytest.approx(0.0, abs=1e-7)


def test_response_kd_softmax_is_one_categorical_over_attributes():
    student = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    teacher = torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    p = [math.e / (math.e + 1), 1 / (math.e + 1)]  # softmax([1, 0]) at T = 2
    kl = sum(pi * math.log(pi / 0.5) for pi in p)
    assert response_kd(student, teacher, 2.0, mode="softmax").item() == pytest.approx(4 * kl, rel=1e-5)
    with pytest.raises(ValueError, match="mode"):
        response_kd(student, teacher, mode="other")


def test_response_kd_gradient_reaches_only_the_student():
    student = torch.zeros(2, 3, requires_grad=True)
    teacher = torch.ones(2, 3, requires_grad=True)
    response_kd(student, teacher).backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None


def test_feature_kd_by_hand():
    # teacher tokens e0, e1; text e0 -> teacher map [1, 0]. Student tokens e1, e0 -> map [0, 1].
    teacher_visual = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    student_tokens = torch.tensor([[[0.0, 3.0], [2.0, 0.0]]])  # scale does not matter: cosine
    text = torch.tensor([[1.0, 0.0]])
    # KL(softmax[1,0] || softmax[0,1]) = (2p - 1) with p = e/(1+e)
    expected = (math.e - 1) / (math.e + 1)
    assert feature_kd(student_tokens, teacher_visual, text).item() == pytest.approx(expected, rel=1e-5)
    proj = FeatureProjection(2, 2)
    with torch.no_grad():
        proj.linear.weight.copy_(torch.eye(2))
        proj.linear.bias.zero_()
    assert feature_kd(student_tokens, teacher_visual, text, proj).item() == pytest.approx(expected, rel=1e-5)
    # per-sample text [B, A, D]; a batch of two identical samples has the same batch mean
    two = feature_kd(
        student_tokens.repeat(2, 1, 1), teacher_visual.repeat(2, 1, 1), text.expand(2, 1, 2), proj
    )
    assert two.item() == pytest.approx(expected, rel=1e-5)
    # two attributes: summed over attributes
    both = feature_kd(student_tokens, teacher_visual, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert both.item() == pytest.approx(2 * expected, rel=1e-5)


def test_feature_kd_trains_the_projection_and_checks_shapes():
    torch.manual_seed(0)
    proj = FeatureProjection(4, 6)
    student = torch.randn(2, 5, 4, requires_grad=True)
    loss = feature_kd(student, torch.randn(2, 5, 6), torch.randn(3, 6), proj)
    loss.backward()
    assert loss.item() > 0 and proj.linear.weight.grad.abs().sum() > 0 and student.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="FeatureProjection"):
        feature_kd(torch.randn(2, 5, 4), torch.randn(2, 5, 6), torch.randn(3, 6))
    with pytest.raises(ValueError, match="token"):
        feature_kd(torch.randn(2, 4, 6), torch.randn(2, 5, 6), torch.randn(3, 6))
