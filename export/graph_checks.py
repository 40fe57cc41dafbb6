"""Checks every runner of NIR graphs here makes first: one flat graph whose edges name its own nodes.

Each problem is one `UserError` line naming the node and what to do: a nested NIRGraph (snnTorch's and
Rockpool's recurrent layers are written as subgraphs; flatten them first), a Delay node (no runner here
implements NIR's continuous delay), an edge to or from a node that does not exist. Which node *types* a
runner knows is the runner's own table; `unknown_type_error` words its refusal the same way everywhere.
`cycle_nodes` finds the nodes on each cycle, so that messages about cycles name those nodes only.
"""

from __future__ import annotations

from collections.abc import Iterable

import nir

from snnpar.errors import UserError


def check_flat_graph(graph: nir.NIRGraph, runner: str) -> None:
    """Raise a one-line UserError for a nested graph, a Delay node or an edge naming a missing node."""
    if not isinstance(graph, nir.NIRGraph):
        raise UserError(f"{runner} runs a nir.NIRGraph, got a single {type(graph).__name__} node; wrap it in a graph "
                        "with Input and Output nodes (nir.NIRGraph.from_list)")
    for src, dst in graph.edges:
        for end, name in (("source", src), ("target", dst)):
            if name not in graph.nodes:
                raise UserError(f"the graph's edge ({src!r} -> {dst!r}) has {end} {name!r}, which is not a node of the "
                                f"graph (nodes: {sorted(graph.nodes)[:8]}{' ...' if len(graph.nodes) > 8 else ''}); "
                                "fix or remove the edge")
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise UserError(f"node {name!r} is a nested NIRGraph; {runner} runs flat graphs: inline the subgraph's "
                            "nodes and edges into the parent graph (snnTorch and Rockpool write recurrent layers "
                            "as such subgraphs)")
        if isinstance(node, nir.Delay):
            raise UserError(f"node {name!r} is a NIR Delay (I(t - tau)); {runner} has no delay node: remove it, or "
                            "express an integer delay of k steps as k chained identity synapses")


def unknown_type_error(name: str, node: object, runner: str, known: Iterable[str]) -> UserError:
    return UserError(f"node {name!r} has type {type(node).__name__}, which {runner} does not run; "
                     f"it runs {', '.join(sorted(known))}")


def cycle_nodes(graph: nir.NIRGraph) -> list[list[str]]:
    """The node sets of the graph's cycles (strongly connected components with a cycle), in node order."""
    children: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for src, dst in graph.edges:
        children[src].append(dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(root: str) -> None:  # Tarjan's algorithm, iterative (graphs can be deep)
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(children[node]):
                work.append((node, i + 1))
                child = children[node][i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in children[node]:
                    components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])

    for name in graph.nodes:
        if name not in index:
            visit(name)
    position = {n: i for i, n in enumerate(graph.nodes)}
    return sorted((sorted(c, key=position.get) for c in components), key=lambda c: position[c[0]])
