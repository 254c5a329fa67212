"""The faults file: how the emulated Azure misbehaves, and the knobs of its simulation.

A YAML file, validated like a spec (every problem as ``file:line:col``, exit code 2)::

    version: 1
    seed: 7                        # the 5xx dice are seeded: the same file gives the same run
    maintenance_duration: 10m      # a perform-maintenance keeps a VM down this long (simulated)
    health_warmup: 1m              # the health endpoint answers 503 this long after the VM is back
    throttling: true               # 429 from Compute's documented token buckets
    page_size: 100                 # items per page of a list; nextLink for the rest
    errors: {rate: 0.02, status: [500, 503]}   # a share of ARM requests fail with a server error
                                   # status 429: throttled, with Retry-After (as the buckets answer)
                                   # lost_answers: 0.1 -> a share of started perform-maintenance
                                   # calls lose their 202 (the connection drops after the start)
    latency_ms: 20                 # added to every ARM answer (wall time)
    outages:                       # ARM is down: "refuse" drops connections, "unavailable" is 503
      - {start: 2h, duration: 15m, mode: refuse}          # start: offset from the simulated epoch
      - {start: 2026-11-24T01:00:00Z, duration: 5m}       # ... or a timestamp
    azure:                         # which of Azure's documented answer shapes to give (contract.py)
      lro: async                   # async: 202 Azure-AsyncOperation + Location; location; sync (200)
      timestamps: z                # z: ...:00Z; offset: ...:00+00:00; ticks: ...:00.1234567+00:00
      upper_case_ids: false        # ids name the resource group and resources in upper case
      refusals: descriptive        # recorded: every 409 says what Azure recorded ("not eligible")
    vms:                           # per VM, keyed by its ref: "rg/name" or "rg/scale-set/instance"
      rg-shop-db/db-1: {retry_later: 2}     # the first 2 attempts end RetryLater
      rg-shop-app/vmss-app/3: {abort: 1}    # the next attempt ends MaintenanceAborted
      rg-shop-web/web-2: {duration: 45m, health: flapping, flap_period: 2m}
      rg-shop-web/web-3: {health: slow, warmup: 40m}      # slow to recover
      rg-shop-web/web-4: {health: never}
      rg-shop-web/web-5: {not_eligible: true}             # every perform-maintenance answers 409
    denied_actions:                # the caller's role lacks these (Microsoft.Authorization/permissions)
      - Microsoft.Compute/virtualMachines/performMaintenance/action

Simulated durations (``maintenance_duration``, ``warmup``, outages) run on the emulator's clock;
``latency_ms`` is real time. Server errors and outages hit Resource Manager routes only, before the
request is processed (a failed perform-maintenance started nothing), except ``lost_answers``, which
drops the connection after a perform-maintenance has started: the client cannot tell whether it did,
and must find out from the VM's status. A "refuse" outage closes the connection without an answer,
so the client sees a connection error. Health endpoints and the state
endpoint are never faulted.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from planner.errors import Problem, SpecError
from planner.source import Located, load_text, read_input
from planner.validation import problems_from
from planner.values import Bool, Duration, Float, Int, Version, parse_duration, parse_timestamp


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_start(value: Any) -> dt.timedelta | dt.datetime:
    """An outage start: a duration after the simulated epoch (``2h``) or a timestamp."""
    if isinstance(value, (dt.datetime, dt.timedelta)):
        return value
    text = str(value).strip() if isinstance(value, str) else None
    if text and len(text) >= 10 and text[4] == "-":
        return parse_timestamp(text)
    try:
        return dt.timedelta(seconds=parse_duration(value))
    except ValueError:
        raise ValueError(
            f"{value!r} is not an outage start: write a duration after the simulated epoch (2h, 90m) "
            "or a timestamp with a zone (2026-11-24T01:00:00Z)"
        ) from None


OutageStart = Annotated[dt.timedelta | dt.datetime, BeforeValidator(_parse_start)]


class Outage(_Model):
    """A period in simulated time during which Resource Manager does not answer."""

    start: OutageStart
    duration: Duration
    mode: Literal["refuse", "unavailable"] = Field(
        "unavailable", description="refuse: connections are dropped; unavailable: 503 ServiceUnavailable"
    )

    def covers(self, now: dt.datetime, epoch: dt.datetime) -> bool:
        begin = epoch + self.start if isinstance(self.start, dt.timedelta) else self.start
        return begin <= now < begin + dt.timedelta(seconds=self.duration)


class Errors(_Model):
    rate: Float = Field(default=0.0, ge=0.0, le=1.0, description="share of ARM requests that fail, 0..1")
    status: tuple[Literal[429, 500, 502, 503, 504], ...] = Field(
        default=(500, 503),
        min_length=1,
        description="statuses to answer with; 429 is throttling with Retry-After, to rehearse it",
    )
    lost_answers: Float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="share of accepted perform-maintenance calls whose 202 never reaches the client",
    )


class VMFaults(_Model):
    """What goes wrong with one VM."""

    retry_later: Int = Field(default=0, ge=0, description="the first N attempts end RetryLater")
    abort: Int = Field(default=0, ge=0, description="the N attempts after those end MaintenanceAborted")
    duration: Duration | None = Field(
        default=None, description="this VM's maintenance takes this long (slow)"
    )
    health: Literal["ok", "never", "flapping", "slow"] = "ok"
    warmup: Duration | None = Field(default=None, description="unhealthy this long after boot (slow: 30m)")
    flap_period: Duration = Field(
        default=60, description="flapping: healthy and unhealthy in turns this long"
    )
    not_eligible: bool = Field(
        default=False, description="perform-maintenance always answers 409 OperationNotAllowed"
    )

    @field_validator("flap_period")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("flap_period must be longer than 0s")
        return value


SLOW_WARMUP = 30 * 60


class Contract(_Model):
    """Which of the answer shapes Azure documents (or was recorded giving) the emulator gives.

    Every choice is one real Azure makes; a client must handle them all (see executor.emulator.contract).
    """

    lro: Literal["async", "location", "sync"] = Field(
        default="async",
        description="perform-maintenance answers 202 with Azure-AsyncOperation and Location (async), "
        "202 with Location only (location), or 200 without a body (sync)",
    )
    timestamps: Literal["z", "offset", "ticks"] = Field(
        default="z",
        description="...22:00:00Z, ...22:00:00+00:00 or ...22:00:00.0000000+00:00",
    )
    upper_case_ids: bool = Field(
        default=False, description="resource ids name groups and resources in upper case"
    )
    refusals: Literal["descriptive", "recorded"] = Field(
        default="descriptive", description="recorded: a 409 carries the text Azure was recorded sending"
    )


MODE_HELP = (
    "lro=async|location|sync, timestamps=z|offset|ticks, ids=upper|as-is, refusals=descriptive|recorded"
)


def parse_mode(text: str, base: Contract | None = None) -> Contract:
    """``--azure-mode lro=location,timestamps=ticks``: the named choices over ``base``."""
    fields: dict[str, Any] = (base or Contract()).model_dump()
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        if key == "ids":
            if value not in ("upper", "as-is"):
                raise ValueError(f"--azure-mode {item!r}: ids takes upper or as-is")
            fields["upper_case_ids"] = value == "upper"
        elif key in ("lro", "timestamps", "refusals"):
            fields[key] = value
        else:
            raise ValueError(f"--azure-mode {item!r}: write KEY=VALUE with {MODE_HELP}")
    try:
        return Contract.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"--azure-mode {text!r}: {first['loc'][0]}: {first['msg']} ({MODE_HELP})") from None


class Faults(_Model):
    """The whole faults file; ``Faults()`` is a faithful, fault-free Azure."""

    version: Version = 1
    seed: Int = 0
    maintenance_duration: Duration = 600
    health_warmup: Duration = 60
    throttling: Bool = True
    page_size: Int = Field(default=100, ge=1, le=1000)
    errors: Errors = Errors()
    latency_ms: Int = Field(default=0, ge=0, le=60_000)
    outages: tuple[Outage, ...] = ()
    azure: Contract = Contract()
    vms: dict[str, VMFaults] = Field(default_factory=dict)
    denied_actions: tuple[str, ...] = Field(
        default=(),
        description="Actions the caller lacks: the permissions list answers actions ['*'] with these "
        "as notActions (rehearse `udroll check` against a role that misses one)",
    )

    _source: Located | None = PrivateAttr(default=None)

    @field_validator("vms")
    @classmethod
    def _refs(cls, value: dict[str, VMFaults]) -> dict[str, VMFaults]:
        for ref in value:
            parts = ref.split("/")
            if len(parts) not in (2, 3) or not all(parts):
                raise ValueError(
                    f"{ref!r} is not a VM ref: write rg/name, "
                    "or rg/scale-set/instance-id for a scale set instance"
                )
        return {ref.lower(): faults for ref, faults in value.items()}

    def for_vm(self, ref: str) -> VMFaults:
        return self.vms.get(ref.lower(), _NO_FAULTS)

    def check_refs(self, refs: Iterable[str]) -> None:
        """Every per-VM entry must name a VM of the fleet: a typo would silently inject nothing."""
        known = {ref.lower() for ref in refs}
        problems = []
        for ref in self.vms:
            if ref in known:
                continue
            near = difflib.get_close_matches(ref, sorted(known), n=1)
            hint = f": did you mean {near[0]!r}?" if near else ": it is not in the fleet"
            problems.append(self._problem(ref, f"vms: unknown VM {ref!r}{hint}"))
        if problems:
            raise SpecError(problems)

    def _problem(self, ref: str, message: str) -> Problem:
        if self._source is None:
            return Problem("<faults>", 1, 1, message)
        raw = next((k for k in (self._source.data or {}).get("vms", {}) if str(k).lower() == ref), ref)
        return self._source.problem(("vms", raw), message, key=True)


_NO_FAULTS = VMFaults()


def load_faults(path: str | Path) -> Faults:
    """Read and validate a faults file; every problem is reported with its place."""
    return parse_faults(read_input(path, "faults file"), str(path))


def parse_faults(text: str, file: str) -> Faults:
    located = load_text(text, file)
    data = located.data if located.data is not None else {}
    if not isinstance(data, dict):
        raise SpecError(
            [located.problem((), "a faults file is a YAML mapping that starts with 'version: 1'")]
        )
    if "tiers" in data or str(data.get("format", "")).startswith("udroll/"):
        what = "a rollout spec" if "tiers" in data else f"a {data['format']} document"
        message = f"this is {what}, not a faults file: --faults takes a file like the README's example"
        raise SpecError([located.problem(("tiers",) if "tiers" in data else ("format",), message, key=True)])
    try:
        faults = Faults.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc, located, Faults)) from None
    faults._source = located
    return faults
