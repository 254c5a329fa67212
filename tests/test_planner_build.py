"""build_plan by example: grouping and step ids, splitting, reasons for skipped and unschedulable VMs,
what no longer blocks what, the two-tier error, the fingerprint, the critical path and the summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from plan_rules import violations

from planner.build import build_plan
from planner.errors import SpecError
from planner.fleet import VM, Fleet
from planner.graph import critical_path
from planner.load import load_spec
from planner.plan import Relaxed
from planner.spec import Spec
from planner.summary import summarize

UTC = dt.timezone.utc
START = dt.datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
SUB = "11111111-2222-3333-4444-555555555555"
SHOP = Path(__file__).resolve().parent.parent / "plans" / "three-tier-shop.yaml"
WINDOW = {
    "customer_initiated_allowed": True,
    "self_service_window": ["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"],
    "scheduled_window": ["2026-12-28T00:00:00Z", "2027-01-10T00:00:00Z"],
}


def vm(name: str, rg: str = "rg", maintenance: Any = WINDOW, **facts: Any) -> VM:
    base = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute"
    if facts.get("orchestration") == "Uniform":
        vm_id = f"{base}/virtualMachineScaleSets/{facts['scale_set']}/virtualMachines/{facts['instance_id']}"
    else:
        vm_id = f"{base}/virtualMachines/{name}"
    return VM.model_validate(
        {"id": vm_id, "name": name, "resource_group": rg, "maintenance": maintenance, **facts}
    )


def spec(*tiers: dict[str, Any], **top: Any) -> Spec:
    return Spec.model_validate({"version": 1, "name": "t", "tiers": list(tiers), **top})


def plan_of(s: Spec, *vms: VM, start: dt.datetime = START):
    fleet = Fleet(captured_at=START, vms=vms)
    plan = build_plan(s, fleet, start)
    assert violations(plan, s, fleet) == []
    return plan


def test_the_shop_walks_db_in_its_order_then_app_then_web() -> None:
    """The bundled shop: db in UD order 2, 0, 1; app split to one VM per step; web by zone, two at a time."""
    loaded = load_spec(SHOP)
    plan = build_plan(loaded.spec, loaded.inventory, START)
    assert [s.id for s in plan.steps] == [
        "db/as-db/ud2",
        "db/as-db/ud0",
        "db/as-db/ud1",
        "app/vmss-app/ud0/1",
        "app/vmss-app/ud0/2",
        "app/vmss-app/ud1/1",
        "app/vmss-app/ud1/2",
        "web/zonal/zone1",
        "web/zonal/zone2",
        "web/zonal/zone3",
    ]
    assert plan.step("app/vmss-app/ud0/1").after == ("db/as-db/ud1",)
    assert plan.step("db/as-db/ud0").start_offset_s == 1320 + 3600  # 22m step, then the 60m db gap
    assert [(s.vm.rsplit("/", 1)[1], s.reason) for s in plan.skipped] == [
        ("web-6", "maintenance already completed"),
        ("web-7", "no maintenance pending"),
    ]
    assert violations(plan, loaded.spec, loaded.inventory) == []


def test_each_kind_of_group_is_walked_by_its_domain() -> None:
    """Sets by update domain, zonal VMs and flexible sets by zone or fault domain, a lone VM alone."""
    s = spec({"name": "a", "select": {"resource_group": "rg"}, "max_unavailable": "100%"})
    plan = plan_of(
        s,
        vm("as-0", availability_set="as-x", update_domain=1),
        vm("ss_3", scale_set="ss", orchestration="Uniform", instance_id="3", update_domain=4),
        vm("flex-z", scale_set="fz", orchestration="Flexible", zone="2"),
        vm("flex-r", scale_set="fr", orchestration="Flexible", fault_domain=1),
        vm("zonal-1", zone="3"),
        vm("lonely"),
    )
    found = {s.id: (s.group, s.domain) for s in plan.steps}
    assert found == {
        "a/as-x/ud1": ("rg/as-x", 1),
        "a/ss/ud4": ("rg/ss", 4),
        "a/fz/zone2": ("rg/fz", "2"),
        "a/fr/fd1": ("rg/fr", 1),
        "a/zonal/zone3": ("*/zonal:a", "3"),
        "a/lonely": ("rg/lonely", 0),
    }


def test_a_set_spelled_two_ways_is_named_as_its_vm_with_the_least_id_spells_it() -> None:
    """ARM names ignore case: one group, named by its VM with the least id, in either fleet order."""
    s = spec({"name": "a", "select": {"resource_group": "rg"}, "max_unavailable": "100%"})
    later = vm("b-1", availability_set="AS-X", update_domain=0)
    least = vm("a-1", availability_set="as-x", update_domain=1)
    for vms in ((later, least), (least, later)):
        plan = plan_of(s, *vms)
        assert [(s.id, s.group) for s in plan.steps] == [("a/as-x/ud0", "rg/as-x"), ("a/as-x/ud1", "rg/as-x")]


def test_update_domain_order_puts_unlisted_domains_after_in_ascending_order() -> None:
    """`update_domain_order: [3, 1]` walks 3, 1, then 0, 2."""
    s = spec({"name": "db", "select": {"resource_group": "rg"}, "update_domain_order": [3, 1]})
    plan = plan_of(s, *(vm(f"db-{u}", availability_set="as", update_domain=u) for u in range(4)))
    assert [s.domain for s in plan.steps] == [3, 1, 0, 2]


def test_a_domain_larger_than_max_unavailable_is_split_into_parts() -> None:
    """Five VMs in one zone with max_unavailable 2 become parts /1, /2, /3 of 2, 2 and 1 VMs."""
    s = spec({"name": "web", "select": {"resource_group": "rg"}, "max_unavailable": 2})
    plan = plan_of(s, *(vm(f"web-{i}", zone="1") for i in range(5)))
    assert [(s.id, len(s.vms)) for s in plan.steps] == [
        ("web/zonal/zone1/1", 2),
        ("web/zonal/zone1/2", 2),
        ("web/zonal/zone1/3", 1),
    ]


def test_zonal_vms_of_a_tier_in_two_resource_groups_are_one_group_walked_zone_by_zone() -> None:
    """Zonal VMs of one tier in rg-a and rg-b form one group, */zonal:web: zone 1 of both resource
    groups is one domain, and zone 2 waits for its recovery gap (DESIGN §11)."""
    s = spec(
        {
            "name": "web",
            "select": [{"resource_group": "rg-a"}, {"resource_group": "rg-b"}],
            "max_unavailable": 2,
        }
    )
    plan = plan_of(
        s, vm("a1", rg="rg-a", zone="1"), vm("b1", rg="rg-b", zone="1"), vm("a2", rg="rg-a", zone="2")
    )
    assert [(s.id, s.group, len(s.vms)) for s in plan.steps] == [
        ("web/zonal/zone1", "*/zonal:web", 2),
        ("web/zonal/zone2", "*/zonal:web", 1),
    ]
    first, second = plan.steps
    assert second.start_offset_s == first.end_offset_s + first.gap_after_s


@pytest.mark.parametrize(
    ("facts", "what"),
    [
        ({"availability_set": "as"}, "update domain unknown"),
        ({"scale_set": "ss", "orchestration": "Uniform", "instance_id": "7"}, "update domain unknown"),
        ({"scale_set": "fr", "orchestration": "Flexible"}, "fault domain unknown"),
    ],
)
def test_a_vm_whose_domain_is_unknown_is_unschedulable_never_put_in_domain_0(
    facts: dict[str, Any], what: str
) -> None:
    """A set member with no update domain (or a regional flexible member with no fault domain) is
    unschedulable with the reason; the known VMs are still walked, domain 0 holds only real UD0 VMs."""
    s = spec({"name": "db", "select": {"resource_group": "rg"}, "max_unavailable": "100%"})
    known = {k: v for k, v in facts.items() if k != "instance_id"}
    if facts.get("orchestration") == "Uniform":
        known["instance_id"] = "0"
    known[("fault_domain" if facts.get("orchestration") == "Flexible" else "update_domain")] = 0
    plan = plan_of(s, vm("db-lost", **facts), vm("db-0", **known))
    assert [u.reason for u in plan.unschedulable] == [
        f"{what}: rediscover, or give it in the inventory; "
        "Azure will maintain it in its scheduled window from 2026-12-28T00:00:00Z"
    ]
    assert [len(s.vms) for s in plan.steps] == [1]


def test_a_zonal_flexible_member_without_a_zone_is_unschedulable() -> None:
    """In a flexible scale set whose members are zonal, a member with no zone is not walked by its
    fault domain: its zone is unknown, so it is unschedulable; its dependent tier still runs (coverage
    first) after the planned steps, and the plan names the relaxed dependency."""
    s = spec(
        {"name": "app", "select": {"resource_group": "rg"}},
        {"name": "web", "select": {"resource_group": "rg-web"}, "depends_on": ["app"]},
    )
    flex = {"scale_set": "fz", "orchestration": "Flexible"}
    plan = plan_of(s, vm("z1", zone="1", **flex), vm("z-lost", fault_domain=1, **flex), vm("w", rg="rg-web"))
    reasons = {u.vm.rsplit("/", 1)[1]: u.reason for u in plan.unschedulable}
    assert reasons["z-lost"].startswith("zone unknown (its scale set's other members are zonal)")
    assert [s.id for s in plan.steps] == ["app/fz/zone1", "web/w"]
    assert "w" not in reasons
    assert [(r.tier, r.depends_on, r.vms) for r in plan.relaxed] == [("web", "app", 1)]


def test_a_vm_that_cannot_fit_names_its_deadline_and_when_azure_does_it() -> None:
    """The reason says when the self-service window ends and when Azure's scheduled window begins."""
    tight = {**WINDOW, "self_service_window": ["2026-11-20T00:00:00Z", "2026-11-23T21:10:00Z"]}
    s = spec({"name": "db", "select": {"resource_group": "rg"}})
    plan = plan_of(s, vm("db-0", availability_set="as", update_domain=0, maintenance=tight))
    assert plan.steps == ()
    assert plan.unschedulable[0].reason == (
        "does not fit before the self-service window ends 2026-11-23T21:10:00Z; "
        "Azure will maintain it in its scheduled window from 2026-12-28T00:00:00Z"
    )


