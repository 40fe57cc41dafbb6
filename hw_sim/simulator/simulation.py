"""Run a NIR graph in Lava (Loihi2SimCfg, floating_pt or fixed_pt) and read spikes back per node.

`run(graph_or_path, images, mode, T)` builds the processes (`hw_sim.simulator.build`) with all images back to back
in the source, T steps each, pipelined: while a deep layer still works on image b, the first layers already
see image b+1 (each neuron group zeroes its state at its depth in every period, so the host never touches
the network between steps), and B images take B*T + depth steps. A `Recorder` process hands every neuron
group's spikes and the readout's synapse outputs to the host as one vector per step (a pipe, as `Extractor`
does), read after each run of as many steps as the pipe holds; step s of a node d deep belongs to image
(s - d) // T, so `spikes[node][t]` is NIR step t. Chains of layers without branches share one process
(`hw_sim.simulator.fusion`; `fuse=False` gives each layer its own). The Lava runtime is always stopped, also on error
or Ctrl-C. Loihi 2 hardware (`Loihi2HwCfg`) needs Intel's lava-loihi and is refused without it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw_sim.chip.quantize import Quantization, QuantizationConfig, nominal_input_range, quantize, signal_unit
from hw_sim.simulator.build import build, precision_tag, process_models
from hw_sim.simulator.lowering import Network, Neurons, from_lava, lava_shape, lower, signal_shape, to_lava
from hw_sim.simulator.runtime import lava_runtime
from snnpar.errors import UserError


@dataclass
class SimulationResult:
    spikes: dict[str, np.ndarray]  # node -> [T, B, *NIR shape], 0/1, NIR step order (depth removed)
    logits: np.ndarray  # [B, *output shape]: mean over T of the Output node's input
    predictions: np.ndarray  # logits > 0 (probability > 0.5)
    depth: dict[str, int]  # node -> Lava steps behind the graph
    timings: dict[str, float]
    mode: str
    num_processes: int
    peak_memory_mb: float
    steps: int = 0  # Lava steps simulated: B*T + depth
    voltages: dict[str, np.ndarray] = field(default_factory=dict)  # probed nodes, [B, T + depth, *shape]: image b's Lava steps
    quantization: Quantization | None = None


def load_graph(graph_or_path):
    """A graph object as it is; a path read with `export.read_graph` (which knows the SSA extension node and
    reports a damaged file as a UserError naming it)."""
    if not isinstance(graph_or_path, (str, os.PathLike)):
        return graph_or_path
    try:
        from export import read_graph
    except ImportError:  # hw_sim without export: standard NIR only
        import nir

        path = Path(graph_or_path)
        if not path.is_file():
            raise UserError(f"NIR file {path} does not exist") from None
        return nir.read(path)
    return read_graph(graph_or_path)


@contextmanager
def graph_errors(source) -> Iterator[None]:
    """Lowering and building are functions of the graph alone: a ValueError there means the graph cannot be
    run here, and is reported as the user's file (a UserError naming `source`)."""
    try:
        yield
    except ValueError as err:
        message = str(err) if str(source) in str(err) else f"{source}: {err}"
        raise UserError(message) from err


def input_shape(graph, source) -> tuple[int, ...]:
    """The shape of the graph's one Input node."""
    shapes = [tuple(int(s) for s in n.output_type["output"]) for n in graph.nodes.values() if type(n).__name__ == "Input"]
    if len(shapes) != 1:
        raise UserError(f"{source}: the graph has {len(shapes)} Input nodes; a simulation needs exactly one")
    return shapes[0]


def hardware_run_config(select_tag: str):
    """Loihi2HwCfg where lava-loihi is installed; otherwise a clear error."""
    try:
        import lava.lib.loihi  # noqa: F401  (part of Intel's non-public lava-loihi)
        from lava.magma.core.run_configs import Loihi2HwCfg
    except ImportError as err:
        raise RuntimeError("Loihi 2 hardware runs need Intel's lava-loihi (not public, not installed here); "
                           "use mode 'float' or 'fixed' on the CPU simulator (Loihi2SimCfg)") from err
    return Loihi2HwCfg(select_tag=select_tag)


