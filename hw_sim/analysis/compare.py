"""Fidelity of a simulated run against a reference run, layer by layer (Norse vs Lava, float vs fixed).

Per spiking layer: exact spike-match rate, correlation of per-neuron spike counts, firing rate on each
side, the first step at which the two differ; per run: agreement of the predicted attributes and the
largest logit difference. `compare_spikes` and `compare_runs` are pure (any two spike dicts keyed by
NIR node name, time already aligned); `align_by_depth` undoes Lava's per-node synaptic delay;
`compare_checkpoint` runs the Norse model (record_spikes) and `hw_sim.run` and puts it all together.
This is the one hw_sim module that runs the Norse model. It does not count energy (`hw_sim.analysis.energy`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from snnpar.errors import UserError
from snnpar.evaluate import write_text


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


@dataclass(frozen=True)
class LayerFidelity:
    layer: str
    spike_match_rate: float  # fraction of (step, image, neuron) entries that agree exactly
    spike_count_correlation: float  # Pearson r of per-neuron spike counts (1.0 when both are identical constants)
    reference_rate: float
    candidate_rate: float
    first_divergent_step: int | None  # None: identical at every step
    reference_spikes: int
    candidate_spikes: int

    @property
    def exact(self) -> bool:
        return self.first_divergent_step is None


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if np.array_equal(a, b):
        return 1.0
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _batched(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Batchless [T, ...] -> [T, 1, ...] when the other side carries a batch axis."""
    return x[:, None] if x.ndim == like.ndim - 1 else x


def compare_layer(name: str, reference, candidate) -> LayerFidelity:
    ref, cand = _np(reference).astype(np.float64), _np(candidate).astype(np.float64)
    ref, cand = _batched(ref, cand), _batched(cand, ref)
    if ref.shape != cand.shape:
        if ref.size == cand.size and ref.shape[:2] == cand.shape[:2]:
            cand = cand.reshape(ref.shape)
        else:
            raise ValueError(f"layer {name!r}: reference spikes {list(ref.shape)} and candidate {list(cand.shape)} differ in shape; align time first")
    differ = (ref != cand).reshape(ref.shape[0], -1).any(axis=1)
    counts_ref = ref.sum(axis=0).reshape(-1)
    counts_cand = cand.sum(axis=0).reshape(-1)
    return LayerFidelity(
        layer=name,
        spike_match_rate=float((ref == cand).mean()),
        spike_count_correlation=_correlation(counts_ref, counts_cand),
        reference_rate=float(ref.mean()),
        candidate_rate=float(cand.mean()),
        first_divergent_step=int(np.argmax(differ)) if differ.any() else None,
        reference_spikes=int(ref.sum()),
        candidate_spikes=int(cand.sum()),
    )


def compare_spikes(reference: Mapping, candidate: Mapping) -> list[LayerFidelity]:
    """Every layer both sides recorded, in the reference's order."""
    common = [n for n in reference if n in candidate]
    if not common:
        raise ValueError(f"no layer in common: reference has {list(reference)[:5]}..., candidate {list(candidate)[:5]}...")
    return [compare_layer(n, reference[n], candidate[n]) for n in common]


@dataclass
class FidelityReport:
    reference: str
    candidate: str
    layers: list[LayerFidelity]
    attribute_agreement: float  # fraction of (image, attribute) decisions that agree
    max_logit_difference: float
    images: int
    extra: dict = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return all(layer.exact for layer in self.layers)

    @property
    def spike_match_rate(self) -> float:
        return float(np.mean([layer.spike_match_rate for layer in self.layers]))

    def to_dict(self) -> dict:
        clean = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "images": self.images,
            "exact": self.exact,
            "spike_match_rate": self.spike_match_rate,
            "attribute_agreement": self.attribute_agreement,
            "max_logit_difference": self.max_logit_difference,
            "extra": self.extra,
            "layers": [{k: clean(v) for k, v in asdict(layer).items()} for layer in self.layers],
        }

    def table(self) -> str:
        head = (f"{self.candidate} vs {self.reference} on {self.images} image(s): attributes agree {self.attribute_agreement:.4f}, "
                f"max |logit diff| {self.max_logit_difference:.3g}, {'EXACT' if self.exact else 'not exact'}")
        rows = [head, f"{'layer':<32} {'match':>8} {'corr':>6} {'rate ref':>9} {'rate cand':>9} {'1st diff':>8}"]
        for f in self.layers:
            first = "-" if f.first_divergent_step is None else str(f.first_divergent_step)
            rows.append(f"{f.layer:<32} {f.spike_match_rate:>8.4f} {f.spike_count_correlation:>6.3f} "
                        f"{f.reference_rate:>9.4f} {f.candidate_rate:>9.4f} {first:>8}")
        return "\n".join(rows)


