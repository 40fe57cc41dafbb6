"""The interop table: NIR graphs written by Norse, snnTorch, Sinabs and Rockpool, and ours, run both ways.

Each case builds its graph with the writing library itself (or reads a public file from the NIR paper,
kept in tests/fixtures/nir_paper with its provenance), runs it in the reference executor and in the other tool, and compares spikes on
every spiking layer: "tool writes" rows compare the writing library's own forward pass with the executor
run on what it wrote; "tool imports" rows compare the tool's importer with the executor on the same graph.
A row records how far it got (loads, runs) and, where the two disagree, the reason, each reason checked
by tests/export/test_interop.py. `interop_table()` builds every row; benchmarks/interop_table.py prints it.
Everything here is small (a few neurons, tens of steps) so the table takes seconds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np
import torch

from export.executor import run_graph
from export.interop import IMPORTERS, _quiet, compare_spikes, random_spikes, spiking_nodes


@dataclass
class Row:
    tool: str
    graph: str
    direction: str  # "writes" (the tool wrote the graph) or "imports" (the tool's importer runs it)
    loads: str = "-"
    runs: str = "-"
    spikes_equal: str = "-"
    note: str = ""


def _agreement(ours: dict, theirs: dict, names: list[str]) -> str:
    agree = compare_spikes(ours, theirs, names)
    if all(v == 1.0 for v in agree.values()):
        return f"yes ({len(names)} layers)"
    worst = min(agree, key=lambda k: -1 if np.isnan(agree[k]) else agree[k])
    first = next(k for k in names if agree[k] != 1.0)
    return f"no: from {first}; worst {worst} {agree[worst]:.1%} of entries"


def _stage(row: Row, field: str, fn: Callable):
    """Run one stage; on failure record the tool's exception in `field` and return None."""
    try:
        with _quiet():
            value = fn()
        setattr(row, field, "yes")
        return value
    except Exception as err:  # another tool's failure is data for the table, not our bug
        setattr(row, field, f"no: {type(err).__name__}: {str(err).splitlines()[0][:90]}")
        return None


# --- graphs written by other tools, compared with their own forward pass ---------------------------------

def _stack_hooks(net: torch.nn.Module, names: dict[str, str]) -> dict[str, list]:
    recorded: dict[str, list] = {}
    for path, module in net.named_modules():
        if path in names:
            module.register_forward_hook(lambda _m, _i, out, n=names[path]: recorded.setdefault(n, []).append(
                (out[0] if isinstance(out, tuple) else out).detach()))
    return recorded


