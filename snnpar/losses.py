"""Losses of PAR training: the attribute-imbalance-weighted BCE and the two distillation terms.

- `WeightedBCE`: the field's ratio2weight BCE. With r_j the positive ratio of attribute j on the
  training split, w = exp(1 − r_j) where the label is 1 and exp(r_j) where it is 0 (0 where a label
  is > 1, i.e. unknown); loss = Σ_j w·BCE, mean over the batch.
- `response_kd`: KL(teacher ‖ student) of the outputs at temperature T, scaled by T², batch mean.
  mode "sigmoid" (default, principled for multi-label): per attribute, the binary distributions
  (σ(z/T), 1 − σ(z/T)); the mean over attributes. mode "softmax" (the SNN-PAR reference code):
  one categorical over all attributes, softmax(z/T).
- `feature_kd`: for each teacher attribute text feature t_a, the cosine similarity to each visual
  token gives a map over tokens, once for the teacher's visual tokens and once for the student's
  (T-averaged, projected to the teacher's width by a learned `FeatureProjection`); loss =
  KL(softmax_tokens(teacher map) ‖ softmax_tokens(student map)), summed over tokens and
  attributes and averaged over the batch (torch's "batchmean" on [B, A, N]).
Teacher tensors are detached: the teacher is frozen. Weights between the terms are the trainer's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def positive_ratio(labels: Any) -> np.ndarray:
    """Share of samples labelled 1, per attribute: [N, A] -> float32 [A]."""
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"positive_ratio needs a non-empty [N, A] label matrix, got shape {arr.shape}")
    return (arr == 1).mean(axis=0).astype(np.float32)


class WeightedBCE(nn.Module):
    """BCE weighted against attribute imbalance (ratio2weight); sum over attributes, mean over batch."""

    def __init__(self, positive_ratio: Any) -> None:
        super().__init__()
        ratio = torch.as_tensor(np.asarray(positive_ratio, dtype=np.float32)).reshape(-1)
        if ratio.numel() == 0 or not torch.isfinite(ratio).all() or (ratio < 0).any() or (ratio > 1).any():
            raise ValueError(f"positive_ratio must be A finite values in [0, 1], got {ratio.tolist()}")
        self.register_buffer("ratio", ratio, persistent=False)

    def weights(self, targets: torch.Tensor) -> torch.Tensor:
        r = self.ratio.to(targets.dtype)
        positive = (targets > 0.5).to(targets.dtype)
        w = torch.exp(positive * (1 - r) + (1 - positive) * r)
        return w.masked_fill(targets > 1, 0.0)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if logits.shape != targets.shape or logits.shape[-1] != self.ratio.numel():
            raise ValueError(
                f"WeightedBCE: logits {tuple(logits.shape)} and targets {tuple(targets.shape)} must both be "
                f"[B, {self.ratio.numel()}] (the attribute count of the positive ratio)"
            )
        targets = targets.to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, targets.clamp(max=1.0), reduction="none")
        return (bce * self.weights(targets).detach()).sum(dim=1).mean()


def response_kd(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float = 2.0,
    mode: str = "sigmoid",
) -> torch.Tensor:
    """KL(teacher ‖ student) of the temperature-softened outputs, × T², batch mean (see module doc)."""
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(
            f"response_kd: student {tuple(student_logits.shape)} and teacher {tuple(teacher_logits.shape)} "
            "logits must both be [B, A]"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    s = student_logits / temperature
    t = teacher_logits.detach().to(s.dtype) / temperature
    if mode == "sigmoid":
        p_t = torch.sigmoid(t)
        kl = p_t * (F.logsigmoid(t) - F.logsigmoid(s)) + (1 - p_t) * (F.logsigmoid(-t) - F.logsigmoid(-s))
        loss = kl.mean()
    elif mode == "softmax":
        loss = F.kl_div(
            F.log_softmax(s, dim=1), F.log_softmax(t, dim=1), reduction="batchmean", log_target=True
        )
    else:
        raise ValueError(
            f"mode must be 'sigmoid' (per attribute) or 'softmax' (the reference code's), got {mode!r}"
        )
    return loss * temperature**2


class FeatureProjection(nn.Module):
    """The learned map from the student's token width to the teacher's, for feature KD."""

    def __init__(self, student_dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.student_dim, self.teacher_dim = int(student_dim), int(teacher_dim)
        self.linear = nn.Linear(self.student_dim, self.teacher_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(tokens)


def attribute_token_maps(tokens: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every attribute text feature to every token: [B, N, D], [B, A, D] -> [B, A, N]."""
    return torch.einsum("bad,bnd->ban", F.normalize(text, dim=-1), F.normalize(tokens, dim=-1))


def feature_kd(
    student_tokens: torch.Tensor,
    teacher_visual: torch.Tensor,
    teacher_text: torch.Tensor,
    projection: nn.Module | None = None,
) -> torch.Tensor:
    """KL between the teacher's and the student's text-to-token similarity maps (see module doc)."""
    if student_tokens.dim() != 3 or teacher_visual.dim() != 3:
        raise ValueError(
            f"feature_kd: student tokens {tuple(student_tokens.shape)} and teacher visual tokens "
            f"{tuple(teacher_visual.shape)} must be [B, N, D]"
        )
    b, n, _ = teacher_visual.shape
    if student_tokens.shape[:2] != (b, n):
        raise ValueError(
            f"feature_kd: student has {tuple(student_tokens.shape[:2])} (batch, tokens) but the teacher has {(b, n)}; "
            "use the same input size for both so their token grids match"
        )
    student = projection(student_tokens) if projection is not None else student_tokens
    dt = teacher_visual.shape[-1]
    if student.shape[-1] != dt:
        raise ValueError(
            f"feature_kd: student width {student.shape[-1]} != teacher width {dt}; pass a FeatureProjection({student_tokens.shape[-1]}, {dt})"
        )
    text = teacher_text.detach().to(student.dtype)
    if text.dim() == 2:
        text = text.unsqueeze(0).expand(b, -1, -1)
    if text.dim() != 3 or text.shape[0] != b or text.shape[-1] != dt:
        raise ValueError(
            f"feature_kd: text features {tuple(teacher_text.shape)} must be [A, {dt}] or [{b}, A, {dt}]"
        )
    teacher_map = attribute_token_maps(teacher_visual.detach().to(student.dtype), text)
    student_map = attribute_token_maps(student, text)
    return (
        F.kl_div(
            F.log_softmax(student_map, dim=-1),
            F.log_softmax(teacher_map, dim=-1),
            reduction="sum",
            log_target=True,
        )
        / b
    )
