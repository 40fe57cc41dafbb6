"""Depth of every node in Lava steps, and the delays that align branches of unequal depth.

Lava's Dense and Conv deliver at step t+1 what they received at step t; neurons, the attention process and
delay lines pass a signal on within the step. So a node d synapses deep computes NIR step t at Lava step
t + d (0-based). Where inputs of unequal depth meet (a residual sum, SDSA's v AND broadcast, a readout),
the shallower ones are delayed to the deepest, so Lava computes exactly what the graph says, only later by
`depth` steps per node. Neuron groups start (LIFReset zeroes u, v) at their depth.
This module only decides numbers; `hw_sim.simulator.build` turns delays into `DelayLine` processes.
"""

from __future__ import annotations

from hw_sim.simulator.lowering import Input, Network, Synapse


def align_branch_delays(net: Network) -> dict[str, list[int]]:
    """Set `depth` on every node and `delay` on every edge; return {source: sorted distinct delays > 0}."""
    for node in [*net.nodes.values(), net.readout]:
        if isinstance(node, Input):
            node.depth = 0
            continue
        edges = node.inputs
        if not edges:
            raise ValueError(f"node {node.name!r} has no input edge")
        arrivals = [net.nodes[e.source].depth for e in edges]
        deepest = max(arrivals)
        for e, arrival in zip(edges, arrivals):
            e.delay = deepest - arrival
        node.depth = deepest + (1 if isinstance(node, Synapse) else 0)
    taps: dict[str, set[int]] = {}
    for node in net.nodes.values():  # the readout aligns offline from the recordings
        for e in getattr(node, "inputs", []):
            if e.delay:
                taps.setdefault(e.source, set()).add(e.delay)
    return {src: sorted(d) for src, d in taps.items()}
