"""The graphs of udroll: tier dependencies, and the critical path of a plan.

networkx stays inside this module, imported where it is used (importing it costs a tenth of a second
of every `udroll plan`, which needs only the tier order); callers get plain data and our own errors.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from planner.plan import Plan

if TYPE_CHECKING:
    import networkx as nx


def tier_order(depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """Tiers in a dependency-respecting order, ties broken by name (deterministic): Kahn's walk
    with the ready tiers in a heap, as networkx's lexicographical_topological_sort does. A tier
    named only as a dependency comes in too; tiers on a cycle (refused when a spec is validated)
    are left out."""
    dependents: dict[str, list[str]] = {}
    waiting: dict[str, int] = {}
    for tier, deps in depends_on.items():
        waiting.setdefault(tier, 0)
        dependents.setdefault(tier, [])
        for dep in deps:
            waiting.setdefault(dep, 0)
            dependents.setdefault(dep, []).append(tier)
            waiting[tier] += 1
    ready = [t for t, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        tier = heapq.heappop(ready)
        order.append(tier)
        for dependent in dependents[tier]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    return order


# --- longest paths --------------------------------------------------------------------------------
#
# Each node carries ``w``, the time from its start to when its successors may start (a step's
# duration plus its recovery gap; 0 for a virtual node), and ``d``, its duration (0 for a virtual
# node). The planner's own priorities and bounds are in planner.bounds (linear, without networkx).


def longest_paths(graph: nx.DiGraph) -> tuple[dict[Any, int], dict[Any, int]]:
    """(head, tail) per node: the earliest start ignoring capacity, parallelism and windows, and the
    longest time from the node's start to the end of the rollout (its duration included)."""
    order = _topological(graph)
    w = dict(graph.nodes.data("w"))
    d = dict(graph.nodes.data("d"))
    # the adjacency dicts themselves: `graph.pred[v]` would wrap each in a view object, and this
    # loop runs once per step of a plan of up to 100,000 steps
    pred, succ = graph._pred, graph._succ
    head: dict[Any, int] = {}
    for v in order:
        preds = pred[v]
        head[v] = max([head[u] + w[u] for u in preds]) if preds else 0
    tail: dict[Any, int] = {}
    for v in reversed(order):
        succs = succ[v]
        tail[v] = max(d[v], w[v] + max([tail[s] for s in succs])) if succs else d[v]
    return head, tail


def critical_path(plan: Plan) -> list[str]:
    """Step ids of a longest chain of the plan (durations plus gaps along ``after``), first to last.

    Ties are broken by step id, so the answer is deterministic.
    """
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from((s.id, {"w": s.duration_s + s.gap_after_s, "d": s.duration_s}) for s in plan.steps)
    shared: dict[tuple[str, ...], tuple[str, int]] = {}
    for s in plan.steps:
        if len(s.after) <= 1:
            graph.add_edges_from((a, s.id) for a in s.after)
            continue
        # many steps wait for the same set of steps: one virtual node keeps the edges linear
        hub = shared.get(s.after)
        if hub is None:
            hub = shared[s.after] = ("after", len(shared))
            graph.add_node(hub, w=0, d=0)
            graph.add_edges_from((a, hub) for a in s.after)
        graph.add_edge(hub, s.id)
    if not graph:
        return []
    head, _ = longest_paths(graph)
    d = graph.nodes.data("d")
    w = graph.nodes.data("w")
    end = min((v for v in graph if isinstance(v, str)), key=lambda v: (-(head[v] + d[v]), v))
    path = [end]
    node: Any = end
    while graph.pred[node]:
        node = min(
            (u for u in graph.pred[node] if head[u] + w[u] == head[node]),
            key=lambda u: (0, u) if isinstance(u, str) else (1, str(u)),
        )
        if isinstance(node, str):
            path.append(node)
    return path[::-1]


def _topological(graph: nx.DiGraph) -> list[Any]:
    import networkx as nx

    try:
        return list(nx.topological_sort(graph))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(graph)
        raise ValueError(f"step graph has a cycle: {' -> '.join(str(u) for u, _ in cycle)}") from None
