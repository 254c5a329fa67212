"""Plans to preview in tests: the bundled examples, a risky shop, and a 10,000-VM fleet."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from planner.build import build_plan
from planner.fleet import VM, Fleet, Maintenance, vm_id
from planner.load import load_spec
from planner.render.preview import Preview
from planner.spec import Spec
from planner.summary import summarize

PLANS = Path(__file__).resolve().parent.parent / "plans"
EXAMPLES = sorted(PLANS.glob("*.yaml"))
UTC = dt.timezone.utc
SUB = "11111111-2222-3333-4444-555555555555"
# A VM name that breaks HTML, Markdown tables and Mermaid task lines if any of them is not escaped;
# the <img> would make a network request if it ever reached the DOM as markup.
HOSTILE = 'web-"><img src=https://example.invalid/x.png onerror=alert(1)>|#:;%`*_[x]'


@functools.cache
def example_preview(path: Path) -> Preview:
    """A bundled example planned from its inline inventory, at its window's start (cached: it is frozen)."""
    loaded = load_spec(path)
    assert loaded.inventory is not None, f"{path.name} has no inventory to plan offline"
    start = loaded.spec.window.not_before or dt.datetime(2026, 11, 23, 21, tzinfo=UTC)
    return Preview(build_plan(loaded.spec, loaded.inventory, start), loaded.spec, loaded.inventory)


def risky_preview() -> Preview:
    """The shop with trouble: db-0's self-service window closes at the start, a hostile-named VM."""
    preview = hostile_preview()
    vms = []
    for vm in preview.fleet.vms:
        if vm.name == "db-0" and vm.maintenance and vm.maintenance.self_service_window:
            window = (vm.maintenance.self_service_window[0], START)
            vm = vm.model_copy(
                update={"maintenance": vm.maintenance.model_copy(update={"self_service_window": window})}
            )
        vms.append(vm)
    fleet = Fleet(captured_at=preview.fleet.captured_at, vms=tuple(vms))
    return Preview(build_plan(preview.spec, fleet, START), preview.spec, fleet)


def tier_deadlines_preview() -> Preview:
    """The shop where each tier has its own deadline: db's and app's fall inside the plan's span
    (START + 8h and + 26h), web's weeks after it."""
    loaded = load_spec(PLANS / "three-tier-shop.yaml")
    assert loaded.inventory is not None
    ends = {"db": START + dt.timedelta(hours=8), "vmss-app": START + dt.timedelta(hours=26)}
    vms = []
    for vm in loaded.inventory.vms:
        end = ends.get("db" if vm.name.startswith("db-") else vm.scale_set or "")
        if end is not None and vm.maintenance and vm.maintenance.self_service_window:
            window = (vm.maintenance.self_service_window[0], end)
            vm = vm.model_copy(
                update={"maintenance": vm.maintenance.model_copy(update={"self_service_window": window})}
            )
        vms.append(vm)
    fleet = Fleet(captured_at=loaded.inventory.captured_at, vms=tuple(vms))
    return Preview(build_plan(loaded.spec, fleet, START), loaded.spec, fleet)


def hostile_preview() -> Preview:
    """A fleet where every planned web VM has a hostile name (so it is planned, not blocked)."""
    loaded = load_spec(PLANS / "three-tier-shop.yaml")
    assert loaded.inventory is not None
    web = next(vm for vm in loaded.inventory.vms if vm.name == "web-2")
    hostile = web.model_copy(update={"name": HOSTILE, "ephemeral_os_disk": True})
    fleet = Fleet(
        captured_at=loaded.inventory.captured_at,
        vms=(*loaded.inventory.vms, hostile.model_copy(update={"id": vm_id(SUB, hostile)})),
    )
    return Preview(build_plan(loaded.spec, fleet, START), loaded.spec, fleet)


START = dt.datetime(2026, 11, 23, 21, tzinfo=UTC)
_MAINTENANCE = Maintenance(
    customer_initiated_allowed=True,
    self_service_window=(dt.datetime(2026, 11, 20, tzinfo=UTC), dt.datetime(2026, 12, 24, tzinfo=UTC)),
    scheduled_window=(dt.datetime(2026, 12, 28, tzinfo=UTC), dt.datetime(2027, 1, 10, tzinfo=UTC)),
)


