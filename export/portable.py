"""A portable form of a student's NIR graph: only what the common importers read, each rewrite exact.

Norse's, snnTorch's and Sinabs' importers (`from_nir`, `import_from_nir`) map Conv2d, Affine/Linear with a
2-D weight and LIF well, and little else: none maps Threshold, Norse and snnTorch no Conv1d, Norse drops
SumPool2d padding, Norse and snnTorch read Flatten's batchless dims as torch dims, and snnTorch hard-codes
dt = 1e-4. `make_portable` rewrites the graph `export.lowering` builds into Input, Conv2d, LIF and Output
nodes only, each rewrite exact under NIR's forward-Euler semantics:
- time: dt becomes 1e-4 (snnTorch's) and every tau scales with it (only dt/tau enters an Euler step);
- tokens keep their (h, w) grid, so the (C, N) stream is (C, h, w): no Flatten, and a 1x1 Conv1d is a 1x1 Conv2d;
- Threshold(theta) is a memoryless LIF: tau = dt gives v <- I, spike I > theta, whatever the reset;
- SumPool2d (with its padding) is a Conv2d with a channel-diagonal all-ones kernel;
- SDSA's per-channel token sum (Linear (C, 1, N)) is a channel-diagonal Conv2d with an (h, w) kernel, its
  broadcast back (Linear (C, N, 1)) the same kernel flipped, padded by (h - 1, w - 1): a 'full' convolution
  of a 1 x 1 map. Both hold C^2 h w weights (the price of avoiding grouped convs, which the importers build
  with the wrong input channel count);
- the head (Flatten, then Affine on c * N + n) is one Conv2d with an (h, w) kernel; the output is (A, 1, 1).
Node names stay; removed nodes (the Flatten nodes) pass their edges through. One thing has no portable form
and is only carried: a LIF's firing rule v >= v_threshold (the reference neurons) travels as node metadata
``firing_rule``, which this project's executor and Lava honour and the other importers ignore (they fire on
v > v_threshold), so those layers differ wherever v lands exactly on the threshold; the graph's metadata
``portable_caveats`` names each such node (build the student with neurons="norse" for a graph that every
importer runs identically). A graph with a node that has
no portable form (the SSA extension node) is refused with every such node and the reason listed: a file
no other tool can open would not be portable. This module builds graphs only.
"""

from __future__ import annotations

import nir
import numpy as np

from export.attention import SpikingSelfAttention
from snnpar.errors import UserError

PORTABLE_DT = 1e-4  # snnTorch's import_from_nir reads every graph with this time step


def _conv(weight: np.ndarray, input_hw: tuple[int, int], bias=None, stride=(1, 1), padding=(0, 0)) -> nir.Conv2d:
    bias = np.zeros(weight.shape[0], dtype=weight.dtype) if bias is None else bias
    return nir.Conv2d(input_shape=tuple(input_hw), weight=weight, stride=tuple(stride), padding=tuple(padding),
                      dilation=(1, 1), groups=1, bias=bias)


def _diagonal(kernel: np.ndarray) -> np.ndarray:
    """Per-channel kernels (C, kH, kW) as one dense (C, C, kH, kW) weight that only connects c to c."""
    c = kernel.shape[0]
    weight = np.zeros((c, c, *kernel.shape[1:]), dtype=kernel.dtype)
    weight[np.arange(c), np.arange(c)] = kernel
    return weight


def _shape(node: nir.NIRNode, port: str = "output") -> tuple[int, ...]:
    types = node.output_type if port == "output" else node.input_type
    return tuple(int(s) for s in np.asarray(next(iter(types.values()))).reshape(-1))


def _square(h: int, w: int) -> tuple[int, int, int]:
    """Kernel side K = max(h, w) and the zero margins that centre an (h, w) block in it.

    nir 1.0.8 infers a Conv2d's output type from weight.shape[2] alone, so non-square kernels fail
    `nir.read`'s type check; an (h, w) kernel padded with zeros to K x K computes the same sums.
    """
    k = max(h, w)
    if (k - h) % 2 or (k - w) % 2:
        raise UserError(f"a portable graph needs a token grid whose sides have equal parity (a centred square kernel), "
                        f"got {h} x {w}: choose an image size whose H/16 and W/16 are both even or both odd")
    return k, (k - h) // 2, (k - w) // 2


def _reduce_conv(weight: np.ndarray, bias=None) -> nir.Conv2d:
    """(in, h, w) -> (out, 1, 1) with y[o] = sum W[o, i, y, x] x[i, y, x] + b[o]: one square kernel over the grid."""
    out, inp, h, w = weight.shape
    k, ph, pw = _square(h, w)
    kernel = np.zeros((out, inp, k, k), dtype=weight.dtype)
    kernel[:, :, ph:ph + h, pw:pw + w] = weight
    return _conv(kernel, (h, w), bias, padding=(ph, pw))


def _broadcast_conv(weight: np.ndarray) -> nir.Conv2d:
    """(in, 1, 1) -> (out, h, w) with y[o, y, x] = sum W[o, i, y, x] x[i]: a 'full' convolution of a 1 x 1 map."""
    out, inp, h, w = weight.shape
    k, _, _ = _square(h, w)
    ph, pw = (h + k - 2) // 2, (w + k - 2) // 2  # output h x w from a 1 x 1 input under a k x k kernel
    kernel = np.zeros((out, inp, k, k), dtype=weight.dtype)
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    kernel[:, :, ph - rows, pw - cols] = weight
    return _conv(kernel, (1, 1), padding=(ph, pw))