def run_config(mode: str, processes: list, conv_model: str = "vectorised"):
    """Loihi2SimCfg with every process mapped to its ProcessModel by instance.

    Lava's compiler looks a model up by instance in `exception_proc_model_map`; otherwise it re-imports
    every module next to the process's own, once per process, which dominated compile time.
    """
    from lava.magma.core.run_configs import Loihi2SimCfg

    from hw_sim.simulator.processes.delay import DELAY_LINES
    from hw_sim.simulator.processes.recorder import Recorder, recorder_classes

    tag = precision_tag(mode)
    table = process_models(conv_model)
    table.update({proc: models for proc, models in DELAY_LINES.values()})
    exceptions = {}
    for proc in processes:
        if isinstance(proc, Recorder):
            exceptions[proc] = recorder_classes(proc.num_ports)[1][tag]
        elif type(proc) in table:
            exceptions[proc] = table[type(proc)][tag]
    return Loihi2SimCfg(select_tag=tag, exception_proc_model_map=exceptions)


def encode(net: Network, images: np.ndarray, T: int, steps: int, quant: Quantization | None) -> np.ndarray:
    """Images [B, *shape] (direct encoding) or sequences [B, T, *shape] -> RingBuffer data per image."""
    shape = net.input.shape
    images = np.asarray(images, dtype=np.float64)
    if images.shape[1:] == tuple(shape):
        images = np.repeat(images[:, None], T, axis=1)
    if images.shape[2:] != tuple(shape) or images.shape[1] != T:
        raise UserError(f"expected images [B, {', '.join(map(str, shape))}] or sequences [B, {T}, ...], "
                         f"got {list(images.shape)}")
    data = np.zeros((images.shape[0], *lava_shape(shape), steps))
    for b, seq in enumerate(images):
        for t, x in enumerate(seq):
            data[b, ..., t] = to_lava(x, shape)
    if quant is not None:
        data = np.round(data * quant.input_scale).astype(np.int32)
    return data


def stream(data: np.ndarray, tail: int) -> np.ndarray:
    """Per-image RingBuffer data [B, *shape, T] -> one input stream [*shape, B*T + tail]: the images back to
    back, one period each, then `tail` silent steps while the last image passes through the network."""
    frames = np.concatenate(list(data), axis=-1)
    return np.concatenate([frames, np.zeros((*frames.shape[:-1], tail), frames.dtype)], axis=-1)


def _process_tree_rss_mb() -> float:
    """Proportional set size of this process and all its descendants (Lava runs one OS process per Lava process)."""
    me = os.getpid()
    parents = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {me}, [me]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    kb = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:  # PSS: shared (forked) pages counted once
                kb += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return kb / 1024


RECORD_CHUNK_BYTES = 256 * 2**20  # the recorder's pipe: steps run between two reads
# Messages a Lava channel buffers. Lava's default, 64, reserves 64 copies of every signal in shared memory
# (1.6 GB for the 8-768 student's first LIF alone); LoihiProtocol runs in lockstep, one message per step.
CHANNEL_SIZE = 2


def import_lava_runtime() -> None:
    """Import Lava's runtime, which calls multiprocessing.set_start_method('fork') once per process.

    That call fails if this process already fixed its start method (e.g. a torch DataLoader with workers
    ran first), with Lava's bare "context has already been set". Say what happened and what to do instead.
    """
    try:
        import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
    except RuntimeError as err:
        if "context has already been set" not in str(err):
            raise
        raise RuntimeError(
            "Lava 0.10 must set the multiprocessing start method to 'fork' when it is first imported, but this "
            "process had already fixed it (for example a DataLoader with workers ran first). Import hw_sim.simulator.simulation "
            "(or lava) before that, or run the simulation in its own process (`snnpar simulate`).") from err


