"""Record the spikes of every neuron layer of one forward pass, by module path.

The names (``tokenizer.proj1_lif``, ``blocks.0.attn.q_lif``, ...) are the module paths of
`model.named_modules()`. The exporter names NIR nodes after them and the comparison layer and the
energy counter key on them, so they are the one vocabulary shared by every stage.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from snnpar.models.neurons import NEURON_BACKENDS


def spiking_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every neuron layer of `model` by module path, in forward order."""
    neuron_types = tuple(NEURON_BACKENDS.values())
    return {name: m for name, m in model.named_modules() if isinstance(m, neuron_types)}


@contextmanager
def record_spikes(model: nn.Module, layers: list[str] | None = None) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, each forward fills the yielded dict with name -> spikes [T, B, ...] (detached).

    >>> with record_spikes(model) as spikes:
    ...     model(images)
    >>> spikes["blocks.0.attn.q_lif"].shape
    """
    recorded: dict[str, torch.Tensor] = {}
    targets = spiking_layers(model)
    if layers is not None:
        unknown = sorted(set(layers) - set(targets))
        if unknown:
            raise KeyError(f"not spiking layers of this model: {unknown}; known: {list(targets)}")
        targets = {n: targets[n] for n in layers}

    def hook_for(name: str):
        def hook(_module, _inputs, output):
            recorded[name] = output.detach()

        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in targets.items()]
    try:
        yield recorded
    finally:
        for h in handles:
            h.remove()
