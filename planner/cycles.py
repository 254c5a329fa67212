"""The tier dependency cycle, found without networkx: `udroll validate` must start fast (issue 15),
and importing networkx alone costs more than the rest of validation. Planning still uses planner.graph."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def tier_cycle(depends_on: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle among tiers as ``[a, b, ..., a]`` (each waited for by the next), or None."""
    edges: dict[str, list[str]] = {tier: [] for tier in depends_on}
    for tier, deps in sorted(depends_on.items()):
        for dep in deps:
            if dep in edges:
                edges[dep].append(tier)
    state: dict[str, int] = {}  # 1: on the current path, 2: explored (no cycle through it)
    for root in sorted(edges):
        if state.get(root):
            continue
        path, stack = [root], [iter(edges[root])]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(edges[nxt]))
    return None
