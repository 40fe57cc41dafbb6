"""PAR metrics: label-based mA and instance-based Accuracy, Precision, Recall, F1.

Two definitions, both from the field's reference code, with ε = 1e-20 in every denominator (so a
zero denominator gives 0, e.g. an instance with no positive label and no positive prediction has
accuracy, precision and recall 0):
- "rethinking" (default; Rethinking_of_PAR's get_pedestrian_metrics, threshold 0.5):
  mA = mean_j (TP_j/P_j + TN_j/N_j)/2; per instance Acc = |Y∩Ŷ|/|Y∪Ŷ|, Prec = |Y∩Ŷ|/|Ŷ|,
  Rec = |Y∩Ŷ|/|Y|, each averaged over instances; F1 = 2·Prec·Rec/(Prec+Rec) of those means.
- "vtb" (VTB's and SNN-PAR's code, threshold 0.45): the same, except F1 is the mean over instances
  of each instance's F1.
A label counts as positive where it equals 1 and negative where it equals 0 (other values, e.g.
RAP's unknown 2, count as neither), as the reference does. No training or thresholds search here.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EPS = 1e-20
DEFINITIONS = {"rethinking": 0.5, "vtb": 0.45}


@dataclass
class AttributeRow:
    """One attribute's label-based figures (fractions)."""

    name: str
    positive_ratio: float  # share of samples labelled 1
    tpr: float  # TP / P (positive recall)
    tnr: float  # TN / N (negative recall)
    ma: float  # (tpr + tnr) / 2


@dataclass
class PARMetrics:
    """The Table 1 figures of a PAR evaluation, as fractions in [0, 1]."""

    mA: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    per_attribute: list[AttributeRow] = field(default_factory=list)
    threshold: float = 0.5
    definition: str = "rethinking"

    def as_row(self) -> dict[str, float]:
        """mA, Acc, Prec, Recall, F1 in percent, in the paper's column order."""
        return {
            "mA": 100.0 * self.mA,
            "Acc": 100.0 * self.accuracy,
            "Prec": 100.0 * self.precision,
            "Recall": 100.0 * self.recall,
            "F1": 100.0 * self.f1,
        }

    def __str__(self) -> str:
        return "  ".join(f"{k} {v:.2f}" for k, v in self.as_row().items())

    def per_attribute_table(self, names: list[str] | None = None, fmt: str = "text") -> str:
        """The per-attribute table (percent) as aligned text or CSV; `names` override the row names."""
        rows = self.per_attribute
        if names is not None:
            if len(names) != len(rows):
                raise ValueError(f"{len(names)} names given for {len(rows)} attributes")
            labels = list(names)
        else:
            labels = [r.name for r in rows]
        header = ["attribute", "positive_ratio", "TPR", "TNR", "mA"]
        values = [
            [n, 100 * r.positive_ratio, 100 * r.tpr, 100 * r.tnr, 100 * r.ma] for n, r in zip(labels, rows)
        ]
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            writer.writerows([[v[0]] + [f"{x:.4f}" for x in v[1:]] for v in values])
            return out.getvalue()
        if fmt != "text":
            raise ValueError(f"fmt must be 'text' or 'csv', got {fmt!r}")
        width = max([len(header[0])] + [len(str(v[0])) for v in values])
        lines = [f"{header[0]:<{width}}  " + "  ".join(f"{h:>14}" for h in header[1:])]
        lines += [f"{v[0]:<{width}}  " + "  ".join(f"{x:>14.2f}" for x in v[1:]) for v in values]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mA": self.mA, "accuracy": self.accuracy, "precision": self.precision, "recall": self.recall,
            "f1": self.f1, "threshold": self.threshold, "definition": self.definition,
            "per_attribute": [vars(r) for r in self.per_attribute],
        }  # fmt: skip


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def compute_metrics(
    probs: Any,
    labels: Any,
    threshold: float | None = None,
    definition: str = "rethinking",
    attribute_names: list[str] | None = None,
) -> PARMetrics:
    """mA, instance Acc/Prec/Recall/F1 and per-attribute rows from probabilities [N, A] and labels [N, A].

    threshold: a prediction is positive where prob > threshold; default 0.5 ("rethinking") or 0.45 ("vtb").
    """
    if definition not in DEFINITIONS:
        raise ValueError(f"definition must be one of {', '.join(DEFINITIONS)}, got {definition!r}")
    threshold = DEFINITIONS[definition] if threshold is None else float(threshold)
    p, gt = _as_numpy(probs), _as_numpy(labels)
    if p.ndim != 2 or p.shape != gt.shape:
        raise ValueError(f"probs and labels must both be [N, A]; got {p.shape} and {gt.shape}")
    if attribute_names is not None and len(attribute_names) != gt.shape[1]:
        raise ValueError(f"{len(attribute_names)} attribute names for {gt.shape[1]} attributes")
    pred = p > threshold
    pos, neg = gt == 1, gt == 0

    # label-based
    n_pos, n_neg = pos.sum(0).astype(float), neg.sum(0).astype(float)
    tpr = (pos & pred).sum(0) / (n_pos + EPS)
    tnr = (neg & ~pred).sum(0) / (n_neg + EPS)
    label_ma = (tpr + tnr) / 2

    # instance-based
    inter = (pos & pred).sum(1).astype(float)
    union = (pos | pred).sum(1).astype(float)
    acc = inter / (union + EPS)
    prec = inter / (pred.sum(1) + EPS)
    rec = inter / (pos.sum(1) + EPS)
    if definition == "vtb":
        f1 = float(np.mean(2 * prec * rec / (prec + rec + EPS)))
    else:
        mp, mr = float(np.mean(prec)), float(np.mean(rec))
        f1 = 2 * mp * mr / (mp + mr + EPS)

    names = list(attribute_names) if attribute_names is not None else [f"attr{j}" for j in range(gt.shape[1])]
    n = max(gt.shape[0], 1)
    rows = [
        AttributeRow(names[j], float(n_pos[j] / n), float(tpr[j]), float(tnr[j]), float(label_ma[j]))
        for j in range(gt.shape[1])
    ]
    return PARMetrics(
        mA=float(np.mean(label_ma)), accuracy=float(np.mean(acc)), precision=float(np.mean(prec)),
        recall=float(np.mean(rec)), f1=float(f1), per_attribute=rows, threshold=threshold, definition=definition,
    )  # fmt: skip
