"""A student checkpoint as the chip runs it: exported in memory, lowered, and given its Loihi 2 formats.

The formats are the ones a QAT checkpoint trained with (its card's `loihi2` entry, carried into the graph's
metadata as the exporter writes it), or else the post-training quantisation of `hw_sim.chip.quantize`
with the input scale of the checkpoint's normalisation. `snnpar eval --backend loihi2-fixed` and the QAT
trainer's start (`student_formats`) go through here, so both see the network `snnpar export-nir` writes
and `snnpar simulate --mode fixed` runs.
"""

from __future__ import annotations

import torch
from torch import nn

from hw_sim.chip.integer_evaluator import IntegerEvaluator
from hw_sim.chip.quantize import (
    FORMATS_KEY,
    Quantization,
    calibrate,
    formats_metadata,
    nominal_input_range,
    quantize,
)
from hw_sim.simulator.lowering import Network, lower
from snnpar.errors import UserError


def deployed_network(model, normalization: dict | None, formats: dict | None = None,
                     calibration_images: torch.Tensor | None = None) -> tuple[Network, Quantization]:
    """The lowered graph of a Spikingformer student and its fixed-point formats (`formats`: trained ones;
    `calibration_images`, normalised as the model takes them: the data-calibrated scale rule instead of the
    worst case)."""
    from export import UnsupportedModuleError, lower_spikingformer

    metadata = {FORMATS_KEY: formats} if formats else None
    try:
        graph = lower_spikingformer(model, metadata=metadata)
    except UnsupportedModuleError as err:
        raise UserError(f"this model has no Loihi 2 fixed-point mapping: {err}") from None
    net = lower(graph)
    calibration = None if calibration_images is None or formats else calibrate(graph, net, calibration_images)
    return net, quantize(net, input_range=nominal_input_range(normalization) or 1.0, calibration=calibration)


def student_formats(model, normalization: dict | None, calibration_images: torch.Tensor | None = None) -> dict:
    """The post-training formats of a float student, as the `loihi2` entry QAT starts from."""
    _, quant = deployed_network(model, normalization, calibration_images=calibration_images)
    return formats_metadata(quant.input_scale, quant.scales())


class ChipModel(nn.Module):
    """The integer network as a module: forward(images) -> logits, as `snnpar.evaluate` scores models."""

    def __init__(self, evaluator: IntegerEvaluator):
        super().__init__()
        self.evaluator = evaluator

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.evaluator.run(images).logits


def chip_model(model, card, device: torch.device) -> ChipModel:
    """`snnpar eval --backend loihi2-fixed`: a checkpoint's student as Loihi 2 runs it."""
    from snnpar.models.spikingformer import Spikingformer

    if not isinstance(model, Spikingformer):
        raise UserError(f"--backend loihi2-fixed runs Spikingformer students (snnpar-*) on the chip; {card.preset!r} "
                        "is not one: evaluate it with --backend float")
    net, quant = deployed_network(model.cpu(), card.normalization, card.extra.get(FORMATS_KEY))
    return ChipModel(IntegerEvaluator(net, quant, device))
