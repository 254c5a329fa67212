"""Throttling from Compute's documented token buckets: headers on every answer, 429 when a bucket is dry."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from azure.core.exceptions import HttpResponseError

from executor.emulator import Faults
from executor.emulator.throttle import (
    ARM_READS,
    HIGH_COST_GET,
    INSTANCE_VIEW_VM,
    PERFORM_MAINTENANCE_VM,
    Throttle,
    policy,
)
from executor.run.clock import FakeClock

T0 = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)


def test_a_bucket_empties_and_refills_at_its_documented_rate() -> None:
    """Instance views: 36 at once, then one every 5 simulated seconds (12 per minute); a per-VM guard
    is named in no header (Azure names only its policies)."""
    throttle = Throttle()
    for _ in range(36):
        decision = throttle.take([(INSTANCE_VIEW_VM, "vm")], T0)
        assert decision.allowed
        assert "x-ms-ratelimit-remaining-resource" not in decision.headers
    refused = throttle.take([(INSTANCE_VIEW_VM, "vm")], T0)
    assert not refused.allowed and refused.retry_after == pytest.approx(5.0)
    assert not throttle.take([(INSTANCE_VIEW_VM, "vm")], T0 + dt.timedelta(seconds=4)).allowed
    assert throttle.take([(INSTANCE_VIEW_VM, "vm")], T0 + dt.timedelta(seconds=5)).allowed
    assert throttle.take([(INSTANCE_VIEW_VM, "other-vm")], T0).allowed  # per VM


def test_policies_are_named_in_both_windows() -> None:
    """Compute's policies count in a 3-minute and a 30-minute window, both named in the header."""
    throttle = Throttle()
    decision = throttle.take(policy(HIGH_COST_GET, "sub"), T0)
    assert decision.headers["x-ms-ratelimit-remaining-resource"] == (
        "Microsoft.Compute/HighCostGet3Min;159,Microsoft.Compute/HighCostGet30Min;799"
    )
    for _ in range(159):
        assert throttle.take(policy(HIGH_COST_GET, "sub"), T0).allowed
    refused = throttle.take(policy(HIGH_COST_GET, "sub"), T0)
    assert not refused.allowed and refused.limit is HIGH_COST_GET[0]


def test_a_refused_request_takes_no_token() -> None:
    """When one bucket is dry the others keep their tokens."""
    throttle = Throttle()
    for _ in range(12):
        assert throttle.take([(PERFORM_MAINTENANCE_VM, "vm")], T0).allowed
    refused = throttle.take([(ARM_READS, "sub"), (PERFORM_MAINTENANCE_VM, "vm")], T0)
    assert not refused.allowed and refused.limit is PERFORM_MAINTENANCE_VM
    assert refused.retry_after == pytest.approx(15.0)  # 4 per minute
    assert refused.headers["x-ms-ratelimit-remaining-subscription-reads"] == "250"


def test_disabled_throttling_allows_everything() -> None:
    """throttling: false turns the buckets (and their headers) off."""
    throttle = Throttle(enabled=False)
    assert all(throttle.take([(INSTANCE_VIEW_VM, "vm")], T0).allowed for _ in range(100))


@pytest.mark.e2e
def test_headers_and_429_through_the_sdk(make_emulator, compute_client) -> None:
    """Every answer carries x-ms-ratelimit-remaining-*; the 37th instance view in a frozen minute is 429."""
    emu = make_emulator(clock=FakeClock(T0))
    client = compute_client(emu, retry_total=0)
    seen: list[dict[str, str]] = []
    for _ in range(36):
        client.virtual_machines.instance_view(
            "rg-shop-db", "db-0", raw_response_hook=lambda r: seen.append(dict(r.http_response.headers))
        )
    assert seen[0]["x-ms-ratelimit-remaining-resource"] == (
        "Microsoft.Compute/LowCostGet3Min;3999,Microsoft.Compute/LowCostGet30Min;31999"
    )
    assert seen[-1]["x-ms-ratelimit-remaining-resource"] == (
        "Microsoft.Compute/LowCostGet3Min;3964,Microsoft.Compute/LowCostGet30Min;31964"
    )
    assert int(seen[0]["x-ms-ratelimit-remaining-subscription-reads"]) == 249
    with pytest.raises(HttpResponseError) as err:
        client.virtual_machines.instance_view("rg-shop-db", "db-0")
    assert err.value.status_code == 429 and err.value.error.code == "OperationNotAllowed"
    assert json.loads(err.value.response.text())["code"] == "OperationNotAllowed"  # Compute's: unwrapped
    assert int(err.value.response.headers["Retry-After"]) >= 1
    client.virtual_machines.instance_view("rg-shop-db", "db-1")  # another VM has its own bucket


@pytest.mark.e2e
def test_azure_core_retries_a_429_and_succeeds(make_emulator, compute_client) -> None:
    """A throttled read is retried by azure-core after Retry-After; the log shows the 429, then the 200."""
    emu = make_emulator(speed=6.0)  # a token per 5 simulated seconds is back within the 1 s Retry-After
    client = compute_client(emu)
    for _ in range(200):
        client.virtual_machines.instance_view("rg-shop-web", "web-1")
        if any(r["status"] == 429 for r in emu.requests()):
            break
    statuses = [r["status"] for r in emu.requests() if r["path"].split("?")[0].endswith("/instanceView")]
    first = statuses.index(429)
    assert statuses[first + 1] == 200
    throttled = emu.requests()[first]
    assert throttled["error"] == "OperationNotAllowed"
    assert (
        emu.requests()[first + 1]["client_request_id"] == throttled["client_request_id"]
    )  # the same call, retried


@pytest.mark.e2e
def test_perform_maintenance_is_throttled_per_vm(make_emulator, compute_client) -> None:
    """Perform-maintenance has its own per-VM bucket: the 13th trigger of one VM in a frozen minute is 429."""
    emu = make_emulator(clock=FakeClock(T0))
    client = compute_client(emu, retry_total=0)
    codes = []
    for _ in range(13):
        try:
            client.virtual_machines.begin_perform_maintenance("rg-shop-db", "db-0", polling=False)
            codes.append(202)
        except HttpResponseError as err:
            codes.append(err.status_code)
    assert codes == [202] + [409] * 11 + [429]


@pytest.mark.e2e
def test_throttling_can_be_turned_off(make_emulator, compute_client) -> None:
    """With throttling: false nothing is refused and no rate-limit headers are sent."""
    emu = make_emulator(clock=FakeClock(T0), faults=Faults(throttling=False))
    client = compute_client(emu, retry_total=0)
    headers: list[dict[str, str]] = []
    for _ in range(40):
        client.virtual_machines.instance_view(
            "rg-shop-db", "db-0", raw_response_hook=lambda r: headers.append(dict(r.http_response.headers))
        )
    assert not any(k.startswith("x-ms-ratelimit") for h in headers for k in h)
