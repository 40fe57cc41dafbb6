"""Run a NIR graph in Lava (Loihi2SimCfg, floating_pt or fixed_pt) and read spikes back per node.

`run(graph_or_path, images, mode, T)` builds the processes (`hw_sim.build`), presents each image for
T + depth steps (one RingBuffer period), switches each neuron group's bias on at its depth, reads every
neuron group's spikes and the readout's synapse outputs with `io.extractor.Extractor` after each step, and
returns them shifted by depth, so `spikes[node][t]` is NIR step t. The Lava runtime is always stopped, also
on error or Ctrl-C. Loihi 2 hardware (`Loihi2HwCfg`) needs Intel's lava-loihi and is refused without it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw_sim.build import LavaNetwork, build
from hw_sim.lowering import Network, Neurons, Synapse, from_lava, lava_shape, lower, to_lava
from hw_sim.quantize import Quantization, QuantizationConfig, quantize


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
    voltages: dict[str, np.ndarray] = field(default_factory=dict)  # probed nodes, [L, B, *shape], Lava steps
    quantization: Quantization | None = None


def load_graph(graph_or_path):
    if not isinstance(graph_or_path, (str, os.PathLike)):
        return graph_or_path
    path = Path(graph_or_path)
    if not path.exists():
        raise FileNotFoundError(f"NIR file {path} does not exist")
    try:
        from export import read_graph
    except ImportError:
        import nir

        return nir.read(path)
    return read_graph(path)


def hardware_run_config(select_tag: str):
    """Loihi2HwCfg where lava-loihi is installed; otherwise a clear error."""
    try:
        from lava.magma.core.run_configs import Loihi2HwCfg
        import lava.lib.loihi  # noqa: F401  (part of Intel's non-public lava-loihi)
    except ImportError as err:
        raise RuntimeError("Loihi 2 hardware runs need Intel's lava-loihi (not public, not installed here); "
                           "use mode 'float' or 'fixed' on the CPU simulator (Loihi2SimCfg)") from err
    return Loihi2HwCfg(select_tag=select_tag)


def run_config(mode: str, conv_model: str = "vectorised"):
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv
    from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel

    from hw_sim.processes import conv as fast_conv
    from hw_sim.processes.delay import delay_line_models

    tag = "floating_pt" if mode == "float" else "fixed_pt"
    exceptions = {Extractor: PyLoihiExtractorModel, **delay_line_models(tag)}
    if conv_model == "vectorised":
        exceptions[Conv] = fast_conv.PyConvModelVectorisedFloat if mode == "float" else \
            fast_conv.PyConvModelVectorisedFixed
    elif conv_model != "lava":
        raise ValueError(f"conv_model must be 'vectorised' or 'lava', not {conv_model!r}")
    return Loihi2SimCfg(select_tag=tag, exception_proc_model_map=exceptions)


def encode(net: Network, images: np.ndarray, T: int, steps: int, quant: Quantization | None) -> np.ndarray:
    """Images [B, *shape] (direct encoding) or sequences [B, T, *shape] -> RingBuffer data per image."""
    shape = net.input.shape
    images = np.asarray(images, dtype=np.float64)
    if images.shape[1:] == tuple(shape):
        images = np.repeat(images[:, None], T, axis=1)
    if images.shape[2:] != tuple(shape) or images.shape[1] != T:
        raise ValueError(f"expected images [B, {', '.join(map(str, shape))}] or sequences [B, {T}, ...], "
                         f"got {list(images.shape)}")
    data = np.zeros((images.shape[0], *lava_shape(shape), steps))
    for b, seq in enumerate(images):
        for t, x in enumerate(seq):
            data[b, ..., t] = to_lava(x, shape)
    if quant is not None:
        data = np.round(data * quant.input_scale).astype(np.int32)
    return data


def _process_tree_rss_mb() -> float:
    """Proportional set size of this process and all its descendants (Lava runs one OS process per Lava process)."""
    me = os.getpid()
    parents, rss = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parents[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/smaps_rollup") as f:  # PSS: shared (forked) pages counted once
                rss[int(pid)] = next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    tree, frontier = {me}, [me]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(rss.get(p, 0) for p in tree) / 1024


def run(graph_or_path, images, mode: str = "float", T: int | None = None, dt: float | None = None,
        quantization: QuantizationConfig | Quantization = QuantizationConfig(), record: list[str] | None = None,
        probe_voltage: tuple[str, ...] = (), conv_model: str = "vectorised", progress: bool = True,
        hardware: bool = False) -> SimulationResult:
    """Simulate a NIR graph in Lava for each image; see the module docstring."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.io.extractor import Extractor
    from tqdm import tqdm

    t_start = time.perf_counter()
    graph = load_graph(graph_or_path)
    net = graph if isinstance(graph, Network) else lower(graph, dt=dt)
    T = int(T or net.time_steps or 0)
    if T <= 0:
        raise ValueError("number of time steps unknown: the graph has no metadata 'time_steps'; pass T=")
    images = np.asarray(images, dtype=np.float64)
    quant = None
    if mode == "fixed":
        if isinstance(quantization, Quantization):
            quant = quantization
        else:
            binary = bool(np.all((images == 0) | (images == 1)))
            quant = quantize(net, quantization, input_range=float(np.abs(images).max()) or 1.0,
                             binary_input=binary)
    ln = build(net, mode, T, quant)
    neurons = [n for n in net.of_type(Neurons) if record is None or n.name in record]
    readout_sources = [e.source for e in net.readout.inputs]
    data = encode(net, images, T, ln.steps_per_image, quant)
    source = ln.processes[net.input.name]
    source.data.init = data[0]
    extractors = {n.name: Extractor(shape=lava_shape(n.shape), buffer_size=4) for n in neurons}
    for name in extractors:
        ln.out_port(name).connect(extractors[name].in_port)
    graded = {}
    for src in readout_sources:
        node = net.nodes[src]
        if src in extractors:
            continue
        graded[src] = Extractor(shape=lava_shape(node.out_shape if isinstance(node, Synapse) else node.shape),
                                buffer_size=4)
        ln.out_port(src).connect(graded[src].in_port)
    cfg = hardware_run_config("fixed_pt") if hardware else run_config(mode, conv_model)
    L = ln.steps_per_image
    rec = {name: np.zeros((len(images), L, *lava_shape(net.nodes[name].shape)), bool) for name in extractors}
    rec_graded = {name: np.zeros((len(images), L, *ex._shape)) for name, ex in graded.items()}
    volts = {name: np.zeros((len(images), L, *lava_shape(net.nodes[name].shape))) for name in probe_voltage}
    timings = {"build_s": time.perf_counter() - t_start}
    num_processes = ln.num_processes + len(extractors) + len(graded)
    peak = 0.0
    started = False
    bias_at = {}
    for name, bias in ln.real_bias.items():
        bias_at.setdefault(net.nodes[name].depth, []).append(name)
    bar = tqdm(total=len(images) * L, desc=f"lava {mode}", unit="step", disable=not progress)
    try:
        for b in range(len(images)):
            if b:
                _reset(ln, data[b])
            for step in range(L):
                for name in bias_at.get(step, []):
                    if started or step:
                        ln.processes[name].bias_mant.set(ln.real_bias[name])
                    else:
                        ln.processes[name].bias_mant.init = ln.real_bias[name]
                t0 = time.perf_counter()
                source.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
                if not started:
                    started = True
                    timings["compile_s"] = time.perf_counter() - t0
                    peak = max(peak, _process_tree_rss_mb())
                for name, ex in extractors.items():
                    rec[name][b, step] = ex.receive()
                for name, ex in graded.items():
                    rec_graded[name][b, step] = ex.receive()
                for name in probe_voltage:
                    volts[name][b, step] = ln.processes[name].v.get()
                bar.update(1)
        peak = max(peak, _process_tree_rss_mb())
    finally:
        bar.close()
        if started:
            source.stop()
    timings["total_s"] = time.perf_counter() - t_start
    timings["run_s"] = timings["total_s"] - timings["build_s"] - timings.get("compile_s", 0.0)
    spikes = {}
    for name, r in rec.items():
        d = net.nodes[name].depth
        spikes[name] = from_lava(r[:, d:d + T], net.nodes[name].shape).swapaxes(0, 1).astype(np.uint8)
    logits = _readout(net, ln, quant, spikes, rec_graded, T)
    return SimulationResult(
        spikes=spikes, logits=logits, predictions=logits > 0, depth={n: node.depth for n, node in net.nodes.items()},
        timings=timings, mode=mode, num_processes=num_processes, peak_memory_mb=peak,
        voltages={n: from_lava(v, net.nodes[n].shape) for n, v in volts.items()}, quantization=quant)


