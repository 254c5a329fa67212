"""Load a spec file: parse with positions, validate the models, then the rules across keys."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from planner.cycles import tier_cycle
from planner.errors import Problem, SpecError
from planner.fleet import VM, Fleet, id_problem, vm_id
from planner.select import overlaps, selection
from planner.source import Located, load_text, read_input
from planner.spec import Spec
from planner.validation import problems_from

NO_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class LoadedSpec:
    """A valid spec, where it came from, and its inline inventory as a fleet (if it has one)."""

    spec: Spec
    file: str
    text: str
    inventory: Fleet | None


def load_spec(path: str | Path) -> LoadedSpec:
    return parse_spec(read_input(path, "spec"), str(path))


def parse_spec(text: str, file: str) -> LoadedSpec:
    located = load_text(text, file)
    if not isinstance(located.data, dict):
        raise SpecError([located.problem((), "a spec is a YAML mapping that starts with 'version: 1'")])
    _not_a_document(located)
    try:
        spec = Spec.model_validate(located.data)
    except ValidationError as exc:
        problems = problems_from(exc, located, Spec)
        problems += _tier_problems(located)  # still worth saying, even with other errors
        raise SpecError(problems) from None
    problems = _tier_problems(located)
    inventory = _inventory(spec, located, problems)
    if problems:
        raise SpecError(problems)
    return LoadedSpec(spec, file, text, inventory)


_DOCUMENT_HINTS = {
    "udroll/plan@1": "pass the spec it was made from (a plan is run with `udroll run PLAN --spec SPEC`)",
    "udroll/fleet@1": "pass it with --fleet, and the spec as the argument",
}


def _not_a_document(located: Located) -> None:
    """A plan or fleet JSON given where a spec belongs: one clear message instead of a dozen unknown keys."""
    fmt = located.data.get("format")
    if isinstance(fmt, str) and fmt.startswith("udroll/") and "version" not in located.data:
        hint = _DOCUMENT_HINTS.get(fmt, "pass a spec: a YAML file that starts with 'version: 1'")
        raise SpecError([located.problem(("format",), f"this is a {fmt} document, not a spec: {hint}")])


def _tier_problems(located: Located) -> list[Problem]:
    """Duplicate and unknown tiers and dependency cycles, checked on the raw data."""
    tiers = located.data.get("tiers") if isinstance(located.data, dict) else None
    if not isinstance(tiers, list):
        return []
    problems: list[Problem] = []
    names: dict[str, int] = {}
    for i, tier in enumerate(tiers):
        name = tier.get("name") if isinstance(tier, dict) else None
        if not isinstance(name, str):
            continue
        if name in names:
            problems.append(
                located.problem(
                    ("tiers", i, "name"),
                    f"tier {name!r} is defined twice (first as tiers[{names[name]}]): rename or merge them",
                )
            )
        else:
            names[name] = i
    graph: dict[str, list[str]] = {}
    for i, tier in enumerate(tiers):
        if not isinstance(tier, dict) or not isinstance(tier.get("name"), str):
            continue
        deps = tier.get("depends_on") or []
        deps = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
        for j, dep in enumerate(deps):
            if dep not in names:
                near = difflib.get_close_matches(dep, list(names), n=1)
                hint = f": did you mean {near[0]!r}?" if near else f"; tiers are {', '.join(names)}"
                problems.append(
                    located.problem(
                        ("tiers", i, "depends_on", j), f"unknown tier {dep!r} in depends_on{hint}"
                    )
                )
            elif dep == tier["name"]:
                problems.append(
                    located.problem(
                        ("tiers", i, "depends_on", j), f"tier {dep!r} depends on itself: remove it"
                    )
                )
        graph.setdefault(tier["name"], []).extend(d for d in deps if d != tier["name"])
    cycle = tier_cycle(graph)
    if cycle:
        first = names[cycle[0]]
        problems.append(
            located.problem(
                ("tiers", first, "depends_on"),
                f"dependency cycle {' -> '.join(cycle)}: a tier cannot wait for itself; "
                "remove one depends_on",
            )
        )
    return problems


def _inventory(spec: Spec, located: Located, problems: list[Problem]) -> Fleet | None:
    if spec.inventory is None:
        return None
    subscription = spec.subscription or NO_SUBSCRIPTION
    vms: list[VM] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(spec.inventory):
        data = item.model_dump()
        data["id"] = item.id or vm_id(subscription, item)
        wrong = id_problem(data["id"])
        if wrong:  # given, or derived from names with a "/" or a space in them
            where = ("inventory", i, "id" if item.id else "name")
            problems.append(located.problem(where, f"inventory[{i}]: {wrong}"))
            continue
        vm = VM.model_validate(data)
        first = seen.get(vm.id.lower())
        if first is not None:
            message = f"VM {vm.ref} is listed twice in inventory (first as inventory[{first}]): keep one"
            problems.append(located.problem(("inventory", i), message))
            continue
        seen[vm.id.lower()] = i
        vms.append(vm)
    for tier, message in overlaps(spec, selection(spec, vms)):
        problems.append(located.problem(("tiers", tier, "select"), message, key=True))
    captured = min(
        (
            vm.maintenance.self_service_window[0]
            for vm in vms
            if vm.maintenance and vm.maintenance.self_service_window
        ),
        default=None,
    )
    from planner.values import parse_timestamp

    return Fleet(captured_at=captured or parse_timestamp("2026-01-01T00:00:00Z"), vms=tuple(vms))