def test_an_early_deadline_goes_first() -> None:
    """Of two independent groups the one whose self-service window ends first is scheduled first."""
    soon = {**WINDOW, "self_service_window": ["2026-11-20T00:00:00Z", "2026-11-24T00:00:00Z"]}
    s = spec({"name": "a", "select": {"resource_group": "rg"}}, limits={"max_parallel_steps": 1})
    plan = plan_of(s, vm("a-late"), vm("z-soon", maintenance=soon))
    assert [st.id for st in plan.steps] == ["a/z-soon", "a/a-late"]


def test_skipped_and_not_allowed_vms_have_reasons_and_a_warning() -> None:
    """Nothing pending and completed VMs are skipped; a not-allowed VM is unschedulable and warned of."""
    s = spec({"name": "a", "select": {"resource_group": "rg"}})
    done = {**WINDOW, "last_result": "MaintenanceCompleted"}
    refused = {**WINDOW, "customer_initiated_allowed": False}
    plan = plan_of(
        s, vm("idle", maintenance=None), vm("done", maintenance=done), vm("refused", maintenance=refused)
    )
    assert {x.vm.rsplit("/", 1)[1]: x.reason for x in plan.skipped} == {
        "idle": "no maintenance pending",
        "done": "maintenance already completed",
    }
    assert plan.unschedulable[0].reason == (
        "Azure does not allow customer-initiated maintenance on it; "
        "Azure will maintain it in its scheduled window from 2026-12-28T00:00:00Z"
    )
    assert [w.code for w in plan.warnings] == ["not-allowed"]


