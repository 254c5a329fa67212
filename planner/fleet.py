"""The fleet: facts about VMs (DESIGN §5), read from a `udroll/fleet@1` snapshot or a spec's inventory."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from planner.errors import Problem, SpecError
from planner.gcpause import gc_paused
from planner.source import Located, load_text, position, read_input
from planner.statuses import Statuses
from planner.validation import problems_from
from planner.values import Bool, Int, Timestamp

FLEET_FORMAT = "udroll/fleet@1"
LastResult = Literal["None", "RetryLater", "MaintenanceAborted", "MaintenanceCompleted"]
PowerState = Literal["running", "starting", "stopping", "stopped", "deallocating", "deallocated", "unknown"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Maintenance(StrictModel):
    """A VM's `maintenanceRedeployStatus`: present only while maintenance is pending or recent."""

    customer_initiated_allowed: Bool
    self_service_window: tuple[Timestamp, Timestamp] | None = None
    scheduled_window: tuple[Timestamp, Timestamp] | None = None
    last_result: LastResult = "None"
    last_message: str | None = None

    @model_validator(mode="after")
    def _windows_in_order(self) -> Maintenance:
        for name in ("self_service_window", "scheduled_window"):
            window = getattr(self, name)
            if window and window[1] <= window[0]:
                raise ValueError(f"{name} ends before it starts: write [start, end]")
        return self

    def opens_later(self, at: dt.datetime) -> bool:
        """Not allowed at ``at`` only because its self-service window had not opened yet: Azure's
        ``isCustomerInitiatedMaintenanceAllowed`` says whether maintenance may be started *at this
        time*, so such a VM is schedulable from its window's start (issue 12)."""
        window = self.self_service_window
        return not self.customer_initiated_allowed and window is not None and at < window[0]

    @property
    def pending(self) -> bool:
        """Maintenance is still to be done on this VM (nothing done, or a retry is due)."""
        return self.last_result != "MaintenanceCompleted"


def _shared(value: Any, info: ValidationInfo) -> Any:
    """A status of a snapshot being read (its Statuses in the context) validated once for all its
    copies: the model in its place. Anything else (and a status that is not valid, to say why) is
    validated as it is."""
    statuses = info.context.get("statuses") if isinstance(info.context, dict) else None
    if statuses is None or type(value) is not dict:
        return value
    found = statuses.model(value)
    return value if found is None else found


class VM(StrictModel):
    """One virtual machine or scale set instance and what maintenance it awaits."""

    id: str = Field(description="Full ARM resource id.")
    name: str
    resource_group: str
    location: str = ""
    availability_set: str | None = None
    scale_set: str | None = None
    instance_id: str | None = None
    orchestration: Literal["Uniform", "Flexible"] | None = None
    zone: str | None = None
    update_domain: Int | None = Field(default=None, ge=0)
    fault_domain: Int | None = Field(default=None, ge=0)
    tags: dict[str, str] = Field(default_factory=dict)
    power_state: PowerState = "running"
    ephemeral_os_disk: Bool = False
    maintenance: Annotated[Maintenance | None, BeforeValidator(_shared)] = None

    @model_validator(mode="after")
    def _consistent(self) -> VM:
        if self.scale_set and not self.orchestration:
            raise ValueError("a scale set member needs orchestration: Uniform or Flexible")
        if self.orchestration == "Uniform" and self.instance_id is None:
            raise ValueError("a Uniform scale set instance needs its instance_id")
        if self.availability_set and self.scale_set:
            raise ValueError("a VM is in an availability set or a scale set, not both")
        return self

    @property
    def subscription(self) -> str:
        parts = self.id.split("/")
        return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""

    @property
    def ref(self) -> str:
        """The short name selectors use: ``rg/name`` or ``rg/scale-set/instance-id``."""
        if self.orchestration == "Uniform":
            return f"{self.resource_group}/{self.scale_set}/{self.instance_id}"
        return f"{self.resource_group}/{self.name}"


