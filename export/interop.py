"""Run a NIR graph in another tool's importer, step by step, and read every node's output per step.

One load and one run function per tool (`IMPORTERS`), each calling the tool's own public importer and
nothing of ours: Norse `from_nir` (nirtorch's graph executor; outputs from its state cache), snnTorch
`import_from_nir` (a torch.fx module; outputs from forward hooks) and Sinabs `from_nir` (time folded into
the batch, as its Squeeze layers expect). Runs return {node name: [T, B, ...] float64} for the nodes the
tool exposes, or raise the tool's own exception; `compare_spikes` sets them beside the executor's.
The tools are optional: each is imported only when its adapter runs. Used by tests/export/interop and
benchmarks/interop_table.py; nothing here decides semantics (that is export.executor).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings

import nir
import numpy as np
import torch

SPIKING = (nir.LIF, nir.IF, nir.CubaLIF)


def _sanitized(name: str) -> str:
    return name.replace(".", "_")  # nirtorch's module names


@contextlib.contextmanager
def _quiet():
    """Importers print and log warnings on every call (snnTorch prints, Norse logs, nirtorch deprecates)."""
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.getLogger().setLevel(level)


def _hook_outputs(module: torch.nn.Module, names: list[str]) -> dict[str, list[torch.Tensor]]:
    recorded: dict[str, list[torch.Tensor]] = {}
    wanted = {_sanitized(n): n for n in names}
    for path, sub in module.named_modules():
        if path in wanted:
            def hook(_m, _i, out, name=wanted[path]):
                recorded.setdefault(name, []).append((out[0] if isinstance(out, tuple) else out).detach())
            sub.register_forward_hook(hook)
    return recorded


def norse_load(graph: nir.NIRGraph, dt: float, reset: str = "zero", batch: int = 1):
    import norse.torch as norse
    from norse.torch.functional import reset as norse_reset

    method = norse_reset.reset_subtract if reset == "subtract" else norse_reset.reset_value
    return norse.from_nir(copy.deepcopy(graph), dt=dt, reset_method=method)


def norse_run(net, graph: nir.NIRGraph, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Norse's graph executor over x [T, B, ...]; outputs from its state cache."""
    state, steps = None, []
    for x_t in x.float():
        _, state = net(x_t, state)
        steps.append({k: v.detach() for k, v in state.cache.items() if isinstance(v, torch.Tensor)})
    return {name: torch.stack([s[_sanitized(name)] for s in steps]).double()
            for name in graph.nodes if all(_sanitized(name) in s for s in steps)}


def snntorch_load(graph: nir.NIRGraph, dt: float | None = None, reset: str = "zero", batch: int = 1):
    """snnTorch's importer: its own dt (1e-4) and reset rules whatever the caller's."""
    from snntorch.import_nir import import_from_nir

    return import_from_nir(copy.deepcopy(graph))


def snntorch_run(net, graph: nir.NIRGraph, x: torch.Tensor) -> dict[str, torch.Tensor]:
    recorded = _hook_outputs(net, list(graph.nodes))
    for x_t in x.float():
        net(x_t)
    return {name: torch.stack(v).double() for name, v in recorded.items()}


def sinabs_load(graph: nir.NIRGraph, dt: float | None = None, reset: str = "zero", batch: int = 1):
    import sinabs

    return sinabs.from_nir(copy.deepcopy(graph), batch_size=batch)


def sinabs_run(net, graph: nir.NIRGraph, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """x [T, B, ...] folded to (B*T, ...), as Sinabs' Squeeze layers expect."""
    steps, batch = x.shape[:2]
    recorded = _hook_outputs(net, list(graph.nodes))
    net(x.float().transpose(0, 1).reshape(batch * steps, *x.shape[2:]))
    return {name: v[0].reshape(batch, steps, *v[0].shape[1:]).transpose(0, 1).double() for name, v in recorded.items()}


IMPORTERS = {"norse": (norse_load, norse_run), "snntorch": (snntorch_load, snntorch_run), "sinabs": (sinabs_load, sinabs_run)}


def tool_outputs(tool: str, graph: nir.NIRGraph, x: torch.Tensor, dt: float | None, reset: str = "zero") -> dict[str, torch.Tensor]:
    """Load `graph` with `tool`'s importer and run it over x [T, B, ...]: {node: [T, B, ...] float64}."""
    load, run = IMPORTERS[tool]
    with _quiet():
        return run(load(graph, dt, reset, int(x.shape[1])), graph, x)


def norse_outputs(graph: nir.NIRGraph, x: torch.Tensor, dt: float, reset: str = "zero") -> dict[str, torch.Tensor]:
    """Norse 1.1 `from_nir(graph, dt, reset_method)` run over x [T, B, ...]."""
    return tool_outputs("norse", graph, x, dt, reset)


def spiking_nodes(graph: nir.NIRGraph) -> list[str]:
    return [name for name, node in graph.nodes.items() if isinstance(node, SPIKING)]


def compare_spikes(reference: dict[str, torch.Tensor], other: dict[str, torch.Tensor], names: list[str]) -> dict[str, float]:
    """Per spiking node: the fraction of (step, sample, neuron) entries where the two runs agree (NaN: not seen)."""
    result = {}
    for name in names:
        if name not in other or tuple(other[name].shape) != tuple(reference[name].shape):
            result[name] = float("nan")
        else:
            result[name] = float((other[name] == reference[name]).double().mean())
    return result


def random_spikes(graph: nir.NIRGraph, steps: int, batch: int, rate: float, seed: int) -> torch.Tensor:
    """Bernoulli input spike trains [T, B, *input shape] for the graph's Input node."""
    shape = next(tuple(int(s) for s in np.asarray(n.input_type["input"]).reshape(-1))
                 for n in graph.nodes.values() if isinstance(n, nir.Input))
    return (torch.rand(steps, batch, *shape, generator=torch.Generator().manual_seed(seed)) < rate).double()
