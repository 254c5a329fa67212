"""The rollout spec (DESIGN §4): pydantic models, defaults, and the per-tier settings they resolve to."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    model_serializer,
    model_validator,
)

from planner import placeholders
from planner.fleet import InventoryVM
from planner.notify_spec import MaintenanceEvents, Sink, cross_check
from planner.values import (
    Bool,
    Capacity,
    CapacityValue,
    DateRangeValue,
    Day,
    Duration,
    HoursValue,
    Int,
    Timestamp,
    TimeZoneName,
    Version,
    format_duration,
)

AZURE_UD_PAUSE_S = 30 * 60  # Azure's own scheduled walk pauses this long between update domains


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WithEnv(StrictModel):
    """A model with the optional ``env`` key: left out of dumps while unset, so that the canonical
    spec (and a plan's fingerprint) of a spec that does not use it is what it was before the key."""

    @model_serializer(mode="wrap")
    def _without_unset_env(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and not data.get("env"):
            data.pop("env", None)
        return data


def _check_gap(seconds: int) -> int:
    if seconds <= AZURE_UD_PAUSE_S:
        raise ValueError(
            f"a recovery gap of {format_duration(seconds)} is not longer than 30m: Azure's own "
            "scheduled maintenance already pauses 30 minutes between update domains, so a shorter "
            "gap gains nothing over letting Azure do it; use more than 30m, e.g. 45m"
        )
    return seconds


RecoveryGap = Annotated[Duration, AfterValidator(_check_gap)]
UrlText = Annotated[str, AfterValidator(placeholders.validator(placeholders.URL_CHECK))]
CommandArg = Annotated[str, AfterValidator(placeholders.validator(placeholders.COMMAND_CHECK))]
HookArg = Annotated[str, AfterValidator(placeholders.validator(placeholders.HOOK))]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
EnvNames = Annotated[
    tuple[EnvName, ...],
    Field(description="Names of udroll's environment variables to pass on (the rest are not)."),
]


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"{text!r} is not a valid regular expression: {exc}") from None
    except RecursionError:
        raise ValueError("the regular expression is nested too deeply: simplify it") from None
    return text


class HttpCheck(StrictModel):
    http: UrlText = Field(description="URL to GET; placeholders {name} and {resource_group}.")
    status: tuple[Int, ...] = (200,)
    body: Annotated[str, AfterValidator(_regex)] | None = Field(
        default=None, description="Regular expression the body must match."
    )
    verify: Bool = Field(default=True, description="Verify TLS certificates.")
    ca_bundle: str | None = None
    probe_timeout: Duration = 10

    @model_validator(mode="after")
    def _valid(self) -> HttpCheck:
        if not re.match(r"^https?://", self.http):
            raise ValueError(f"http check {self.http!r} must start with http:// or https://")
        return self


class TcpCheck(StrictModel):
    tcp: UrlText = Field(description='"host:port"; placeholders {name} and {resource_group}.')
    probe_timeout: Duration = 5

    @model_validator(mode="after")
    def _valid(self) -> TcpCheck:
        host, _, port = self.tcp.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f'tcp check {self.tcp!r} must be "host:port" with a port from 1 to 65535')
        return self


class CommandCheck(WithEnv):
    command: tuple[CommandArg, ...] = Field(
        min_length=1, description="argv, run without a shell; placeholders {name}, {resource_group}, {vms}."
    )
    probe_timeout: Duration = 60
    env: EnvNames = ()


def _check_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kinds = [k for k in ("http", "tcp", "command") if k in value]
        return f"{kinds[0]} check" if len(kinds) == 1 else None
    if isinstance(value, BaseModel):
        return next(f"{k} check" for k in ("http", "tcp", "command") if hasattr(value, k))
    return None


Check = Annotated[
    Annotated[HttpCheck, Tag("http check")]
    | Annotated[TcpCheck, Tag("tcp check")]
    | Annotated[CommandCheck, Tag("command check")],
    Discriminator(
        _check_kind,
        custom_error_type="check_kind",
        custom_error_message="a check needs exactly one of http, tcp or command",
    ),
]


class Health(StrictModel):
    wait: Duration | None = Field(default=None, description="Before the first probe.")
    timeout: Duration | None = Field(default=None, description="To become healthy, else the step fails.")
    healthy_for: Duration | None = Field(default=None, description="Must pass continuously this long.")
    interval: Duration | None = None
    checks: tuple[Check, ...] | None = None


