"""Edges of a NIR graph as node names: NIR may name a port as 'node.port', and our node names contain dots.

Shared by the rooms that read graphs edge by edge (operation counting, chip mapping).
"""

from __future__ import annotations

from collections.abc import Mapping

from snnpar.errors import UserError


def edge_node(name: str, nodes: Mapping) -> str:
    """The node an edge end names: the name itself, or the name without its '.port' suffix."""
    if name in nodes:
        return name
    head = name.rsplit(".", 1)[0]
    if head in nodes:
        return head
    raise UserError(f"graph edge names {name!r}, which is not a node of the graph")
