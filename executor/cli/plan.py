"""`udroll plan`: the dry-run preview of a rollout (DESIGN §8)."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from executor.azure.connect import AzureOptions, azure_options
from executor.cli.common import emit_text
from executor.cli.display import display_zone, text_width, tz_option, wide_option
from executor.run.clock import Clock, SystemClock
from planner.build import DEFAULT_OPTIMIZE_S, build_plan
from planner.errors import UnschedulableError
from planner.fleet import Fleet, load_fleet
from planner.gcpause import gc_paused
from planner.load import LoadedSpec, load_spec
from planner.render import RENDERERS, Preview
from planner.timefmt import plural
from planner.values import format_duration, parse_duration, parse_timestamp

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Planning:
    """What --optimize and --seed said: the solver's budget in seconds (0: greedy only) and seed."""

    optimize_s: float = DEFAULT_OPTIMIZE_S
    seed: int = 0


def optimize_options(command: F) -> F:
    """Add --optimize and --seed (`udroll plan`, `udroll run`); pass them as ``planning``."""

    @click.option(
        "--optimize",
        "optimize_text",
        default=format_duration(int(DEFAULT_OPTIMIZE_S)),
        show_default=True,
        metavar="DURATION",
        help="Budget of the exact solver that improves the greedy plan (CP-SAT's deterministic time, "
        "about a second each on an idle core); 0 for the greedy only. Same budget and seed, same plan.",
    )
    @click.option("--seed", default=0, show_default=True, help="The solver's random seed.")
    @functools.wraps(command)
    def wrapper(*args: Any, optimize_text: str, seed: int, **kwargs: Any) -> Any:
        kwargs["planning"] = Planning(optimize_budget(optimize_text), seed)
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@click.command("plan")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--fleet",
    "fleet_path",
    type=click.Path(dir_okay=False),
    help="Fleet snapshot (udroll/fleet@1); default: the spec's inventory.",
)
@click.option(
    "--start",
    "start_text",
    metavar="TIMESTAMP",
    help="Plan start, ISO 8601 with a zone; default: window.not_before, else now (next minute).",
)
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(sorted(RENDERERS)),
    default="table",
    show_default=True,
    help="Preview format.",
)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write the preview to FILE.")
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Exit 0 even when some VMs cannot be scheduled (they are listed with reasons).",
)
@optimize_options
@tz_option
@wide_option
@azure_options
@click.pass_context
def plan(
    ctx: click.Context,
    spec: str,
    fleet_path: str | None,
    start_text: str | None,
    fmt: str,
    out_path: str | None,
    allow_partial: bool,
    planning: Planning,
    tz: str | None,
    wide: bool,
    azure: AzureOptions,
) -> None:
    """Preview the timed plan of a rollout: a dry run that changes nothing in Azure.

    The fleet comes from --fleet, else the spec's inventory, else live discovery of the resource
    groups the spec's selectors name. Exits 0, 2 for invalid input (e.g. a VM selected by two
    tiers), 3 when VMs cannot be scheduled (the preview is still written; --allow-partial exits 0).

    \b
    Example:
      udroll plan plans/three-tier-shop.yaml
      udroll plan spec.yaml --fleet fleet.json --start 2026-11-23T22:00:00+01:00 -o json --out plan.json
      udroll plan spec.yaml --optimize 10s
    """
    zone = display_zone(tz)  # a bad --tz before any planning
    loaded = load_spec(spec)
    zone = zone if tz is not None else display_zone(None, loaded.spec.window.timezone)
    with gc_paused():  # once for reading, planning and writing, not at each (see planner.gcpause)
        fleet = _fleet_for(loaded, fleet_path, azure, ctx.find_root().obj)
        start = _start(loaded, start_text, _clock(ctx))
        count = _plan_and_write(loaded, fleet, start, planning, fmt, out_path, fleet_path, (zone, wide))
        del fleet  # freed before the collector is back
    if count and not allow_partial:
        raise UnschedulableError(
            f"{plural(count, 'VM')} cannot be scheduled (reasons listed in the preview); "
            "Azure will maintain them in its scheduled window. Pass --allow-partial to accept the plan "
            "without them."
        )


def _plan_and_write(
    loaded: LoadedSpec,
    fleet: Fleet,
    start: dt.datetime,
    planning: Planning,
    fmt: str,
    out_path: str | None,
    fleet_path: str | None,
    shown: tuple[dt.tzinfo, bool],
) -> int:
    """Plan, write the preview to ``out_path`` (else stdout), and return how many VMs are
    unschedulable (the plan is dropped on return: a big one is freed before the collector runs)."""
    budget, seed = planning.optimize_s, planning.seed
    result = build_plan(loaded.spec, fleet, start, source=loaded.file, optimize_s=budget, seed=seed)
    to_terminal = out_path is None and sys.stdout.isatty()
    preview = Preview(
        result,
        loaded.spec,
        fleet,
        width=text_width(to_terminal),
        color=to_terminal,
        source=loaded.file,
        fleet_path=fleet_path,
        tz=shown[0],
        wide=shown[1],
    )
    text = RENDERERS[fmt](preview)
    emit_text(text, out_path)
    if out_path is not None:
        click.echo(f"wrote {fmt} preview of {plural(len(result.steps), 'step')} to {out_path}", err=True)
    return len(result.unschedulable)


def optimize_budget(text: str) -> float:
    """``--optimize``: 0, or a duration (``10s``, ``1m``) in seconds."""
    if text.strip() == "0":
        return 0.0
    try:
        return float(parse_duration(text))
    except ValueError as exc:
        raise click.BadParameter(f"{exc}; or 0 for the greedy plan only", param_hint="--optimize") from None


def _fleet_for(
    loaded: LoadedSpec, fleet_path: str | None, azure: AzureOptions | None = None, obj: Any = None
) -> Fleet:
    """Where the fleet facts come from: --fleet, else the spec's inventory, else live discovery
    (backend) of the resource groups the spec's selectors name, with the Azure options."""
    if fleet_path is not None:
        return load_fleet(fleet_path)
    if loaded.inventory is not None:
        return loaded.inventory
    from executor.cli.azure import live_fleet  # Azure only when neither snapshot nor inventory

    return live_fleet(loaded.spec, azure or AzureOptions(), obj)


def _start(loaded: LoadedSpec, text: str | None, clock: Clock) -> dt.datetime:
    if text is not None:
        try:
            return parse_timestamp(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--start") from None
    if loaded.spec.window.not_before is not None:
        return loaded.spec.window.not_before
    now = clock.now().astimezone(dt.timezone.utc)
    rounded = now.replace(second=0, microsecond=0)
    return rounded if rounded == now else rounded + dt.timedelta(minutes=1)


def _clock(ctx: click.Context) -> Clock:
    """The clock from the click context (tests pass ``obj={"clock": FakeClock(...)}``), else real time."""
    obj: Any = ctx.find_root().obj
    found = obj.get("clock") if isinstance(obj, dict) else getattr(obj, "clock", None)
    return found if found is not None else SystemClock()