class InventoryVM(VM):
    """An inventory item in a spec: like a snapshot VM, but its id may be derived."""

    id: str = ""  # type: ignore[assignment]


class Fleet(StrictModel):
    format: Literal["udroll/fleet@1"] = "udroll/fleet@1"
    captured_at: Timestamp
    vms: tuple[VM, ...]

    @model_validator(mode="after")
    def _unique(self, info: ValidationInfo) -> Fleet:
        if info.context and info.context.get("ids_checked"):  # parse_fleet did, on the raw data
            return self
        seen: set[str] = set()
        for vm in self.vms:
            key = vm.id.lower()
            if key in seen:
                raise ValueError(f"VM {vm.id} is listed twice: keep one entry per VM")
            seen.add(key)
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=False) + "\n"


def vm_id(subscription: str, vm: VM) -> str:
    """The ARM id of a VM from its names (what Azure would give it)."""
    base = f"/subscriptions/{subscription}/resourceGroups/{vm.resource_group}/providers/Microsoft.Compute"
    if vm.orchestration == "Uniform":
        return f"{base}/virtualMachineScaleSets/{vm.scale_set}/virtualMachines/{vm.instance_id}"
    return f"{base}/virtualMachines/{vm.name}"


def load_fleet(path: str | Path) -> Fleet:
    """Read and validate a `udroll/fleet@1` snapshot; every problem is reported with its place."""
    return parse_fleet(read_input(path, "fleet snapshot"), str(path))


_ARM_VM_ID = re.compile(
    r"^/subscriptions/[^/\s]+/resourceGroups/[^/\s]+/providers/Microsoft\.Compute/"
    r"(virtualMachines/[^/\s]+|virtualMachineScaleSets/[^/\s]+/virtualMachines/[^/\s]+)$",
    re.IGNORECASE,
)
ID_HINT = (
    "write the VM's full ARM id, /subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/"
    "virtualMachines/NAME (or .../virtualMachineScaleSets/SS/virtualMachines/ID)"
)


def id_problem(vm_id: str) -> str | None:
    """What is wrong with a VM id, or None for a well-formed ARM id of a VM or scale set instance."""
    if _ARM_VM_ID.match(vm_id):
        return None
    return f"{vm_id!r} is not an ARM id of a VM: {ID_HINT}"


