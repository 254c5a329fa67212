"""Riding out 5xx bursts, outages and throttling, checked against the emulator's request log."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from backend_support import EPOCH, HeldClock, arm_requests, as_reported, by_id, mixed_fleet

from executor.azure.backend import AzureBackend
from executor.azure.connect import connect_emulator
from executor.azure.pacing import RetrySettings
from executor.emulator import Faults
from executor.emulator.faults import Errors, Outage
from planner.errors import AzureError

pytestmark = pytest.mark.e2e

ALL_GROUPS = ["rg-data", "rg-web", "rg-idle"]


def _backend(emu: Any, **retry: Any) -> AzureBackend:
    settings = RetrySettings(rng=random.Random(1), **retry)
    return connect_emulator(
        emu.base_url, emu.ca_bundle, emu.subscription, emu.credential, clock=emu.clock, retry=settings
    )


def test_server_error_burst_is_ridden_out(make_emulator: Callable[..., Any]) -> None:
    """A third of all answers are 500/503: discovery still returns the whole fleet; each failure is
    retried once more under the same client request id, and nothing else is sent."""
    fleet = mixed_fleet()
    emu = make_emulator(
        fleet, epoch=EPOCH, faults=Faults(seed=3, page_size=2, errors=Errors(rate=0.35, status=(500, 503)))
    )
    backend = _backend(emu)
    assert by_id(backend.list_vms(ALL_GROUPS)) == as_reported(fleet.vms)
    log = arm_requests(emu)
    failed = [r for r in log if r["status"] >= 500]
    assert failed, "the seed should give some server errors"
    assert backend.policy is not None and backend.policy.stats.server_errors == len(failed)
    clean = make_emulator(fleet, epoch=EPOCH, faults=Faults(page_size=2))
    _backend(clean).list_vms(ALL_GROUPS)
    assert len(log) == len(arm_requests(clean)) + len(failed)  # each failure once more, nothing else
    per_call = Counter(r["client_request_id"] for r in log)
    ok = {r["client_request_id"] for r in log if r["status"] == 200}
    assert set(per_call) == ok  # every call ended in a 200


def test_outage_with_503_is_waited_out(make_emulator: Callable[..., Any]) -> None:
    """Resource Manager answers 503 for five simulated minutes: the client waits (Retry-After) and goes on."""
    fleet = mixed_fleet()
    outage = Outage(start=dt.timedelta(0), duration="5m", mode="unavailable")
    clock = HeldClock(EPOCH)
    emu = make_emulator(fleet, clock=clock, faults=Faults(outages=(outage,)))
    backend = _backend(emu)
    clock.go()
    vm = fleet.vms[0].id
    assert backend.status(vm).power_state == "running"
    statuses = [r["status"] for r in arm_requests(emu)]
    assert statuses[-1] == 200 and set(statuses[:-1]) == {503}
    # Retry-After: 1 (real second) = 600 simulated seconds at 600x: one wait covers the outage
    assert len(statuses) == 2


def test_refused_connections_are_retried(make_emulator: Callable[..., Any]) -> None:
    """Dropped connections (an outage that refuses) are retried with backoff on the emulator's clock."""
    fleet = mixed_fleet()
    outage = Outage(start=dt.timedelta(0), duration="5m", mode="refuse")
    clock = HeldClock(EPOCH)
    emu = make_emulator(fleet, clock=clock, faults=Faults(outages=(outage,)))
    backend = _backend(emu)
    clock.go()
    assert by_id(backend.list_vms(["rg-data"])) == as_reported(
        v for v in fleet.vms if v.resource_group == "rg-data"
    )
    log = arm_requests(emu)
    dropped = [r for r in log if r["status"] == 0]
    assert dropped and backend.policy is not None
    assert backend.policy.stats.connection_errors == len(dropped)
    assert {r["status"] for r in log if r["status"]} == {200}


def test_retries_stop_at_the_deadline(make_emulator: Callable[..., Any]) -> None:
    """An outage longer than the retry deadline ends in an Azure error (exit code 5) naming the 503."""
    fleet = mixed_fleet()
    outage = Outage(start=dt.timedelta(0), duration="3h", mode="unavailable")
    clock = HeldClock(EPOCH)
    emu = make_emulator(fleet, clock=clock, faults=Faults(outages=(outage,)))
    backend = _backend(emu, deadline_s=900)
    clock.go()
    with pytest.raises(AzureError, match="503 ServiceUnavailable") as err:
        backend.status(fleet.vms[0].id)
    assert err.value.exit_code == 5
    # Retry-After 1 real second = 600 simulated seconds: attempts at 0 and ~600 s; the next would pass 900
    assert len(arm_requests(emu)) == 2


