"""Baselines at fleet scale (issue 18 item 1): judged against the steps in flight when the verdict is
made, and shared by the steps of a tier. Fake clock and scripted backend: the timings are exact."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from executor_support import Harness, harness

from executor.run.gates import Check, Probe, Target
from planner.load import parse_spec

T0 = dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.timezone.utc)
END = "2026-12-24T00:00:00Z"
Work = dict[str, tuple[Target, Sequence[Check]]]


def spec(opens: dict[str, int], timeout: str = "10m", healthy_for: str = "2m") -> str:
    """One tier of one-VM availability sets (one step each, all allowed down together); VM ``name``'s
    self-service window opens ``opens[name]`` seconds after T0, so its step cannot start before."""
    vms = "".join(
        f"""  - {{name: {name}, resource_group: rg-web, availability_set: as-{i}, update_domain: 0,
     maintenance: {{customer_initiated_allowed: true,
                    self_service_window: ["{(T0 + dt.timedelta(seconds=at)).isoformat()}", "{END}"]}}}}
"""
        for i, (name, at) in enumerate(opens.items())
    )
    return f"""
version: 1
name: race
subscription: 11111111-2222-3333-4444-555555555555
defaults:
  recovery_gap: 31m
  expected_duration: 10m
  max_unavailable: 100%
  health: {{wait: 1m, timeout: {timeout}, healthy_for: {healthy_for}, interval: 15s,
           checks: [{{http: "https://{{name}}.race.internal/healthz"}}]}}
window: {{not_before: {T0.isoformat()}}}
tiers:
  - {{name: web, select: {{resource_group: rg-web}}}}
inventory:
{vms}"""


def tier(tmp_path: Path, opens: dict[str, int], timeout: str = "10m") -> Harness:
    return harness(tmp_path, parse_spec(spec(opens, timeout), "race.yaml"))


def down_until(
    h: Harness, name: str, until: dt.datetime, before: Callable[[Work], object] | None = None
) -> str:
    """Make VM ``name``'s application fail its probes until ``until`` (``before(work)`` is called at
    the start of each round); returns its id."""
    vm = next(v.id for v in h.fleet.vms if v.name == name)
    scripted = h.backend.prober

    def prober(work: Work) -> dict[str, list[Probe]]:
        if before is not None:
            before(work)
        out = scripted(work)
        if vm in out and h.clock.now() < until:
            out[vm] = [Probe("scripted", name, False, "application down")]
        return out

    h.backend.prober = prober  # type: ignore[method-assign]
    return vm


def test_a_step_starting_while_a_baseline_waits_is_not_counted_unhealthy(tmp_path: Path) -> None:
    """web-1's own application is down until 8 min, so its step's baseline waits; web-2's step starts
    at 5 min (its window opens) and takes web-2 down for its maintenance. When web-1 recovers, its
    baseline judges web-2 as in flight, not as "already unhealthy": both steps complete."""
    h = tier(tmp_path, {"web-1": 0, "web-2": 300})
    web1 = down_until(h, "web-1", T0 + dt.timedelta(minutes=8))
    outcome = h.run()
    assert outcome.state == "completed", (outcome, [s.error for s in h.journal.steps()])
    started = {h.plan.step(row.id).vms[0]: row.started_at for row in h.journal.steps()}
    assert started[web1] == T0 and max(started.values()) == T0 + dt.timedelta(minutes=5)
    waited = [e.message for e in h.reporter.of("baseline") if "waiting" in e.message]
    assert waited and all("web-2" not in m for m in waited)  # only web-1 was ever reported


def test_steps_of_a_tier_starting_within_the_tolerance_share_one_probe_round(tmp_path: Path) -> None:
    """Three availability sets whose steps start 0, 30 and 50 s apart: the round at 0 (younger than the gates'
    60 s tolerance) serves the two later steps, so each VM gets one baseline probe, not up to three."""
    h = tier(tmp_path, {"web-1": 0, "web-2": 30, "web-3": 50})
    baseline: Counter[str] = Counter()
    scripted = h.backend.prober
    gating: set[str] = set()

    def prober(work: Work) -> dict[str, list[Probe]]:
        for vm in work:
            if vm not in gating:
                baseline[vm] += 1
        return scripted(work)

    h.reporter.on_event = lambda e: gating.add(e.vm) if e.kind == "vm-running" and e.vm else None
    h.backend.prober = prober  # type: ignore[method-assign]
    assert h.run().state == "completed"
    assert sorted(baseline.values()) == [1, 1, 1], baseline
    rows = [r for r in h.journal.gates() if r["kind"].startswith("baseline:")]
    assert len(rows) == 3


def test_an_unhealthy_verdict_comes_from_a_fresh_probe(tmp_path: Path) -> None:
    """A VM that failed a probe is probed again by the next baseline round (never judged from an old
    failure): web-2's step waits while web-1 is down and starts in the round after it recovers."""
    h = tier(tmp_path, {"web-1": 1800, "web-2": 0})
    calls: Counter[str] = Counter()
    web1 = down_until(h, "web-1", T0 + dt.timedelta(minutes=2), lambda work: calls.update(list(work)))
    assert h.run().state == "completed"
    web2 = next(r for r in h.journal.steps() if h.plan.step(r.id).vms[0] != web1)
    first_healthy = T0 + dt.timedelta(minutes=2)
    assert web2.started_at == T0 and web2.ended_at is not None
    triggered = [e.at for e in h.reporter.of("vm-triggered") if e.vm != web1]
    assert triggered == [first_healthy]  # the round at 2:00 saw web-1 healthy, not the 1:45 failure
    assert calls[web1] >= 9  # 0:00, 0:15, ... 2:00 before web-2's trigger
