"""Energy by the Spikformer family's convention, counted on the torch model; ANN energy; NeuroBench names.

The convention (Spikingformer's energy scripts, built on syops-counter): a conv or linear layer whose
input is binary counts its MACs x the input's firing rate as accumulates (ACs); any other conv or
linear (the real-valued encoder conv, the head) counts its full MACs; BN, pooling and neurons are
free; spiking self-attention adds T*H*N*dh^2*(min(fr_k, fr_v) + fr_q) ACs. Published figures differ by
1.5-4x with the accounting rules, so each rule is an explicit field of `SpikformerAccounting` and is
written beside every figure (`describe()`). Spikingformer's own energy logs count bias adds (one per output)
inside each layer's operations; `count_bias=True` does the same.

The NeuroBench-named metrics (`SpikformerCount.neurobench()`) follow NeuroBench 2.3's definitions on the
same torch layers NeuroBench hooks (Linear and Conv modules; a layer whose input is all 0/+-1 is spiking):
effective operations = the layer with its nonzero weights set to 1 applied to its nonzero inputs set to 1
(bias left out), Dense = the same with every weight and input set to 1, both summed per call and divided by
the batch; ActivationSparsity over the neuron modules' outputs. They are checked against NeuroBench itself
(tests/hw_sim/analysis/test_neurobench_oracle.py).

This module counts by firing *rates* on the torch model, as the papers do. The exact event count from
recorded spikes and the NIR graph (Norse or Lava alike) is `hw_sim.analysis.energy`; it does not live here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hw_sim.analysis.energy_profiles import EnergyProfile

ATTENTION_RULES = ("ssa", "sdsa", "dense")


@dataclass(frozen=True)
class SpikformerAccounting:
    """The accounting rules; the defaults reproduce Spikingformer's published method."""

    strict_binary: bool = True  # AC only where a layer's input is exactly {0, 1}; False: AC x nonzero rate after the encoder
    encoder_per_step: bool = True  # the encoder conv counted T times (papers) or once (a static image, as hardware can)
    count_batchnorm: bool = False  # BN as one MAC per element (it folds into the conv at export: free there)
    count_neuron_updates: bool = False  # one update per neuron per step, charged at the profile's update price
    attention: str | None = None  # "ssa" | "sdsa" | "dense"; None: the model's own attention mode
    count_bias: bool = False  # one add per output of a layer with a bias, inside its MACs/ACs (Spikingformer's logs)

    def __post_init__(self):
        if self.attention is not None and self.attention not in ATTENTION_RULES:
            raise ValueError(f"attention rule must be one of {ATTENTION_RULES} or None, not {self.attention!r}")

    def describe(self) -> str:
        return ", ".join([
            "strict binary-only ACs" if self.strict_binary else "ACs x nonzero rate after the encoder (lax)",
            "encoder x T" if self.encoder_per_step else "encoder once",
            "BN counted" if self.count_batchnorm else "BN not counted",
            "neuron updates counted" if self.count_neuron_updates else "neuron updates not counted",
            f"attention as {self.attention or 'the model runs it'}",
            "bias adds counted" if self.count_bias else "bias adds not counted",
        ])


@dataclass
class LayerCount:
    """Operations of one layer for one image."""

    name: str
    kind: str  # conv | linear | batchnorm | attention | neuron
    macs: float = 0.0
    acs: float = 0.0
    dense_ops: float = 0.0  # every input active (output elements x inputs each sums, bias adds if counted)
    input_rate: float | None = None  # firing rate of a binary input; None for real-valued input
    encoder: bool = False
    bias_adds: float = 0.0  # one per output element of a layer with a bias (inside macs/acs if counted)
    inputs: float = 0.0  # input elements (all steps), for memory traffic
    outputs: float = 0.0  # output elements (all steps)
    weights: int = 0  # weight elements of the layer
    neurobench_ops: float = 0.0  # NeuroBench's effective operations (nonzero input x nonzero weight)
    neurobench_dense: float = 0.0  # NeuroBench's Dense (every input and weight set to 1)
    neurobench_spiking: bool = False  # NeuroBench's test: the input is all 0 / +-1