def test_a_storm_of_status_reads_is_paced_not_throttled(make_emulator: Callable[..., Any]) -> None:
    """80 concurrent instance-view reads of one VM (its bucket holds 36, refills 12/min): all paced under
    the limit, no 429 in the emulator's log."""
    fleet = mixed_fleet()
    emu = make_emulator(fleet, epoch=EPOCH)
    backend = _backend(emu)
    vm = fleet.vms[0].id
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: backend.status(vm).power_state, range(80)))
    assert results == ["running"] * 80
    log = arm_requests(emu)
    assert len(log) == 80 and {r["status"] for r in log} == {200}


def _drained(
    make_emulator: Callable[..., Any], compute_client: Callable[..., Any], leave: int = 0, **retry: Any
) -> tuple[Any, Any, HeldClock, AzureBackend]:
    """While the clock stands still: our backend connects (with a list that leaves the bucket alone),
    then another client takes all but ``leave`` tokens of db-0's instance-view bucket."""
    fleet = mixed_fleet()
    clock = HeldClock(EPOCH, speed=6.0)  # refills 1.2 tokens a real second once it goes
    emu = make_emulator(fleet, clock=clock)
    vm = fleet.vms[0]
    backend = _backend(emu, **retry)
    backend.list_vms(["rg-idle"])  # connected: no TLS handshake delays the first timed request
    greedy = compute_client(emu, retry_total=0)
    for _ in range(36 - leave):
        greedy.virtual_machines.instance_view(vm.resource_group, vm.name)
    if not leave:
        with pytest.raises(HttpResponseError) as err:
            greedy.virtual_machines.instance_view(vm.resource_group, vm.name)
        assert err.value.status_code == 429
    return emu, vm, clock, backend


def test_throttling_by_someone_else_is_ridden_out(
    make_emulator: Callable[..., Any], compute_client: Callable[..., Any]
) -> None:
    """Another client drains a VM's instance-view bucket; our read gets 429, honours Retry-After, succeeds."""
    emu, vm, clock, backend = _drained(make_emulator, compute_client)
    drained = len(arm_requests(emu))
    clock.go()
    assert backend.status(vm.id).power_state == "running"
    ours = arm_requests(emu)[drained:]
    assert [r["status"] for r in ours] == [429, 200]
    assert ours[0]["client_request_id"] == ours[1]["client_request_id"]  # one call, retried
    assert backend.policy is not None and backend.policy.stats.throttled == 1


def test_throttled_beyond_the_attempts_says_so(
    make_emulator: Callable[..., Any], compute_client: Callable[..., Any]
) -> None:
    """With one attempt allowed, a 429 becomes an Azure error that says we were throttled."""
    _, vm, clock, backend = _drained(make_emulator, compute_client, max_attempts=1)
    clock.go()
    with pytest.raises(AzureError, match=r"throttling us.*429") as err:
        backend.status(vm.id)
    assert err.value.exit_code == 5


def test_remaining_tokens_reported_by_azure_are_respected(
    make_emulator: Callable[..., Any], compute_client: Callable[..., Any]
) -> None:
    """After another client left one token of Compute's HighCostGet policy, our list learns that from
    x-ms-ratelimit-remaining-resource (both windows named) and the next waits for the refill instead
    of drawing a 429."""
    clock = HeldClock(EPOCH, speed=6.0)
    emu = make_emulator(mixed_fleet(), clock=clock)
    backend = _backend(emu)
    list(backend.client.virtual_machines.list("rg-idle"))  # learns the policy of this kind of request
    greedy = compute_client(emu, retry_total=0)
    for _ in range(160 - 2):
        list(greedy.virtual_machines.list("rg-idle"))
    drained = len(arm_requests(emu))
    clock.go()
    for _ in range(2):
        list(backend.client.virtual_machines.list("rg-idle"))
    assert [r["status"] for r in arm_requests(emu)[drained:]] == [200, 200]
    assert backend.policy is not None and backend.policy.pacer.waited_s >= 1.0  # 160 per 180 s
