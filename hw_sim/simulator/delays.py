"""Depth of every node in Lava steps, and the delays that align branches of unequal depth.

Lava's Dense and Conv deliver at step t+1 what they received at step t; neurons, the attention process and
delay lines pass a signal on within the step. So a node d synapses deep computes NIR step t at Lava step
t + d (0-based). Where inputs of unequal depth meet (a residual sum, SDSA's v AND broadcast, a readout),
the shallower ones are delayed to the deepest, so Lava computes exactly what the graph says, only later by
`depth` steps per node. Neuron groups start (LIFReset zeroes u, v) at their depth.
Depths follow the forward edges only. A recurrent edge src -> dst (into a neuron group) must deliver src's
NIR step t - 1 at dst's step t, Lava step t + depth(dst): src computes it at Lava step t - 1 + depth(src), so
the edge needs depth(dst) - depth(src) + 1 steps of delay. The cycle's own synapse gives exactly that when
it is the only synapse on the cycle and src is it (snnTorch's and Norse's w_rec: depth(src) = depth(dst) + 1,
delay 0); a cycle without a synapse would wait on itself within a step, one with two or more is late, and
both are refused naming the edge. Branch alignment around a cycle is unchanged: the cycle adds no depth.
This module only decides numbers; `hw_sim.simulator.build` turns delays into `DelayLine` processes.
"""

from __future__ import annotations

from hw_sim.simulator.lowering import Input, Network, Synapse
from snnpar.errors import UserError


def align_branch_delays(net: Network) -> dict[str, list[int]]:
    """Set `depth` on every node and `delay` on every edge; return {source: sorted distinct delays > 0}."""
    for node in [*net.nodes.values(), net.readout]:
        if isinstance(node, Input):
            node.depth = 0
            continue
        edges = [e for e in node.inputs if not e.recurrent]
        if not edges:
            raise ValueError(f"node {node.name!r} has no input edge")
        arrivals = [net.nodes[e.source].depth for e in edges]
        deepest = max(arrivals)
        for e, arrival in zip(edges, arrivals):
            e.delay = deepest - arrival
        node.depth = deepest + (1 if isinstance(node, Synapse) else 0)
    for node in net.nodes.values():
        for e in getattr(node, "inputs", []):
            if e.recurrent:
                e.delay = _recurrent_delay(e.source, node.name, net.nodes[e.source].depth, node.depth)
    taps: dict[str, set[int]] = {}
    for node in net.nodes.values():  # the readout aligns offline from the recordings
        for e in getattr(node, "inputs", []):
            if e.delay:
                taps.setdefault(e.source, set()).add(e.delay)
    return {src: sorted(d) for src, d in taps.items()}


def _recurrent_delay(src: str, dst: str, src_depth: int, dst_depth: int) -> int:
    """0, the one delay Lava can give a recurrent edge (see the module docstring), or a UserError."""
    delay = dst_depth - src_depth + 1
    if delay > 0:
        raise UserError(f"the recurrent edge {src!r} -> {dst!r} closes a cycle without a synapse (Affine, Linear, Conv); "
                        "Lava's synapse is what gives a recurrent edge its step of delay: put the recurrent weights "
                        "on the cycle as a synapse node")
    if delay < 0:
        raise UserError(f"the recurrent edge {src!r} -> {dst!r} closes a cycle {1 - delay} synapses deep; each Lava synapse "
                        f"adds a step, so it would arrive {-delay} steps late: fold the cycle's linear maps into one "
                        "synapse node (or run it with export.executor.run_graph)")
    return 0