# a \uD800-\uDBFF escape not followed by \uDC00-\uDFFF, or a \uDC00-\uDFFF not preceded by one
_LONE_SURROGATE = re.compile(
    r"(?<!\\)(?:\\\\)*\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def parse_fleet(text: str, file: str) -> Fleet:
    with gc_paused():  # a third of the time for 100,000 VMs
        return _parse_fleet(text, file)


def _parse_fleet(text: str, file: str) -> Fleet:
    valid = _valid_snapshot(text)
    if valid is not None:
        return valid
    data = _json(text, file)
    problems = _id_problems(data)
    if problems:
        located = load_text(text, file)
        raise SpecError(located.problem(loc, message) for loc, message in problems)
    _share_maintenance(data)
    try:
        return Fleet.model_validate(data, context={"ids_checked": True})
    except ValidationError as exc:
        # positions are only needed on this path, so the slow located parse happens only here
        located = load_text(text, file)
        raise SpecError(problems_from(exc, located, Fleet)) from None


def _valid_snapshot(text: str) -> Fleet | None:
    """The fleet of a valid snapshot, read in one pass by pydantic-core: a third less time than
    json.loads and validating its objects. None if anything is wrong: the path that finds and
    locates every problem reads it then. (pydantic-core reads JSON as the json module does here; a
    lone surrogate and a number of 4,300 digits, where they differ, it refuses.)"""
    context = {"ids_checked": True, "statuses": Statuses(Maintenance.model_validate)}
    try:
        fleet = Fleet.model_validate_json(text, context=context)
    except ValidationError:
        return None
    return fleet if _well_formed([vm.id for vm in fleet.vms]) else None


def _json(text: str, file: str) -> Any:
    """The parsed JSON; nesting too deep for Python, a lone surrogate and a non-snapshot are located."""
    try:
        data = json.loads(text)
    except RecursionError:
        load_text(text, file)  # raises the located "nested too deeply"
        raise SpecError([Problem(file, 1, 1, "nested too deeply: this is not a fleet snapshot")]) from None
    except json.JSONDecodeError as exc:
        hint = ""
        if re.search(r"^version:", text, re.MULTILINE):  # a YAML spec where a snapshot belongs
            hint = ": this looks like a spec; --fleet takes a udroll/fleet@1 JSON snapshot"
            hint += " (`udroll discover -o F`)"
        raise SpecError([Problem(file, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}{hint}")]) from None
    except ValueError:  # a number with more digits than Python converts (4300)
        long = re.search(r"\d{4000,}", text)
        line, col = position(text, long.start()) if long else (1, 1)
        what = "a number with thousands of digits: fix the value"
        raise SpecError([Problem(file, line, col, what)]) from None
    lone = _LONE_SURROGATE.search(text) if "\\u" in text else None
    if lone and not _encodes(data):
        escape = "\\" + lone.group(0).rsplit("\\", 1)[-1]
        what = f"{escape} is half of a surrogate pair, not a character: remove it"
        raise SpecError([Problem(file, *position(text, lone.start()), what)])
    if isinstance(data, dict) and data.get("format") not in (FLEET_FORMAT, None):
        located: Located = load_text(text, file)
        message = f"format is {data.get('format')!r}: udroll reads {FLEET_FORMAT!r} snapshots"
        raise SpecError([located.problem(("format",), message)])
    return data


def _encodes(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _id_problems(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Ids that are not ARM ids, and VMs listed twice (at the second entry), on the raw data."""
    vms = data.get("vms") if isinstance(data, dict) else None
    if not isinstance(vms, list) or _all_well_formed(vms):
        return []
    problems: list[tuple[tuple[Any, ...], str]] = []
    seen: dict[str, int] = {}
    well_formed = _ARM_VM_ID.match
    for i, item in enumerate(vms):
        vm_id = item.get("id") if type(item) is dict else None
        if type(vm_id) is not str:
            continue
        key = vm_id.lower()
        if not well_formed(vm_id):
            problems.append((("vms", i, "id"), f"vms[{i}].id: {id_problem(vm_id)}"))
        elif key in seen:
            message = f"VM {vm_id} is listed twice (first as vms[{seen[key]}]): keep one entry"
            problems.append((("vms", i, "id"), message))
        else:
            seen[key] = i
    return problems


def _all_well_formed(vms: list[Any]) -> bool:
    """Every item has a well-formed id and none is listed twice (see _well_formed)."""
    return set(map(type, vms)) <= {dict} and _well_formed([item.get("id") for item in vms])


def _well_formed(ids: list[Any]) -> bool:
    """All are well-formed ids and none is listed twice: the common case, checked in C (map, set)
    at a third of the cost of _id_problems' loop, which finds what is wrong otherwise."""
    if not set(map(type, ids)) <= {str} or not all(map(_ARM_VM_ID.match, ids)):
        return False
    return len(set(map(str.lower, ids))) == len(ids)


def _share_maintenance(data: Any) -> None:
    """Validate each distinct maintenance status once and put the model in place of its copies.

    A fleet's VMs share few statuses (a wave of maintenance gives them the same windows), and
    validating one costs four timestamp parses. A status that is not valid stays as it is, so
    validating the fleet reports it where it is, as it would without this.
    """
    vms = data.get("vms") if isinstance(data, dict) else None
    if not isinstance(vms, list):
        return
    statuses = Statuses(Maintenance.model_validate)
    for item in vms:
        raw = item.get("maintenance") if type(item) is dict else None
        if type(raw) is dict:
            found = statuses.model(raw)
            if found is not None:
                item["maintenance"] = found


def fleet_now(vms: tuple[VM, ...], captured_at: dt.datetime) -> Fleet:
    return Fleet(captured_at=captured_at, vms=vms)