@dataclass
class SpikformerCount:
    """Per-image operation counts of one model under one accounting."""

    layers: list[LayerCount]
    accounting: SpikformerAccounting
    images: int
    time_steps: int
    neuron_updates: float  # per image
    spikes: float  # per image, over all neuron layers
    neuron_steps: float  # per image: neurons x T (the denominator of the activation sparsity)
    parameters: int
    footprint_bytes: int
    connection_sparsity: float
    neurobench_counted: bool = False  # NeuroBench's own operation counts were taken (`neurobench=True`)

    @property
    def macs(self) -> float:
        return sum(layer.macs for layer in self.layers)

    @property
    def acs(self) -> float:
        return sum(layer.acs for layer in self.layers)

    @property
    def encoder_macs(self) -> float:
        return sum(layer.macs for layer in self.layers if layer.encoder)

    def energy_joules(self, profile: EnergyProfile) -> float:
        return profile.energy_joules(self.acs, self.macs, self.neuron_updates, self.accounting.count_neuron_updates)

    def neurobench(self) -> dict:
        """NeuroBench 2.3's metrics by its own definitions, per image (Footprint in bytes; see the module doc).

        MembraneUpdates is left out: NeuroBench counts it for snnTorch neurons only (0 for Norse's), and
        the neuron updates a chip pays for (every neuron, every step) are `neuron_updates`.
        """
        if not self.neurobench_counted:
            raise ValueError("NeuroBench's operation counts were not taken: count with neurobench=True")
        synapses = [layer for layer in self.layers if layer.kind in ("conv", "linear")]
        return {
            "Footprint": self.footprint_bytes,
            "ConnectionSparsity": self.connection_sparsity,
            "ActivationSparsity": 1.0 - self.spikes / max(self.neuron_steps, 1.0),
            "SynapticOperations": {
                "Effective_MACs": sum(x.neurobench_ops for x in synapses if not x.neurobench_spiking),
                "Effective_ACs": sum(x.neurobench_ops for x in synapses if x.neurobench_spiking),
                "Dense": sum(x.neurobench_dense for x in synapses),
            },
        }

    def to_dict(self) -> dict:
        return {
            "accounting": asdict(self.accounting),
            "accounting_text": self.accounting.describe(),
            "images": self.images,
            "time_steps": self.time_steps,
            "macs": self.macs,
            "acs": self.acs,
            "encoder_macs": self.encoder_macs,
            "parameters": self.parameters,
            "neurobench": self.neurobench() if self.neurobench_counted else None,
            "layers": [asdict(layer) for layer in self.layers],
        }