def big_fleet() -> Fleet:
    """10,000 VMs: 20 availability sets, 40 uniform and 29 flexible scale sets, 3,000 zonal VMs."""
    vms: list[VM] = []

    def add(**fields: object) -> None:
        vm = VM.model_validate({"id": "", "location": "westeurope", **fields}).model_copy(
            update={"maintenance": _MAINTENANCE}
        )
        vms.append(vm.model_copy(update={"id": vm_id(SUB, vm)}))

    for s in range(20):
        for i in range(5):
            add(name=f"db{s:02d}-{i}", resource_group="rg-db", availability_set=f"as-db{s:02d}",
                update_domain=i, fault_domain=i % 3, tags={"role": "db"})  # fmt: skip
    for s in range(40):
        for i in range(100):
            add(name=f"app{s:02d}_{i}", resource_group="rg-app", scale_set=f"vmss-app{s:02d}",
                orchestration="Uniform", instance_id=str(i), update_domain=i % 5, fault_domain=i % 3,
                tags={"role": "app"})  # fmt: skip
    for i in range(3000):
        add(name=f"web-{i:04d}", resource_group=f"rg-web{i % 10}", zone=str(i % 3 + 1), tags={"role": "web"})
    for s in range(29):
        for i in range(100):
            add(name=f"batch{s:02d}-{i:03d}", resource_group="rg-batch", scale_set=f"vmss-batch{s:02d}",
                orchestration="Flexible", fault_domain=i % 3, tags={"role": "batch"})  # fmt: skip
    return Fleet(captured_at=dt.datetime(2026, 11, 22, tzinfo=UTC), vms=tuple(vms))


def big_spec() -> Spec:
    return Spec.model_validate(
        {
            "version": 1,
            "name": "fleet-10k",
            "subscription": SUB,
            "defaults": {"recovery_gap": "45m", "expected_duration": "15m", "max_unavailable": "10%"},
            "window": {
                "not_before": "2026-11-23T21:00:00Z",
                "timezone": "Europe/Berlin",
                "hours": "22:00-06:00",
                "cutoff": "30m",
            },
            "limits": {"max_parallel_steps": 40},
            "tiers": [
                {
                    "name": "db",
                    "select": {"resource_group": "rg-db"},
                    "max_unavailable": 20,
                    "recovery_gap": "60m",
                },
                {"name": "app", "depends_on": ["db"], "select": {"resource_group": "rg-app"}},
                {"name": "web", "depends_on": ["app"], "select": {"tags": {"role": "web"}}},
                {"name": "batch", "select": {"resource_group": "rg-batch"}},
            ],
        }
    )


@functools.lru_cache(maxsize=1)
def big_preview() -> Preview:
    """The 10,000-VM plan. Its summary skips the latest-start search (a dozen re-plans) to stay quick."""
    spec, fleet = big_spec(), big_fleet()
    plan = build_plan(spec, fleet, START)
    preview = Preview(plan, spec, fleet)
    preview.__dict__["summary"] = summarize(
        plan, spec, fleet, search_latest_start=False
    )  # seeds cached_property
    return preview


@functools.lru_cache(maxsize=1)
def standalone_preview() -> Preview:
    """10,000 standalone regional VMs: each its own group, so 10,000 lanes and steps (the size worst case)."""
    vms = []
    for i in range(10_000):
        vm = VM.model_validate(
            {"id": "", "name": f"vm-{i:05d}", "resource_group": f"rg-{i % 50:02d}", "tags": {"role": "w"}}
        ).model_copy(update={"maintenance": _MAINTENANCE})
        vms.append(vm.model_copy(update={"id": vm_id(SUB, vm)}))
    fleet = Fleet(captured_at=START, vms=tuple(vms))
    spec = Spec.model_validate(
        {
            "version": 1,
            "name": "standalone-10k",
            "subscription": SUB,
            "defaults": {"max_unavailable": "5%"},
            "limits": {"max_parallel_steps": 200},
            "tiers": [{"name": "w", "select": {"tags": {"role": "w"}}}],
        }
    )
    plan = build_plan(spec, fleet, START)
    preview = Preview(plan, spec, fleet)
    preview.__dict__["summary"] = summarize(plan, spec, fleet, search_latest_start=False)
    return preview


def empty_preview() -> Preview:
    """The shop with nothing pending: every VM skipped, no step at all."""
    loaded = load_spec(PLANS / "three-tier-shop.yaml")
    assert loaded.inventory is not None
    vms = tuple(vm.model_copy(update={"maintenance": None}) for vm in loaded.inventory.vms)
    fleet = Fleet(captured_at=loaded.inventory.captured_at, vms=vms)
    return Preview(build_plan(loaded.spec, fleet, START), loaded.spec, fleet)
