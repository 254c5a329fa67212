"""The networkx graphs of udroll: tier dependencies (and, for the planner, steps).

networkx stays inside this module; callers get plain data and our own errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx


def tier_cycle(depends_on: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle among tiers as ``[a, b, ..., a]``, or None when there is none."""
    graph = nx.DiGraph()
    for tier, deps in depends_on.items():
        graph.add_node(tier)
        graph.add_edges_from((dep, tier) for dep in deps if dep in depends_on)
    try:
        edges = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return None
    return [str(u) for u, _ in edges] + [str(edges[0][0])]


def tier_order(depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """Tiers in a dependency-respecting order, ties broken by name (deterministic)."""
    graph = nx.DiGraph()
    for tier, deps in depends_on.items():
        graph.add_node(tier)
        graph.add_edges_from((dep, tier) for dep in deps)
    return [str(t) for t in nx.lexicographical_topological_sort(graph)]