def compare_runs(reference_name: str, reference_spikes: Mapping, reference_logits, candidate_name: str,
                 candidate_spikes: Mapping, candidate_logits, threshold: float = 0.0, extra: dict | None = None) -> FidelityReport:
    """Layers plus outputs; attributes are predicted where logit > `threshold` (probability 0.5)."""
    ref_logits, cand_logits = _np(reference_logits).astype(np.float64), _np(candidate_logits).astype(np.float64)
    if ref_logits.shape != cand_logits.shape:
        raise ValueError(f"logits differ in shape: {reference_name} {list(ref_logits.shape)}, {candidate_name} {list(cand_logits.shape)}")
    return FidelityReport(
        reference=reference_name,
        candidate=candidate_name,
        layers=compare_spikes(reference_spikes, candidate_spikes),
        attribute_agreement=float(((ref_logits > threshold) == (cand_logits > threshold)).mean()),
        max_logit_difference=float(np.abs(ref_logits - cand_logits).max()),
        images=int(ref_logits.shape[0]),
        extra=dict(extra or {}),
    )


def align_by_depth(spikes: Mapping, depth: Mapping[str, int] | None, time_steps: int) -> dict[str, np.ndarray]:
    """Drop each node's first `depth[node]` steps (its synaptic delay) and keep `time_steps` steps.

    Spikes that already have exactly `time_steps` steps are taken as aligned.
    """
    aligned = {}
    for name, s in spikes.items():
        a = _np(s)
        shift = int((depth or {}).get(name, 0))
        if a.shape[0] == time_steps:
            aligned[name] = a
        elif a.shape[0] >= shift + time_steps:
            aligned[name] = a[shift:shift + time_steps]
        else:
            raise ValueError(f"node {name!r}: {a.shape[0]} recorded steps cannot hold {time_steps} steps after a delay of {shift}")
    return aligned


def run_norse(model, images) -> tuple[dict, np.ndarray]:
    """The Norse reference in float64 (the exported graph is float64): spikes by layer, logits."""
    import torch

    from snnpar.models.recording import record_spikes

    model = model.double().eval()
    with torch.no_grad(), record_spikes(model) as spikes:
        logits = model(torch.as_tensor(images).double())
    return {k: v.numpy() for k, v in spikes.items()}, logits.numpy()


def lava_runner() -> Callable:
    """`hw_sim.simulator.simulation.run`, imported on first use so that Lava loads only when a simulation runs."""
    from hw_sim.simulator.simulation import run

    return run


def integer_reference_run(nir_path: str | Path, images, fixed_result) -> tuple[dict, np.ndarray]:
    """Spikes [T, B, ...] and logits of the integer evaluator (`hw_sim.chip.integer_evaluator`, torch integers,
    no Lava) for the graph, images and fixed-point formats of a fixed-point Lava run: what that run must equal
    bit for bit."""
    from hw_sim.chip.integer_evaluator import evaluate, spikes_numpy
    from hw_sim.simulator.lowering import lower
    from hw_sim.simulator.simulation import load_graph

    net = lower(load_graph(nir_path))
    T = next(iter(fixed_result.spikes.values())).shape[0]
    result = evaluate(net, fixed_result.quantization, _np(images), T)
    return spikes_numpy(result), result.logits.numpy()


def compare_checkpoint(checkpoint: str | Path, nir_path: str | Path, images, modes=("float", "fixed"),
                       run_lava: Callable | None = None) -> list[FidelityReport]:
    """Norse (float64) vs Lava in each mode; Lava fixed point also against the integer evaluator, which it
    must equal bit for bit (a difference there is a simulator or quantiser bug, not quantisation error)."""
    from snnpar.checkpoint import load_model

    run_lava = run_lava or lava_runner()
    model, _card = load_model(checkpoint)
    images = _np(images)
    norse_spikes, norse_logits = run_norse(model, images)
    steps = next(iter(norse_spikes.values())).shape[0]
    reports = []
    for mode in modes:
        result = run_lava(nir_path, images, mode=mode)
        spikes = align_by_depth(result.spikes, result.depth, steps)
        extra = {"timings": result.timings}
        reports.append(compare_runs("norse", norse_spikes, norse_logits, f"lava {mode}", spikes, result.logits, extra=extra))
        if mode == "fixed":
            ref_spikes, ref_logits = integer_reference_run(nir_path, images, result)
            reports.append(compare_runs("integer evaluator", ref_spikes, ref_logits, "lava fixed", spikes, result.logits))
    return reports