def snntorch_writes(reset_mechanism: str, synaptic: bool) -> Row:
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    kind = "Synaptic" if synaptic else "Leaky"
    row = Row("snntorch", f"Linear-{kind}-Linear-{kind} (reset {reset_mechanism})", "writes")
    torch.manual_seed(0)

    def neuron(n):
        if synaptic:
            return snn.Synaptic(alpha=torch.full((n,), 0.7), beta=torch.full((n,), 0.8), threshold=torch.ones(n),
                                init_hidden=True, reset_mechanism=reset_mechanism)
        return snn.Leaky(beta=torch.full((n,), 0.8), threshold=torch.ones(n), init_hidden=True, reset_mechanism=reset_mechanism)

    net = torch.nn.Sequential(torch.nn.Linear(8, 6), neuron(6), torch.nn.Linear(6, 4), neuron(4))
    with torch.no_grad():
        for i in (0, 2):
            net[i].weight.mul_(3.0)
    x = (torch.rand(40, 3, 8, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    graph = _stage(row, "loads", lambda: export_to_nir(net, x[0, 0]))  # a 1-D sample: snnTorch types the Input by it
    if graph is None:
        return row
    recorded = _stack_hooks(net, {"1": "1", "3": "3"})
    with torch.no_grad():
        for x_t in x:
            net(x_t)
    reset = "subtract" if reset_mechanism == "subtract" else "zero"
    ours = _stage(row, "runs", lambda: run_graph(graph, x.double(), dt=1e-4, reset=reset))
    if ours is not None:
        theirs = {k: torch.stack(v).double() for k, v in recorded.items()}
        row.spikes_equal = _agreement(ours, theirs, ["1", "3"])
        why = ("snnTorch subtracts the threshold one step late and undecayed (v <- beta v + I - theta z[t-1]); NIR's "
               "v_reset and Norse's reset_subtract cannot say that" if reset == "subtract" else
               "snnTorch's Synaptic reset to zero also discards the next step's membrane update (v[t+1] = 0 after a "
               "spike); NIR cannot say that")
        row.note = f"dt = 1e-4 (snnTorch's), reset={reset}" + ("" if row.spikes_equal.startswith("yes") else f". {why}")
    return row


def sinabs_writes(single_spike: bool) -> Row:
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    label = "SingleSpike, MembraneReset" if single_spike else "defaults: MultiSpike, MembraneSubtract"
    row = Row("sinabs", f"Conv2d-IAF-SumPool2d-Flatten-Linear-IAF ({label})", "writes")
    steps, batch = 12, 2
    kw = {"spike_fn": SingleSpike, "reset_fn": MembraneReset()} if single_spike else {}
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), sl.IAFSqueeze(batch_size=batch, **kw), sl.SumPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(100, 5), sl.IAFSqueeze(batch_size=batch, **kw))
    with torch.no_grad():
        net[0].weight.mul_(2.0)
    x = (torch.rand(steps, batch, 2, 10, 10, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    folded = x.transpose(0, 1).reshape(batch * steps, 2, 10, 10)  # Sinabs folds time into the batch
    graph = _stage(row, "loads", lambda: sinabs.to_nir(net, folded[:batch]))
    if graph is None:
        return row
    for module in net:
        if hasattr(module, "reset_states"):
            module.reset_states()
    recorded = _stack_hooks(net, {"1": "1", "5": "5"})
    with torch.no_grad():
        net(folded)
    theirs = {k: v[0].reshape(batch, steps, *v[0].shape[1:]).transpose(0, 1).double() for k, v in recorded.items()}
    reset = "zero" if single_spike else "subtract"
    ours = _stage(row, "runs", lambda: run_graph(graph, x.double(), dt=1.0, reset=reset))
    if ours is not None:
        row.spikes_equal = _agreement(ours, theirs, ["1", "5"])
        most = int(max(float(v.max()) for v in theirs.values()))
        row.note = f"dt = 1 (discrete time), reset={reset}" + (
            "" if row.spikes_equal.startswith("yes") else
            f". Sinabs' MultiSpike emits up to {most} spikes in one step where v >= 2 theta; NIR's IF emits one")
    return row


def rockpool_writes() -> Row:
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    row = Row("rockpool", "LinearTorch-LIFTorch (dt 1 ms)", "writes")
    torch.manual_seed(0)
    net = Sequential(LinearTorch((8, 5), has_bias=False), LIFTorch(5, tau_mem=0.02, tau_syn=0.01, dt=1e-3))
    with torch.no_grad():
        net[0].weight.mul_(8.0)
    x = (torch.rand(2, 40, 8, generator=torch.Generator().manual_seed(0)) < 0.4).float()  # Rockpool: [B, T, n]
    graph = _stage(row, "loads", lambda: to_nir(net))
    if graph is None:
        return row
    with torch.no_grad():
        out, _, _ = net(x, record=True)
    lif = next(k for k, n in graph.nodes.items() if isinstance(n, nir.CubaLIF))
    # Rockpool types its Input (1, 8): the sample's batch; feed [T, B, 1, 8]
    ours = _stage(row, "runs", lambda: run_graph(graph, x.transpose(0, 1)[:, :, None].double(), dt=1e-3, reset="subtract"))
    if ours is not None:
        row.spikes_equal = _agreement({lif: ours[lif][:, :, 0]}, {lif: out.transpose(0, 1).double()}, [lif])
        row.note = ("dt = 1e-3 (Rockpool's), reset=subtract; the Input is typed (1, n) (the writer's sample batch). "
                    "Rockpool writes r = tau e^(-dt/tau) / dt for its exact exponential decay, which NIR's forward "
                    "Euler reads differently")
    return row


def norse_writes() -> Row:
    import norse.torch as norse

    row = Row("norse", "Linear-LIFBoxCell (tau 5 ms)", "writes")
    torch.manual_seed(0)
    params = norse.LIFBoxParameters(tau_mem_inv=torch.full((5,), 200.0), v_leak=torch.zeros(5), v_th=torch.ones(5),
                                    v_reset=torch.zeros(5))
    model = norse.SequentialState(torch.nn.Linear(8, 5), norse.LIFBoxCell(params))
    with torch.no_grad():
        model[0].weight.mul_(8.0)
    x = (torch.rand(40, 2, 8, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    graph = _stage(row, "loads", lambda: norse.to_nir(model, x[0]))
    if graph is None:
        return row
    state, spikes = None, []
    with torch.no_grad():
        for x_t in x:
            z, state = model(x_t, state)
            spikes.append(z)
    lif = next(k for k, n in graph.nodes.items() if isinstance(n, nir.LIF))
    # Norse types its Input (B, 8) by the sample batch; feed it as one sample of that shape
    ours = _stage(row, "runs", lambda: run_graph(graph, x[:, None].double(), dt=1e-3))
    if ours is not None:
        row.spikes_equal = _agreement({lif: ours[lif][:, 0]}, {lif: torch.stack(spikes).double()}, [lif])
        tau = float(np.asarray(graph.nodes[lif].tau).reshape(-1)[0])
        row.note = (f"dt = 1e-3; the Input is typed with the sample's batch. Norse 1.1's to_nir writes tau = {tau:g} s "
                    "for tau_mem = 5 ms (dt / tau_mem_inv instead of 1 / tau_mem_inv)")
    return row


def public_lif_rockpool(paper: Path) -> Row:
    from export import read_graph

    row = Row("rockpool", "NIR paper lif_rockpool.nir", "writes")
    try:
        nir.read(paper / "lif_rockpool.nir")
        row.loads = "yes"
    except ValueError as err:
        graph = read_graph(paper / "lif_rockpool.nir", type_check=False)
        row.loads = f"nir.read no ({str(err)[:60]}...); read_graph(type_check=False) yes"
    trace = np.loadtxt(paper / "lif_rockpool.csv", delimiter=",")  # input, voltage, output spike (Rockpool's run)
    out = _stage(row, "runs", lambda: run_graph(graph, torch.tensor(trace[:, 0]).reshape(-1, 1, 1), dt=1e-4))
    if out is not None:
        ours = out["1_LIFNeuronTorch"][:, 0, 0].numpy()
        differ = int((ours != trace[:, 2]).sum())
        row.spikes_equal = "yes" if differ == 0 else f"no: {int(ours.sum())} spikes vs {int(trace[:, 2].sum())}, {differ} of {len(ours)} steps differ"
        row.note = "against the paper's Rockpool trace; Rockpool's exponential decay vs NIR's forward Euler at dt = 1e-4"
    return row


# --- graphs run by other tools' importers, compared with the executor ---------------------------------

def imports(tool: str, label: str, graph: nir.NIRGraph, x: torch.Tensor, dt: float, reset: str, note: str = "") -> Row:
    row = Row(tool, label, "imports", note=note)
    with _quiet():
        ours = run_graph(graph, x, dt=dt, reset=reset)
    load, run = IMPORTERS[tool]
    net = _stage(row, "loads", lambda: load(copy.deepcopy(graph), dt, reset, int(x.shape[1])))
    theirs = None if net is None else _stage(row, "runs", lambda: run(net, graph, x))
    if theirs is not None:
        row.spikes_equal = _agreement(ours, theirs, spiking_nodes(graph))
    return row


IMPORT_NOTES = {
    ("norse", "sdsa-portable"): "Norse's from_nir (nirtorch.load's executor) runs a fan-in node before some of its "
                                "sources and feeds it their previous step's output",
    ("norse", "cnn_sinabs"): "Norse maps Flatten(start_dim=0) to torch.nn.Flatten(0): it flattens the batch",
    ("sinabs", "cnn_sinabs"): "Sinabs imports IF as IAFSqueeze: MultiSpike, MembraneSubtract, v >= -theta, not NIR's reset to v_reset",
    ("snntorch", "braille"): "snnTorch 1.0 wraps the recurrent layer into a subgraph that nirtorch 2.6's nir_to_torch cannot map",
    ("sinabs", "braille"): "Sinabs has no CubaLIF mapping",
    ("norse", "sdsa"): "Threshold and Conv1d are unmapped in Norse",
    ("snntorch", "sdsa"): "Threshold, Conv1d and SumPool2d are unmapped in snnTorch",
    ("sinabs", "sdsa"): "Sinabs' LIF importer takes 1-D parameters only",
    ("sinabs", "sdsa-portable"): "Sinabs' LIF importer takes 1-D parameters only (and reads LIF with exp(-1/tau) decay)",
    ("snntorch", "cnn_sinabs"): "snnTorch imports IF as a Leaky (beta 0.9, a leak NIR's IF has not) without "
                                "init_hidden, whose (spike, membrane) tuple reaches the next conv; no SumPool2d mapping",
}


def student_graphs() -> dict[str, tuple[nir.NIRGraph, torch.Tensor]]:
    """The tiny SDSA student (random weights, BN set so that every layer fires at 6-70 %) in standard and
    portable form, with its input (direct encoding, T = 4). Its neurons are Norse's (v > v_threshold), the rule
    every importer implements; the reference neurons' v >= v_threshold travels only as node metadata."""
    from export.lowering import lower_spikingformer, token_grid
    from export.portable import make_portable
    from snnpar.models.registry import create_model

    torch.manual_seed(0)
    model = create_model("snnpar-tiny", image_size=(64, 32), time_steps=4, attention="sdsa",
                         neurons="norse").double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.fill_(2.0)
                m.bias.fill_(1.0)
    graph = lower_spikingformer(model)
    images = torch.randn(2, 3, 64, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = images.unsqueeze(0).expand(4, *images.shape)
    return {"sdsa": (graph, x), "sdsa-portable": (make_portable(graph, token_grid(model.config)), x)}


def interop_table(paper: Path, tools: tuple[str, ...] = ("norse", "snntorch", "sinabs", "rockpool")) -> list[Row]:
    """Every row; `paper` is the folder with the NIR paper's public files (tests/fixtures/nir_paper)."""
    from export import read_graph

    rows: list[Row] = []
    writers = {"norse": [norse_writes], "snntorch": [lambda: snntorch_writes("zero", False), lambda: snntorch_writes("zero", True),
                                                     lambda: snntorch_writes("subtract", False)],
               "sinabs": [lambda: sinabs_writes(True), lambda: sinabs_writes(False)], "rockpool": [rockpool_writes, lambda: public_lif_rockpool(paper)]}
    for tool in tools:
        for case in writers.get(tool, []):
            rows.append(case())
    graphs: dict[str, tuple[nir.NIRGraph, torch.Tensor, float, str]] = {}
    for name, reset in (("braille_noDelay_bias_zero", "zero"), ("braille_noDelay_noBias_subtract", "subtract")):
        g = read_graph(paper / f"{name}.nir")
        graphs[name] = (g, random_spikes(g, 60, 2, 0.3, 0), 1e-4, reset)
    cnn = read_graph(paper / "cnn_sinabs.nir")
    graphs["cnn_sinabs"] = (cnn, random_spikes(cnn, 8, 2, 0.3, 0), 1.0, "zero")
    for name, (g, x) in student_graphs().items():
        graphs[name] = (g, x, float(g.metadata["dt"]), "zero")
    for tool in (t for t in tools if t in IMPORTERS):
        for name, (g, x, dt, reset) in graphs.items():
            key = "braille" if name.startswith("braille") else name
            rows.append(imports(tool, name, g, x, dt, reset, IMPORT_NOTES.get((tool, key), "")))
    for row in rows:  # a note explains a failure or a difference; a clean row needs none
        if row.direction == "imports" and row.spikes_equal.startswith("yes") and row.runs == "yes":
            row.note = ""
    return rows


def markdown(rows: list[Row]) -> str:
    lines = ["| tool | graph | direction | loads | runs | spikes equal to the executor | why not |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.tool} | {r.graph} | {r.direction} | {r.loads} | {r.runs} | {r.spikes_equal} | {r.note} |")
    return "\n".join(lines)