def _is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def _layer_macs(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> float:
    """Dense MACs of one call: every output element x the inputs it sums (per group)."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        per_output = module.in_channels // module.groups * int(torch.tensor(module.kernel_size).prod())
        return float(output.numel() * per_output)
    if isinstance(module, nn.Linear):
        return float(output.numel() * module.in_features)
    raise TypeError(f"no MAC count for {type(module).__name__}")


def _neurobench_ops(module: nn.Module, x: torch.Tensor) -> tuple[float, float, bool]:
    """NeuroBench 2.3's effective and dense operations of one call, and whether it calls the input spiking."""
    spiking = bool(((x == 0) | (x == 1) | (x == -1)).all())
    weight = (module.weight != 0).to(x.dtype)
    if isinstance(module, nn.Linear):
        apply = lambda inp, w: F.linear(inp, w)  # noqa: E731
    else:
        conv = F.conv1d if isinstance(module, nn.Conv1d) else F.conv2d
        apply = lambda inp, w: conv(inp, w, None, module.stride, module.padding, module.dilation, module.groups)  # noqa: E731
    ops = float(apply((x != 0).to(x.dtype), weight).sum())
    one = torch.ones_like(x[:1])  # dense: every input and weight 1; per item, times the batch
    total = float(apply(one, torch.ones_like(weight)).sum()) * x.shape[0]
    return ops, total, spiking


@dataclass
class _Recorder:
    accounting: SpikformerAccounting
    neurobench: bool = False
    layers: dict[str, LayerCount] = field(default_factory=dict)
    neuron_names: set[str] = field(default_factory=set)
    seen_neuron: bool = False
    neuron_updates: float = 0.0
    spikes: float = 0.0
    attention_spikes: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    def layer(self, name: str, kind: str, encoder: bool) -> LayerCount:
        return self.layers.setdefault(name, LayerCount(name, kind, encoder=encoder))

    def synapse_hook(self, name: str):
        def hook(module, inputs, output):
            x = inputs[0]
            dense = _layer_macs(module, x, output)
            layer = self.layer(name, "linear" if isinstance(module, nn.Linear) else "conv", encoder=not self.seen_neuron)
            bias = float(output.numel()) if module.bias is not None else 0.0
            layer.bias_adds += bias
            if self.accounting.count_bias:
                dense += bias
            layer.dense_ops += dense
            layer.inputs += float(x.numel())
            layer.outputs += float(output.numel())
            layer.weights = int(module.weight.numel())
            if self.neurobench:
                ops, total, spiking = _neurobench_ops(module, x)
                layer.neurobench_ops += ops
                layer.neurobench_dense += total
                layer.neurobench_spiking = spiking
            binary = _is_binary(x)
            if binary or (not self.accounting.strict_binary and self.seen_neuron):
                rate = float((x != 0).float().mean())
                layer.input_rate = rate
                layer.acs += dense * rate
            else:
                layer.macs += dense
        return hook

    def batchnorm_hook(self, name: str):
        def hook(module, inputs, output):
            layer = self.layer(name, "batchnorm", encoder=not self.seen_neuron)
            if self.accounting.count_batchnorm:
                layer.macs += float(output.numel())
        return hook

    def neuron_hook(self, name: str):
        def hook(module, inputs, output):
            self.seen_neuron = True
            self.neuron_updates += float(output.numel())
            self.spikes += float(output.sum())
        return hook

    def attention_hook(self, attn_name: str, role: str):
        def hook(module, inputs, output):
            self.attention_spikes.setdefault(attn_name, {})[role] = output.detach()
        return hook


def _attention_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Modules that compute spiking attention from q_lif, k_lif, v_lif (SSA or SDSA)."""
    return {
        name: m for name, m in model.named_modules()
        if all(hasattr(m, a) for a in ("q_lif", "k_lif", "v_lif", "num_heads", "mode"))
    }


def attention_operations(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int, rule: str) -> tuple[float, float, float]:
    """(MACs, ACs, dense ops) of the attention product for spikes [T, B, C, N], summed over the batch.

    ssa:   T*H*N*dh^2*(min(fr_k, fr_v) + fr_q) ACs (k^T v first, Spikformer's formula);
    sdsa:  one AC per active (q AND k) pair summed over tokens; the v mask is a gate, not counted;
    dense: 2*T*H*N^2*dh MACs, as an ANN's softmax-free attention (q k^T first) would cost.
    """
    t, b, c, n = q.shape
    dh = c // num_heads
    if rule == "ssa":
        fr = lambda z: float(z.float().mean())  # noqa: E731
        dense = 2.0 * t * b * num_heads * n * dh * dh
        return 0.0, t * b * num_heads * n * dh * dh * (min(fr(k), fr(v)) + fr(q)), dense
    if rule == "sdsa":
        return 0.0, float((q * k).sum()), float(t * b * c * n)
    if rule == "dense":
        macs = 2.0 * t * b * num_heads * n * n * dh
        return macs, 0.0, macs
    raise ValueError(f"attention rule must be one of {ATTENTION_RULES}, not {rule!r}")


def _connection_sparsity(model: nn.Module) -> float:
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights)) / max(total, 1)


def count_spikformer_operations(
    model: nn.Module,
    images: torch.Tensor,
    accounting: SpikformerAccounting = SpikformerAccounting(),
    neuron_types: tuple[type, ...] | None = None,
    neurobench: bool = False,
) -> SpikformerCount:
    """Run `model` on `images` once (no grad) and count its operations per image under `accounting`.

    Layers that run before the first neuron are the encoder. The model must keep time in its leading
    axis and expose `config.time_steps` (the student does). `neurobench=True` also computes NeuroBench's
    own operation counts (one more pass of every layer, on binary copies).
    """
    if neuron_types is None:
        from snnpar.models.neurons import NEURON_BACKENDS

        neuron_types = tuple(NEURON_BACKENDS.values())
    time_steps = int(model.config.time_steps)
    rec = _Recorder(accounting, neurobench)
    attention = _attention_modules(model)
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            handles.append(m.register_forward_hook(rec.synapse_hook(name)))
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            handles.append(m.register_forward_hook(rec.batchnorm_hook(name)))
        elif isinstance(m, neuron_types):
            handles.append(m.register_forward_hook(rec.neuron_hook(name)))
    for name, m in attention.items():
        for role in ("q", "k", "v"):
            handles.append(getattr(m, f"{role}_lif").register_forward_hook(rec.attention_hook(name, role)))
    try:
        with torch.no_grad():
            model(images)
    finally:
        for h in handles:
            h.remove()

    batch = images.shape[0]
    layers = list(rec.layers.values())
    for name, m in attention.items():
        s = rec.attention_spikes[name]
        macs, acs, dense = attention_operations(s["q"], s["k"], s["v"], m.num_heads, accounting.attention or m.mode)
        layers.append(LayerCount(f"{name}.attention", "attention", macs=macs, acs=acs, dense_ops=dense))
    per_image = ("macs", "acs", "dense_ops", "bias_adds", "inputs", "outputs", "neurobench_ops", "neurobench_dense")
    for layer in layers:
        scale = batch * (time_steps if layer.encoder and not accounting.encoder_per_step else 1)
        for f in per_image:
            setattr(layer, f, getattr(layer, f) / (batch if f.startswith("neurobench") else scale))
    params = list(model.parameters())
    return SpikformerCount(
        layers=layers,
        accounting=accounting,
        images=batch,
        time_steps=time_steps,
        neuron_updates=rec.neuron_updates / batch,
        spikes=rec.spikes / batch,
        neuron_steps=rec.neuron_updates / batch,
        parameters=sum(p.numel() for p in params if p.requires_grad),
        footprint_bytes=sum(p.numel() * p.element_size() for p in params)
        + sum(b.numel() * b.element_size() for b in model.buffers()),
        connection_sparsity=_connection_sparsity(model),
        neurobench_counted=neurobench,
    )


@dataclass(frozen=True)
class AnnEnergy:
    """A real-valued network: every operation a MAC; the image-independent part (text encoder) apart."""

    name: str
    macs: float  # per image
    parameters: int
    once_macs: float = 0.0  # done once for all images (the teacher's text encoder on its fixed sentences)

    def energy_joules(self, profile: EnergyProfile) -> float:
        """Arithmetic-only energy per image (the once-only work is not included: price it with `once_joules`)."""
        return profile.energy_joules(acs=0.0, macs=self.macs)

    def once_joules(self, profile: EnergyProfile) -> float:
        return profile.energy_joules(acs=0.0, macs=self.once_macs)


def ann_energy(model: nn.Module, image_size: tuple[int, int], name: str = "ann") -> AnnEnergy:
    """MACs of a teacher or ViT baseline per image, and those done once (`hw_sim.analysis.mac_array.count_network`)."""
    from hw_sim.analysis.mac_array import count_network

    cost = count_network(model, tuple(image_size), name)
    return AnnEnergy(name, macs=cost.macs, parameters=cost.parameters, once_macs=cost.once_macs)