def _argv(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError(f"a hook is an argv list, run without a shell: write [{value!r}] or split it")
    return value


Argv = Annotated[tuple[HookArg, ...], BeforeValidator(_argv), Field(min_length=1)]


class Hooks(WithEnv):
    before_step: Argv | None = Field(
        default=None, description="Non-zero exit fails the step before any trigger."
    )
    after_step: Argv | None = None
    env: EnvNames | None = None


class Settings(StrictModel):
    """Keys set in `defaults` and overridable per tier."""

    recovery_gap: RecoveryGap | None = None
    expected_duration: Duration | None = None
    max_unavailable: CapacityValue | None = None
    health: Health | None = None
    hooks: Hooks | None = None


def _non_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return [value]
    return value


class Selector(StrictModel):
    """All keys must match; a tier's `select` may list several selectors of which any may match."""

    availability_set: str | None = Field(default=None, pattern=r"^[^/\s]+/[^/\s]+$", description="rg/name")
    scale_set: str | None = Field(default=None, pattern=r"^[^/\s]+/[^/\s]+$", description="rg/name")
    resource_group: str | None = Field(default=None, min_length=1)
    tags: dict[str, str] | None = None
    vms: tuple[Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+(/[^/\s]+)?$")], ...] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Selector:
        if not any(v is not None for v in self.__dict__.values()):
            raise ValueError(
                "empty selector selects nothing: "
                "give availability_set, scale_set, resource_group, tags or vms"
            )
        return self

    @property
    def resource_groups(self) -> set[str]:
        """Resource groups this selector is confined to (empty when it may match any)."""
        for key in ("availability_set", "scale_set"):
            value = getattr(self, key)
            if value:
                return {value.split("/")[0]}
        if self.resource_group:
            return {self.resource_group}
        if self.vms:
            return {ref.split("/")[0] for ref in self.vms}
        return set()


Selection = Annotated[tuple[Selector, ...], BeforeValidator(_non_empty), Field(min_length=1)]


class Tier(Settings):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    depends_on: tuple[str, ...] = ()
    select: Selection
    update_domain_order: tuple[Annotated[Int, Field(ge=0)], ...] | None = None

    @model_validator(mode="after")
    def _unique_order(self) -> Tier:
        order = self.update_domain_order or ()
        if len(set(order)) != len(order):
            raise ValueError("update_domain_order names an update domain twice: list each once")
        return self


class Window(StrictModel):
    """The operator's window, intersected with each VM's self-service window."""

    not_before: Timestamp | None = None
    not_after: Timestamp | None = None
    timezone: TimeZoneName = "UTC"
    hours: HoursValue | None = None
    days: tuple[Day, ...] | None = None
    blackout: tuple[DateRangeValue, ...] = ()
    cutoff: Duration = 0

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.not_before and self.not_after and self.not_after <= self.not_before:
            raise ValueError("window.not_after is not after not_before: swap or fix them")
        if self.days is not None and not self.days:
            raise ValueError("days is empty, so no day is allowed: list at least one day or remove days")
        return self


class Limits(StrictModel):
    max_parallel_steps: Int | None = Field(
        default=None, ge=1, description="Across the rollout; unset is no limit."
    )
    max_failed_steps: Int = Field(default=0, ge=0)


class Spec(StrictModel):
    version: Version
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=63)
    subscription: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )
    defaults: Settings = Settings()
    window: Window = Window()
    limits: Limits = Limits()
    tiers: tuple[Tier, ...] = Field(min_length=1)
    inventory: tuple[InventoryVM, ...] | None = None
    notify: tuple[Sink, ...] = Field(default=(), description="Where run events go (planner/notify_spec.py).")
    maintenance_events: MaintenanceEvents | None = None

    @model_validator(mode="after")
    def _notify(self) -> Spec:
        problems = cross_check(self.notify, self.maintenance_events, {t.name for t in self.tiers})
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def tier(self, name: str) -> Tier:
        return next(t for t in self.tiers if t.name == name)

    def settings(self, tier: str | Tier) -> TierSettings:
        """A tier's settings: its own keys, else `defaults`, else udroll's built-in defaults."""
        t = self.tier(tier) if isinstance(tier, str) else tier
        return TierSettings.resolve(t, self.defaults)


@dataclass(frozen=True)
class HealthSettings:
    wait: int
    timeout: int
    healthy_for: int
    interval: int
    checks: tuple[HttpCheck | TcpCheck | CommandCheck, ...]


@dataclass(frozen=True)
class TierSettings:
    """Everything the planner and runner need about a tier, with defaults applied."""

    name: str
    depends_on: tuple[str, ...]
    recovery_gap: int
    expected_duration: int
    max_unavailable: Capacity
    health: HealthSettings
    before_step: tuple[str, ...] | None
    after_step: tuple[str, ...] | None
    update_domain_order: tuple[int, ...] | None
    hook_env: tuple[str, ...] = ()  # names of variables hooks get from udroll's environment

    @property
    def step_duration(self) -> int:
        """Planned length of one step: maintenance, the wait before probing, and the healthy streak."""
        return self.expected_duration + self.health.wait + self.health.healthy_for

    @staticmethod
    def resolve(tier: Tier, defaults: Settings) -> TierSettings:
        def pick(name: str, fallback: Any) -> Any:
            own, default = getattr(tier, name), getattr(defaults, name)
            return own if own is not None else default if default is not None else fallback

        th, dh = tier.health or Health(), defaults.health or Health()

        def health(name: str, fallback: Any) -> Any:
            own, default = getattr(th, name), getattr(dh, name)
            return own if own is not None else default if default is not None else fallback

        hooks_t, hooks_d = tier.hooks or Hooks(), defaults.hooks or Hooks()
        return TierSettings(
            name=tier.name,
            depends_on=tier.depends_on,
            recovery_gap=pick("recovery_gap", BUILTIN.recovery_gap),
            expected_duration=pick("expected_duration", BUILTIN.expected_duration),
            max_unavailable=pick("max_unavailable", BUILTIN.max_unavailable),
            health=HealthSettings(
                wait=health("wait", BUILTIN.health.wait),
                timeout=health("timeout", BUILTIN.health.timeout),
                healthy_for=health("healthy_for", BUILTIN.health.healthy_for),
                interval=health("interval", BUILTIN.health.interval),
                checks=health("checks", ()),
            ),
            before_step=hooks_t.before_step or hooks_d.before_step,
            after_step=hooks_t.after_step or hooks_d.after_step,
            update_domain_order=tier.update_domain_order,
            hook_env=(hooks_t.env if hooks_t.env is not None else hooks_d.env) or (),
        )


@dataclass(frozen=True)
class _Builtin:
    recovery_gap: int
    expected_duration: int
    max_unavailable: Capacity
    health: HealthSettings


BUILTIN = _Builtin(
    recovery_gap=45 * 60,
    expected_duration=15 * 60,
    max_unavailable=Capacity(count=1),
    health=HealthSettings(wait=2 * 60, timeout=20 * 60, healthy_for=5 * 60, interval=15, checks=()),
)


def utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc)