def make_portable(graph: nir.NIRGraph, grid: tuple[int, int]) -> nir.NIRGraph:
    """The portable form of a student's graph (`grid`: its token grid (h, w)); a UserError lists what has none."""
    h, w = grid
    _square(h, w)  # fails early, before any node is rewritten
    n = h * w
    dt = float(graph.metadata["dt"])
    time_scale = PORTABLE_DT / dt

    def grid_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) == 2:
            return (shape[0], h, w) if shape[1] == n else (shape[0], 1, 1) if shape[1] == 1 else shape
        return shape

    nodes: dict[str, nir.NIRNode] = {}
    exceptions: dict[str, str] = {}
    removed: dict[str, list[str]] = {}  # a removed node -> its sources
    sources: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        sources[dst].append(src)
    for name, node in graph.nodes.items():
        if isinstance(node, nir.LIF):
            shape = grid_shape(_shape(node))
            nodes[name] = nir.LIF(tau=(node.tau * time_scale).reshape(shape), r=node.r.reshape(shape),
                                  v_leak=node.v_leak.reshape(shape), v_threshold=node.v_threshold.reshape(shape),
                                  v_reset=node.v_reset.reshape(shape), metadata=dict(node.metadata or {}))
        elif isinstance(node, nir.Threshold):
            theta = np.asarray(node.threshold).reshape(grid_shape(_shape(node)))
            nodes[name] = nir.LIF(tau=np.full_like(theta, PORTABLE_DT), r=np.ones_like(theta), v_leak=np.zeros_like(theta),
                                  v_threshold=theta, v_reset=np.zeros_like(theta))
        elif isinstance(node, nir.Conv1d):
            nodes[name] = _conv(np.asarray(node.weight)[..., None], (h, w), node.bias)
        elif isinstance(node, nir.SumPool2d):
            c, *input_hw = _shape(graph.nodes[sources[name][0]])
            ones = np.ones((c, *(int(v) for v in node.kernel_size)), dtype=np.float64)
            nodes[name] = _conv(_diagonal(ones), tuple(input_hw), stride=node.stride, padding=node.padding)
        elif isinstance(node, nir.Linear) and np.asarray(node.weight).ndim == 3:
            weight = np.asarray(node.weight)
            c, n_out, n_in = weight.shape
            if (n_out, n_in) == (1, n):  # token sum: y[c] = sum_n W[c, 0, n] x[c, n]
                nodes[name] = _reduce_conv(_diagonal(weight[:, 0, :].reshape(c, h, w)))
            elif (n_out, n_in) == (n, 1):  # broadcast: y[c, n] = W[c, n, 0] x[c]
                nodes[name] = _broadcast_conv(_diagonal(weight[:, :, 0].reshape(c, h, w)))
            else:
                nodes[name] = node
                exceptions[name] = f"Linear with one matrix per channel, weight {list(weight.shape)}: no 2-D form here"
        elif isinstance(node, nir.Flatten):
            removed[name] = sources[name]
        elif isinstance(node, nir.Affine) and any(isinstance(graph.nodes[s], nir.Flatten) for s in sources[name]):
            d = _shape(graph.nodes[sources[name][0]], "input")[0]  # the head: Affine on the flattened (D, N) stream
            weight = np.asarray(node.weight)
            nodes[name] = _reduce_conv(weight.reshape(weight.shape[0], d, h, w), np.asarray(node.bias))
        elif isinstance(node, nir.Output):
            size = _shape(node, "input")
            nodes[name] = nir.Output(output_type=np.array([*size, 1, 1] if len(size) == 1 else grid_shape(size)))
        elif isinstance(node, SpikingSelfAttention):
            nodes[name] = node
            exceptions[name] = ("SpikingSelfAttention (SSA's q (k^T v), a product of three time-varying signals) has no "
                                "standard NIR form")
        elif isinstance(node, (nir.Input, nir.Conv2d)):
            nodes[name] = node
        else:
            nodes[name] = node
            exceptions[name] = f"{type(node).__name__}: no portable rewrite known here"

    def resolve(src: str) -> list[str]:
        return [s for p in removed[src] for s in resolve(p)] if src in removed else [src]

    edges = [(s, dst) for src, dst in graph.edges if dst not in removed for s in resolve(src)]
    if exceptions:
        listed = "; ".join(f"{name}: {why}" for name, why in exceptions.items())
        raise UserError(f"{len(exceptions)} nodes have no portable form, so no portable graph is written ({listed}); "
                        "export without --portable (an SDSA student is fully portable)")
    caveats = {name: "fires on v >= v_threshold (node metadata firing_rule); other importers fire on v > v_threshold"
               for name, node in nodes.items() if (getattr(node, "metadata", None) or {}).get("firing_rule") == ">="}
    metadata = {**graph.metadata, "dt": PORTABLE_DT, "portable": True, "portable_time_scale": time_scale,
                "portable_caveats": caveats}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)
