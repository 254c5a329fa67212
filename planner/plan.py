"""The plan (DESIGN §6): timed, ordered steps, and what could not or need not be done.

Frozen values; ``to_json`` writes the `udroll/plan@1` document byte for byte the same for the same
plan, and ``from_json`` reads it back.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, fields
from typing import Any

from planner.timefmt import plural
from planner.values import format_timestamp, parse_timestamp

PLAN_FORMAT = "udroll/plan@1"
_STEPS_MARK = "\x00steps\x00"  # stands for the steps while the rest is dumped


@dataclass(frozen=True)
class Step:
    """VMs of one domain of one group, maintained together."""

    id: str  # "<tier>/<group name>/<domain label>[/<part>]", e.g. "db/as-db/ud2"
    tier: str
    group: str  # "rg/availability-set", "rg/scale-set", "*/zonal:<tier>" (all its RGs), "rg/vm-name"
    domain: int | str  # update domain or fault domain (int), or zone (str)
    vms: tuple[str, ...]  # ARM ids
    after: tuple[str, ...]  # ids of the steps that must end (plus their gap) before this starts
    start: dt.datetime
    end: dt.datetime
    start_offset_s: int
    end_offset_s: int
    gap_after_s: int  # the group's recovery gap that follows this step

    @property
    def duration_s(self) -> int:
        return self.end_offset_s - self.start_offset_s

    @classmethod
    def made(cls, **given: Any) -> Step:
        """A step from all its fields, without the frozen dataclass's ``object.__setattr__`` per
        field (a sixth of the cost for the 60,000 steps of a 100,000-VM plan)."""
        if given.keys() != _STEP_FIELDS:
            raise TypeError(f"Step.made needs exactly {', '.join(sorted(_STEP_FIELDS))}")
        step = object.__new__(cls)
        step.__dict__.update(given)
        return step


_STEP_FIELDS = frozenset(f.name for f in fields(Step))


@dataclass(frozen=True)
class Skipped:
    vm: str
    reason: str


@dataclass(frozen=True)
class Unschedulable:
    vm: str
    reason: str


@dataclass(frozen=True)
class Warning:
    code: str
    message: str
    vms: tuple[str, ...]


@dataclass(frozen=True)
class Relaxed:
    """A dependency a tier no longer waits for in full: ``depends_on`` keeps ``vms`` unschedulable
    VMs (Azure maintains them later), and ``tier`` runs after its planned steps only."""

    tier: str
    depends_on: str
    vms: int

    def describe(self) -> str:
        n = plural(self.vms, "VM")
        return (
            f"tier {self.tier!r} runs after the planned steps of tier {self.depends_on!r}, which leaves "
            f"{n} to Azure's own maintenance later"
        )


@dataclass(frozen=True)
class Optimality:
    """What is proven about a plan. ``status``: "optimal" (no valid plan covers more VMs, and none
    covering as many ends sooner than ``lower_bound_s``, which the plan meets), "bounded" (coverage
    proven; the makespan is within a gap of ``lower_bound_s``) or "coverage unproven" (a plan
    covering more VMs may exist). ``bound_basis`` says where ``lower_bound_s`` comes from."""

    status: str = "coverage unproven"
    bound_basis: str = "critical path"
    method: str = "greedy"
    budget_s: float = 0.0

    def describe(self, makespan_s: int, lower_bound_s: int) -> str:
        """ "optimal", or "within X% of the best bound" (with the coverage caveat when unproven)."""
        if self.status == "optimal":
            return "optimal"
        gap = 100.0 * (makespan_s - lower_bound_s) / lower_bound_s if lower_bound_s else 0.0
        text = f"within {gap:.1f}% of the best bound"
        return text if self.status == "bounded" else text + "; more VMs might fit (not proven)"


@dataclass(frozen=True)
class Plan:
    name: str
    fingerprint: str
    start: dt.datetime
    makespan_s: int
    lower_bound_s: int
    steps: tuple[Step, ...]
    skipped: tuple[Skipped, ...] = ()
    unschedulable: tuple[Unschedulable, ...] = ()
    warnings: tuple[Warning, ...] = ()
    relaxed: tuple[Relaxed, ...] = ()
    optimality: Optimality = Optimality()
    format: str = PLAN_FORMAT

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def to_dict(self) -> dict[str, Any]:
        return self._dict(
            [
                {
                    "id": s.id,
                    "tier": s.tier,
                    "group": s.group,
                    "domain": s.domain,
                    "vms": list(s.vms),
                    "after": list(s.after),
                    "start": format_timestamp(s.start),
                    "end": format_timestamp(s.end),
                    "start_offset_s": s.start_offset_s,
                    "end_offset_s": s.end_offset_s,
                    "gap_after_s": s.gap_after_s,
                }
                for s in self.steps
            ]
        )

    def _dict(self, steps: Any) -> dict[str, Any]:
        return {
            "format": self.format,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "start": format_timestamp(self.start),
            "makespan_s": self.makespan_s,
            "lower_bound_s": self.lower_bound_s,
            "steps": steps,
            "skipped": [{"vm": s.vm, "reason": s.reason} for s in self.skipped],
            "unschedulable": [{"vm": u.vm, "reason": u.reason} for u in self.unschedulable],
            "warnings": [{"code": w.code, "message": w.message, "vms": list(w.vms)} for w in self.warnings],
            "relaxed": [{"tier": r.tier, "depends_on": r.depends_on, "vms": r.vms} for r in self.relaxed],
            "optimality": {
                "status": self.optimality.status,
                "bound_basis": self.optimality.bound_basis,
                "method": self.optimality.method,
                "budget_s": self.optimality.budget_s,
            },
        }

    def to_json(self) -> str:
        """``json.dumps(self.to_dict(), indent=2, ensure_ascii=False)`` plus a newline, byte for byte;
        the steps are written by :func:`_steps_json` (the stdlib's indenting encoder is pure Python
        and took seconds for 100,000 steps)."""
        text = json.dumps(self._dict(_STEPS_MARK), indent=2, ensure_ascii=False)
        before, after = text.split(json.dumps(_STEPS_MARK), 1)
        return "".join((before, _steps_json(self.steps), after, "\n"))  # one copy of a big text

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Plan:
        return Plan(
            format=data["format"],
            name=data["name"],
            fingerprint=data["fingerprint"],
            start=parse_timestamp(data["start"]),
            makespan_s=int(data["makespan_s"]),
            lower_bound_s=int(data["lower_bound_s"]),
            steps=tuple(
                Step(
                    id=s["id"],
                    tier=s["tier"],
                    group=s["group"],
                    domain=s["domain"],
                    vms=tuple(s["vms"]),
                    after=tuple(s["after"]),
                    start=parse_timestamp(s["start"]),
                    end=parse_timestamp(s["end"]),
                    start_offset_s=int(s["start_offset_s"]),
                    end_offset_s=int(s["end_offset_s"]),
                    gap_after_s=int(s["gap_after_s"]),
                )
                for s in data["steps"]
            ),
            skipped=tuple(Skipped(s["vm"], s["reason"]) for s in data.get("skipped", ())),
            unschedulable=tuple(Unschedulable(u["vm"], u["reason"]) for u in data.get("unschedulable", ())),
            warnings=tuple(
                Warning(w["code"], w["message"], tuple(w["vms"])) for w in data.get("warnings", ())
            ),
            relaxed=tuple(
                Relaxed(r["tier"], r["depends_on"], int(r["vms"])) for r in data.get("relaxed", ())
            ),
            optimality=_optimality(data.get("optimality") or {}),
        )


def _optimality(data: dict[str, Any]) -> Optimality:
    """The ``optimality`` block; a plan written before it existed has none (the defaults)."""
    default = Optimality()
    return Optimality(
        status=str(data.get("status", default.status)),
        bound_basis=str(data.get("bound_basis", default.bound_basis)),
        method=str(data.get("method", default.method)),
        budget_s=float(data.get("budget_s", default.budget_s)),
    )


def _steps_json(steps: tuple[Step, ...]) -> str:
    """The steps list as ``json.dumps(..., indent=2)`` writes it at the top level of the plan."""
    if not steps:
        return "[]"
    q = json.encoder.encode_basestring  # type: ignore[attr-defined]

    def strings(values: tuple[str, ...]) -> str:
        if not values:
            return "[]"
        return "[\n        " + ",\n        ".join(map(q, values)) + "\n      ]"

    stamps: dict[dt.datetime, str] = {}  # many steps share their start and end

    def stamp(value: dt.datetime) -> str:
        found = stamps.get(value)
        if found is None:
            found = stamps[value] = q(format_timestamp(value))
        return found

    # tiers, groups, domains and `after` lists repeat from step to step: each is written once (a key
    # is a str, an int or a tuple of them, and equal keys are written alike)
    shared: dict[Any, str] = {}

    def where(s: Step) -> str:
        return (
            f'      "tier": {q(s.tier)},\n'
            f'      "group": {q(s.group)},\n'
            f'      "domain": {str(s.domain) if isinstance(s.domain, int) else q(s.domain)},\n'
        )

    out = []
    for s in steps:
        # dict.get first: one lookup per step in the common case (a written text is never empty)
        place = shared.get((s.tier, s.group, s.domain)) or shared.setdefault(
            (s.tier, s.group, s.domain), where(s)
        )
        after = shared.get(s.after) or shared.setdefault(s.after, strings(s.after))
        out.append(
            "{\n"
            f'      "id": {q(s.id)},\n'
            f"{place}"
            f'      "vms": {strings(s.vms)},\n'
            f'      "after": {after},\n'
            f'      "start": {stamps.get(s.start) or stamp(s.start)},\n'
            f'      "end": {stamps.get(s.end) or stamp(s.end)},\n'
            f'      "start_offset_s": {s.start_offset_s},\n'
            f'      "end_offset_s": {s.end_offset_s},\n'
            f'      "gap_after_s": {s.gap_after_s}\n'
            "    }"
        )
    return "[\n    " + ",\n    ".join(out) + "\n  ]"