def run(graph_or_path, images, mode: str = "float", T: int | None = None, dt: float | None = None,
        quantization: QuantizationConfig | Quantization = QuantizationConfig(), record: list[str] | None = None,
        probe_voltage: tuple[str, ...] = (), conv_model: str = "vectorised", progress: bool = True,
        hardware: bool = False, fuse: bool = True, source: str | os.PathLike | None = None,
        reset: str | None = None) -> SimulationResult:
    """Simulate a NIR graph in Lava for each image; see the module docstring. `fuse=False` gives every
    layer its own Lava process (slower, same results). `source` names the graph in messages (default:
    its path, or "the graph"). `reset`: "zero" (NIR's rule, the default) or "subtract" (v <- v - v_threshold),
    as `export.executor.run_graph`; left unset it warns where the graph's writer stores 0 for subtraction."""
    import_lava_runtime()
    from tqdm import tqdm

    from hw_sim.simulator.processes.recorder import make_recorder

    if mode not in ("float", "fixed"):
        raise UserError(f"mode must be 'float' or 'fixed', not {mode!r}")
    t_start = time.perf_counter()
    source = source or (graph_or_path if isinstance(graph_or_path, (str, os.PathLike)) else "the graph")
    graph = load_graph(graph_or_path)
    with graph_errors(source):
        net = graph if isinstance(graph, Network) else lower(graph, dt=dt, reset=reset)
    T = int(T or net.time_steps or 0)
    if T <= 0:
        raise UserError(f"{source}: number of time steps unknown: the graph has no metadata 'time_steps'; pass --T "
                        "(T= in Python)")
    images = np.asarray(images, dtype=np.float64)
    for name in (*(record or ()), *probe_voltage):
        if not isinstance(net.nodes.get(name), Neurons):
            raise UserError(f"cannot record {name!r}: not a neuron node of the graph; neuron nodes: "
                             f"{[n.name for n in net.of_type(Neurons)]}")
    quant = None
    if mode == "fixed":
        if isinstance(quantization, Quantization):
            quant = quantization
        else:
            binary = bool(np.all((images == 0) | (images == 1)))
            nominal = nominal_input_range(net.metadata.get("normalization"))
            quant = quantize(net, quantization, input_range=nominal or float(np.abs(images).max()) or 1.0,
                             binary_input=binary)
    # a non-spiking group (LI, CubaLI) read out by the Output node hands over its voltage, not spikes
    voltage_readout = [e.source for e in net.readout.inputs
                       if isinstance(net.nodes[e.source], Neurons) and not net.nodes[e.source].spiking]
    probe_voltage = tuple(dict.fromkeys([*probe_voltage, *voltage_readout]))
    with graph_errors(source):
        ln = build(net, mode, T, quant, presentations=len(images), fuse=fuse and not hardware,
                   separate=frozenset(probe_voltage), conv_model=conv_model)
    B, steps = len(images), ln.num_steps
    ring = ln.processes[net.input.name]
    ring.data.init = stream(encode(net, images, T, T, quant), net.max_depth)
    neurons = [n.name for n in net.of_type(Neurons) if record is None or n.name in record]
    graded = [e.source for e in net.readout.inputs if e.source not in neurons]
    signals = neurons + graded
    carriers = ln.signal_ports(signals)  # (port, [(signal or None, Lava shape), ...])
    shapes = [tuple(port.shape) for port, _ in carriers]
    step_bytes = 8 * sum(int(np.prod(s)) for s in shapes)
    chunk = max(1, min(steps, RECORD_CHUNK_BYTES // step_bytes))
    recorder = make_recorder(shapes, buffer_size=chunk, name="recorder")
    for i, (port, _) in enumerate(carriers):
        port.connect(getattr(recorder, f"in_{i}"))
    parts = [part for _, carried in carriers for part in carried]
    bounds = np.cumsum([0, *(int(np.prod(shape)) for _, shape in parts)])
    monitors = {name: _voltage_monitor(ln.processes[name], steps) for name in probe_voltage}
    processes = [*ln.all_processes, recorder, *monitors.values()]
    cfg = hardware_run_config(precision_tag(mode)) if hardware else run_config(mode, processes, conv_model)
    rec = {name: np.zeros((B, T, *lava_shape(signal_shape(net.nodes[name]))), np.uint8 if name in neurons
                          else np.float64) for name in signals}
    timings = {"build_s": time.perf_counter() - t_start}
    num_processes = len(processes)
    bar = tqdm(total=steps, desc=f"lava {mode}", unit="step", disable=not progress)
    t0 = time.perf_counter()
    try:
        with lava_runtime(ring, cfg, {"pypy_channel_size": CHANNEL_SIZE}):
            timings["compile_s"] = time.perf_counter() - t0
            volts = _run_steps(ring, recorder, monitors, net, parts, bounds, rec, B, T, steps, chunk, bar)
            peak = _process_tree_rss_mb()  # everything is allocated by now
    finally:
        bar.close()
    timings["total_s"] = time.perf_counter() - t_start
    timings["run_s"] = timings["total_s"] - timings["build_s"] - timings.get("compile_s", 0.0)
    spikes = {name: from_lava(rec[name], net.nodes[name].shape).swapaxes(0, 1) for name in neurons}
    graded_out = {name: from_lava(rec[name], signal_shape(net.nodes[name])) for name in graded}
    voltages = {n: from_lava(v, net.nodes[n].shape) for n, v in volts.items()}
    logits = readout_logits(net, quant, spikes, graded_out, voltages, T)
    return SimulationResult(
        spikes=spikes, logits=logits, predictions=logits > 0, depth={n: node.depth for n, node in net.nodes.items()},
        timings=timings, mode=mode, num_processes=num_processes, peak_memory_mb=peak, steps=steps,
        voltages=voltages, quantization=quant)


def _run_steps(source, recorder, monitors, net, parts, bounds, rec, B, T, steps, chunk, bar) -> dict:
    """Run all steps, `chunk` at a time, filling `rec` from the recorder; returns the probed voltages."""
    from lava.magma.core.run_conditions import RunSteps

    for first in range(0, steps, chunk):
        n = min(chunk, steps - first)
        source.run(condition=RunSteps(num_steps=n))
        for step in range(first, first + n):
            flat = recorder.receive()
            for (name, shape), lo, hi in zip(parts, bounds[:-1], bounds[1:]):
                b, t = divmod(step - net.nodes[name].depth, T) if name else (-1, 0)
                if 0 <= b < B:
                    rec[name][b, t] = flat[lo:hi].reshape(shape)
        bar.update(n)
    window = T + net.max_depth  # image b's steps, from its first input to its last output
    return {name: _per_image(mon.get_data()[name]["v"], B, T, window).reshape(
        B, window, *lava_shape(net.nodes[name].shape)) for name, mon in monitors.items()}


def _per_image(trace: np.ndarray, B: int, T: int, window: int) -> np.ndarray:
    """[steps, ...] of a pipelined run -> [B, window, ...]: image b's steps b*T .. b*T + window - 1."""
    return np.stack([trace[b * T:b * T + window] for b in range(B)])


def _voltage_monitor(proc, num_steps: int):
    """A Lava Monitor of a neuron group's v at every step (read once, after the run: `Var.get` is slow)."""
    from lava.proc.monitor.process import Monitor

    monitor = Monitor()
    monitor.probe(target=proc.v, num_steps=num_steps)
    return monitor


def readout_logits(net: Network, quant, spikes, graded, voltages, T: int) -> np.ndarray:
    """Logits [B, *readout shape]: mean over T of the Output node's inputs, back in real units. `spikes`
    [T, B, ...] by group, `graded` synapse outputs and `voltages` (non-spiking groups) [B, steps, ...]."""
    ro = net.readout
    total = 0.0
    for e in ro.inputs:
        node = net.nodes[e.source]
        unit = signal_unit(net, quant, e.source)
        if isinstance(node, Neurons) and not node.spiking:  # v, in units of S * 64 in fixed point
            v = voltages[e.source][:, node.depth:node.depth + T]
            total = total + v.reshape(-1, T, *ro.shape) / unit
        elif e.source in spikes:
            total = total + spikes[e.source].swapaxes(0, 1).reshape(-1, T, *ro.shape)
        else:
            total = total + graded[e.source].reshape(-1, T, *ro.shape) / unit
    return (np.asarray(total) + ro.offset).mean(axis=1)