def test_a_tier_with_unschedulable_vms_no_longer_holds_back_its_dependents() -> None:
    """app keeps a VM Azure will not let us touch: web still runs after app's planned step, and the
    plan names the relaxed dependency."""
    refused = {**WINDOW, "customer_initiated_allowed": False}
    s = spec(
        {"name": "app", "select": {"resource_group": "rg-app"}},
        {"name": "web", "depends_on": ["app"], "select": {"resource_group": "rg-web"}},
    )
    plan = plan_of(
        s,
        vm("app-0", rg="rg-app", maintenance=refused),
        vm("app-1", rg="rg-app"),
        vm("web-0", rg="rg-web", zone="1"),
    )
    app, web = plan.steps
    assert (app.id, web.id) == ("app/app-1", "web/zonal/zone1")
    assert web.after == (app.id,) and web.start_offset_s >= app.end_offset_s + 45 * 60
    assert [u.vm.rsplit("/", 1)[1] for u in plan.unschedulable] == ["app-0"]
    assert plan.relaxed == (Relaxed("web", "app", 1),)
    assert plan.to_dict()["relaxed"] == [{"tier": "web", "depends_on": "app", "vms": 1}]


def test_a_group_stops_at_its_first_step_that_cannot_fit() -> None:
    """UD 0 fits but UD 1 misses its deadline: UD 2 is not maintained out of order after it."""
    tight = {**WINDOW, "self_service_window": ["2026-11-20T00:00:00Z", "2026-11-23T22:00:00Z"]}
    s = spec({"name": "db", "select": {"resource_group": "rg"}})
    plan = plan_of(
        s,
        vm("db-0", availability_set="as", update_domain=0),
        vm("db-1", availability_set="as", update_domain=1, maintenance=tight),
        vm("db-2", availability_set="as", update_domain=2),
    )
    assert [st.id for st in plan.steps] == ["db/as/ud0"]
    reasons = {u.vm.rsplit("/", 1)[1]: u.reason for u in plan.unschedulable}
    assert reasons["db-1"].startswith("does not fit before the self-service window ends")
    assert reasons["db-2"].startswith("waits for step db/as/ud1 of its group")


