"""Which nodes of a lowered network can share one Lava process: chains with nothing branching in or out.

Lava's CPU runtime costs about the same per process and step whatever the process computes (a runtime
command, a reply, and one channel message per port), so a network of many small layers spends most of its
time in messages. A chain u1 -> u2 -> ... -> uk, where each link is the consumer's only input and the
producer's only consumer, undelayed and not re-shaped, computes nothing any other process needs in
between, so `hw_sim.simulator.processes.chain` can run it in one process with the same per-step semantics (each
synapse still delivers one step late). Only synapses and neuron groups are fused; the input, attention and
anything named in `separate` (e.g. groups whose voltage a Monitor probes) keep their own process. Nodes on a
cycle keep theirs too: a chain receives before it sends, so a chain on a cycle would wait on itself, while
Lava's own Dense sends last step's sum first (that is what lets a recurrent network run); and so do groups
that need `RecurrentLIFReset` (two in ports).
This module only decides the grouping; `hw_sim.simulator.build` makes the processes.
"""

from __future__ import annotations

from hw_sim.simulator.lowering import Network, Neurons, Synapse, as_3d


def consumers(net: Network) -> dict[str, list[str]]:
    """node -> the nodes (and the readout) that read it, one entry per edge."""
    readers: dict[str, list[str]] = {name: [] for name in net.nodes}
    for node in [*net.nodes.values(), net.readout]:
        for edge in getattr(node, "inputs", []):
            readers[edge.source].append(node.name)
    return readers


def cycle_members(net: Network) -> set[str]:
    """The nodes on some cycle: for each recurrent edge src -> dst, those on a forward path from dst to src."""
    late = [(e.source, node.name) for node in net.nodes.values() for e in getattr(node, "inputs", []) if e.recurrent]
    if not late:
        return set()
    readers = {name: [] for name in net.nodes}
    for node in net.nodes.values():
        for e in getattr(node, "inputs", []):
            if not e.recurrent:
                readers[e.source].append(node.name)

    def reach(start: str, step) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for nxt in step(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    members: set[str] = set()
    for src, dst in late:
        ancestors = reach(src, lambda n: [e.source for e in net.nodes[n].inputs if not e.recurrent]
                          if hasattr(net.nodes[n], "inputs") else [])
        members |= reach(dst, lambda n: readers[n]) & ancestors
    return members


def fusable_chains(net: Network, separate: frozenset[str] = frozenset()) -> list[list[str]]:
    """Maximal chains of two or more synapses / neuron groups (in signal order) that one process can run."""
    readers = consumers(net)
    separate = separate | cycle_members(net) | {n.name for n in net.of_type(Neurons) if not n.fits_lava_lif_reset}

    def fusable(name: str) -> bool:
        return isinstance(net.nodes[name], (Synapse, Neurons)) and name not in separate

    def link(src: str) -> str | None:
        """The node that `src` can hand its output to inside a chain, if any."""
        if not fusable(src) or len(readers[src]) != 1 or readers[src][0] not in net.nodes:
            return None
        dst = net.nodes[readers[src][0]]
        if not fusable(dst.name) or len(dst.inputs) != 1:
            return None
        edge = dst.inputs[0]
        return dst.name if edge.delay == 0 and as_3d(edge.src_shape) == as_3d(edge.dst_shape) else None

    nexts = {name: link(name) for name in net.nodes}
    has_prev = {dst for dst in nexts.values() if dst}
    chains = []
    for name in net.nodes:  # topological order, so every chain is found from its head
        if name in has_prev or not nexts[name]:
            continue
        chain = [name]
        while nexts[chain[-1]]:
            chain.append(nexts[chain[-1]])
        chains.append(chain)
    return chains
