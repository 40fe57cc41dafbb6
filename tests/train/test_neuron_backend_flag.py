"""`snnpar train --neuron-backend norse-compiled` builds the student with the compiled Norse neurons."""

from __future__ import annotations

import argparse

from snnpar.models import create_model, spiking_layers
from snnpar.models.neurons import CompiledMultiStepLIF, MultiStepLIF
from snnpar.train_cli import add_arguments, config_overrides


def parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--out", "run", "--model", "snnpar-tiny", *flags])


def test_the_flag_reaches_the_model_and_defaults_to_eager_norse():
    overrides = config_overrides(parse("--neuron-backend", "norse-compiled", "--time-steps", "2"))
    assert overrides["model_overrides"] == {"time_steps": 2, "neuron_backend": "norse-compiled"}
    layers = spiking_layers(create_model("snnpar-tiny", **overrides["model_overrides"])).values()
    assert layers and all(type(m) is CompiledMultiStepLIF for m in layers)
    default = config_overrides(parse()).get("model_overrides", {})
    assert "neuron_backend" not in default
    assert all(type(m) is MultiStepLIF for m in spiking_layers(create_model("snnpar-tiny", **default)).values())