def test_an_empty_tier_passes_its_dependency_on() -> None:
    """web -> app -> db with nothing to do in app: web still starts only after db's gap."""
    s = spec(
        {"name": "db", "select": {"resource_group": "rg-db"}},
        {"name": "app", "depends_on": ["db"], "select": {"resource_group": "rg-app"}},
        {"name": "web", "depends_on": ["app"], "select": {"resource_group": "rg-web"}},
    )
    plan = plan_of(
        s, vm("db-0", rg="rg-db"), vm("app-0", rg="rg-app", maintenance=None), vm("web-0", rg="rg-web")
    )
    db, web = plan.steps
    assert web.start_offset_s == db.end_offset_s + 45 * 60
    assert web.after == (db.id,)


def test_a_vm_selected_by_two_tiers_is_a_spec_error_naming_both() -> None:
    """The error names the VM (rg/name) and both tiers."""
    s = spec({"name": "a", "select": {"resource_group": "rg"}}, {"name": "b", "select": {"tags": {"x": "1"}}})
    with pytest.raises(SpecError) as info:
        build_plan(s, Fleet(captured_at=START, vms=(vm("both", tags={"x": "1"}),)), START, source="s.yaml")
    assert "s.yaml:1:1: tiers 'a' and 'b' both select 1 VM (rg/both)" in str(info.value)