def _readout(net: Network, ln: LavaNetwork, quant, spikes, rec_graded, T: int) -> np.ndarray:
    ro = net.readout
    total = 0.0
    for e in ro.inputs:
        node = net.nodes[e.source]
        if e.source in spikes:
            total = total + spikes[e.source].swapaxes(0, 1).reshape(-1, T, *ro.shape)
            continue
        d = node.depth
        sig = from_lava(rec_graded[e.source][:, d:d + T], node.out_shape)
        unit = node.gain * (quant.synapses[e.source].out_scale if quant else 1.0)
        total = total + sig.reshape(-1, T, *ro.shape) / unit
    return (np.asarray(total) + ro.offset).mean(axis=1)


def _reset(ln: LavaNetwork, data: np.ndarray) -> None:
    """Zero every state between two images, and load the next image into the source."""
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF
    from lava.proc.io.source import RingBuffer

    for proc in list(ln.processes.values()) + list(ln.delay_lines.values()):
        if isinstance(proc, LIF):
            for var in (proc.u, proc.v, proc.bias_mant):
                var.set(np.zeros(var.shape))
        elif isinstance(proc, Dense):
            proc.a_buff.set(np.zeros(proc.a_buff.shape))
        elif isinstance(proc, Conv):
            proc.a_buf.set(np.zeros(proc.a_buf.shape))
        elif isinstance(proc, RingBuffer):
            proc.data.set(data)
        elif hasattr(proc, "history"):
            proc.history.set(np.zeros(proc.history.shape))