def compare_qat(qat_checkpoint: str | Path, images, run_lava: Callable | None = None) -> list[FidelityReport]:
    """A QAT checkpoint's own forward (`snnpar.loihi2.qat`) against Lava fixed point and the integer evaluator
    running its exported graph with the formats it trained with: all three must agree on every spike."""
    import tempfile

    import torch

    from export import export_nir
    from hw_sim.chip.integer_evaluator import evaluate, spikes_numpy
    from hw_sim.chip.quantize import FORMATS_KEY
    from hw_sim.simulator.lowering import lower
    from snnpar.checkpoint import load_model
    from snnpar.loihi2.qat import Loihi2Student

    run_lava = run_lava or lava_runner()
    model, card = load_model(qat_checkpoint)
    formats = card.extra.get(FORMATS_KEY)
    if not formats:
        raise UserError(f"{qat_checkpoint} is not a QAT checkpoint (no {FORMATS_KEY!r} formats in its card); train "
                        "one with `snnpar train --qat loihi2 --init CKPT`")
    qat = Loihi2Student(model, formats)
    qat.record = {}
    images = _np(images)
    with torch.no_grad():
        logits = qat(torch.as_tensor(images)).numpy()
    spikes = {k: v.numpy().astype(np.uint8) for k, v in qat.record.items()}
    with tempfile.TemporaryDirectory(prefix="snnpar-qat-") as tmp:
        path = Path(tmp) / "qat.nir"
        graph = export_nir(model, path, normalization=card.normalization, metadata={FORMATS_KEY: formats})
        lava = run_lava(path, images, mode="fixed")
    steps = next(iter(spikes.values())).shape[0]
    integer = evaluate(lower(graph), lava.quantization, images, steps)
    return [compare_runs("qat forward", spikes, logits, "lava fixed (qat formats)",
                         align_by_depth(lava.spikes, lava.depth, steps), lava.logits),
            compare_runs("qat forward", spikes, logits, "integer evaluator (qat formats)", spikes_numpy(integer),
                         integer.logits.numpy())]


@dataclass
class SplitAccuracy:
    """mA and the other PAR metrics of one form of a student on a whole split."""

    name: str
    checkpoint: str
    backend: str
    images: int
    metrics: dict[str, float]  # the Table 1 row, in percent
    decisions: np.ndarray = field(repr=False, default=None)  # [N, A] predicted attributes


def split_accuracy(checkpoint: str | Path, data: str, root: str | Path, split: str = "test",
                   qat_checkpoint: str | Path | None = None, progress: bool = False) -> list[SplitAccuracy]:
    """On the whole split: the float student, its post-training quantisation on the chip, and (given a QAT
    checkpoint) the QAT student on the chip and its own QAT forward, each through `snnpar.evaluate`."""
    from hw_sim.chip.deployment import chip_model
    from snnpar.evaluate import evaluate_checkpoint, table1_row
    from snnpar.loihi2.formats import FORMATS_KEY
    from snnpar.loihi2.qat import Loihi2Student

    def qat_forward(model, card, device):
        return Loihi2Student(model, card.extra[FORMATS_KEY])

    forms = [("float", checkpoint, "float", None), ("post-training quantised", checkpoint, "loihi2-fixed", chip_model)]
    if qat_checkpoint is not None:
        forms += [("QAT", qat_checkpoint, "loihi2-fixed", chip_model), ("QAT forward", qat_checkpoint, "qat", qat_forward)]
    rows = []
    for name, path, backend, deploy in forms:
        result = evaluate_checkpoint(path, data, root, split, deploy=deploy, progress=progress)
        rows.append(SplitAccuracy(name, str(path), backend, len(result.labels), table1_row(result.metrics),
                                  result.probabilities > result.metrics.threshold))
    return rows


def split_table(rows: list[SplitAccuracy]) -> str:
    """The side-by-side table, with how often each form's decisions agree with the float student's (and the
    QAT student's on the chip with its own QAT forward)."""
    base = rows[0].decisions
    lines = [f"whole split ({rows[0].images} images): float, post-training quantised and QAT students",
             f"{'form':<26} {'backend':<13} {'mA':>6} {'Acc':>6} {'Prec':>6} {'Recall':>6} {'F1':>6} {'agree float':>11}"]
    for r in rows:
        m = r.metrics
        lines.append(f"{r.name:<26} {r.backend:<13} {m['mA']:>6.2f} {m['Acc']:>6.2f} {m['Prec']:>6.2f} "
                     f"{m['Recall']:>6.2f} {m['F1']:>6.2f} {float((r.decisions == base).mean()):>11.4f}")
    chip = {r.name: r for r in rows}
    if "QAT" in chip:
        agree = float((chip["QAT"].decisions == chip["QAT forward"].decisions).mean())
        lines.append(f"QAT on the chip vs its own QAT forward: decisions agree {agree:.4f}")
    return "\n".join(lines)


def write_json(obj, path: str | Path) -> Path:
    """Atomic JSON write (temporary file in the same folder, then os.replace)."""
    return write_text(json.dumps(obj, indent=2, default=float), path)