def test_without_limits_the_makespan_is_the_lower_bound() -> None:
    """Two tiers, no window, capacity for all: the plan takes exactly the critical path."""
    s = spec(
        {"name": "db", "select": {"resource_group": "rg-db"}, "max_unavailable": "100%"},
        {
            "name": "app",
            "depends_on": ["db"],
            "select": {"resource_group": "rg-app"},
            "max_unavailable": "100%",
        },
    )
    plan = plan_of(
        s,
        *(vm(f"db-{u}", rg="rg-db", availability_set="as", update_domain=u) for u in range(3)),
        *(vm(f"app-{z}", rg="rg-app", zone=str(z)) for z in (1, 2)),
    )
    step, gap = 22 * 60, 45 * 60
    assert plan.lower_bound_s == plan.makespan_s == 5 * step + 4 * gap


def test_fingerprint_follows_the_facts_not_their_order() -> None:
    """The fingerprint is sha256 of the inputs: a changed fact changes it, a reordered fleet does not."""
    s = spec({"name": "a", "select": {"resource_group": "rg"}})
    vms = (vm("a"), vm("b"))
    one = build_plan(s, Fleet(captured_at=START, vms=vms), START).fingerprint
    assert one.startswith("sha256:") and len(one) == 7 + 64
    assert build_plan(s, Fleet(captured_at=START, vms=vms[::-1]), START).fingerprint == one
    changed = (vm("a"), vm("b", zone="1"))
    assert build_plan(s, Fleet(captured_at=START, vms=changed), START).fingerprint != one


def test_critical_path_and_summary_of_the_shop() -> None:
    """The shop's critical path runs through every step; the summary gives its figures."""
    loaded = load_spec(SHOP)
    plan = build_plan(loaded.spec, loaded.inventory, START)
    assert critical_path(plan) == [s.id for s in plan.steps]
    summary = summarize(plan, loaded.spec, loaded.inventory)
    assert summary.makespan_s == plan.makespan_s and summary.lower_bound_s == plan.lower_bound_s
    assert summary.earliest_deadline == dt.datetime(2026, 12, 24, tzinfo=UTC)
    assert summary.slack_s == int((summary.earliest_deadline - plan.steps[-1].end).total_seconds()) - 30 * 60
    assert (summary.skipped, summary.unschedulable, summary.vms_planned) == (2, 0, 12)
    assert summary.latest_start is not None and summary.latest_start > plan.start
    later = build_plan(loaded.spec, loaded.inventory, summary.latest_start)
    assert later.unschedulable == ()


def test_when_the_operator_window_binds_the_reason_says_so() -> None:
    """A VM whose self-service window has room, but not inside window.not_after, blames the window."""
    s = spec({"name": "db", "select": {"resource_group": "rg"}}, window={"not_after": "2026-11-23T21:15:00Z"})
    plan = plan_of(s, vm("db-0"))
    assert plan.unschedulable[0].reason.startswith(
        "does not fit in the operator window's allowed time before the self-service window ends 2026-12-24T00:00:00Z"
    )


def test_the_longest_remaining_path_goes_first() -> None:
    """With one step at a time, the tier that others wait for starts before an independent one."""
    s = spec(
        {"name": "a", "select": {"resource_group": "rg-a"}},
        {"name": "b", "select": {"resource_group": "rg-b"}},
        {"name": "c", "depends_on": ["b"], "select": {"resource_group": "rg-c"}},
        limits={"max_parallel_steps": 1},
    )
    plan = plan_of(s, vm("a-0", rg="rg-a"), vm("b-0", rg="rg-b"), vm("c-0", rg="rg-c"))
    assert [st.id for st in plan.steps] == ["b/b-0", "a/a-0", "c/c-0"]


def test_the_collector_is_paused_only_inside_and_left_as_it_was() -> None:
    """gc_paused turns the cyclic collector off inside its block and back on after it, even after an
    error, but leaves it off when it was off (a caller's own pause holds)."""
    import gc

    from planner.gcpause import gc_paused

    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        assert not gc.isenabled()
        raise ValueError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
