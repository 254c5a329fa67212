"""The backend's pure parts: ARM ids, token buckets, request classification, Retry-After, the fleet view."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ODataV4Format
from backend_support import DONE, EPOCH, LATER, PENDING, make_vm
from hypothesis import given
from hypothesis import strategies as st

from executor.azure.errors import PERFORM_VM, translate
from executor.azure.fleet_view import render_table, scale_set_rows, vm_rows
from executor.azure.ids import parse_vm_id
from executor.azure.pacing import Pacer, TokenBucket, retry_after_s
from executor.run.clock import FakeClock
from planner.errors import AuthenticationError, AuthorizationError, InputError

S = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute"


def test_parse_vm_ids() -> None:
    """A VM id and a uniform instance id split into their parts; the id round-trips."""
    vm = parse_vm_id(f"{S}/virtualMachines/db-0")
    assert (vm.subscription, vm.resource_group, vm.name, vm.scale_set) == ("s", "rg", "db-0", None)
    assert vm.id == f"{S}/virtualMachines/db-0"
    inst = parse_vm_id(f"{S}/virtualMachineScaleSets/ss/virtualMachines/3".lower())
    assert (inst.scale_set, inst.instance_id) == ("ss", "3")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "db-0",
        f"{S}/availabilitySets/as",
        f"{S}/virtualMachines/",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualMachines/x",
    ],
)
def test_parse_rejects_other_ids(bad: str) -> None:
    """Anything but a VM or scale set instance id is an input error that shows the expected shape."""
    with pytest.raises(InputError, match="is not a VM id"):
        parse_vm_id(bad)


def test_bucket_waits_only_when_empty() -> None:
    """A bucket gives its capacity at once, then one token per 1/rate seconds, reserving in order."""
    clock = FakeClock(EPOCH)
    bucket = TokenBucket(3, 0.5, clock)
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0]
    assert bucket.reserve() == pytest.approx(2.0)
    assert bucket.reserve() == pytest.approx(4.0)  # the second waiter queues behind the first
    clock.advance(4.0)
    assert bucket.reserve() == pytest.approx(2.0)


@given(st.lists(st.floats(min_value=0, max_value=30), min_size=1, max_size=60))
def test_paced_requests_never_exceed_the_bucket(gaps: list[float]) -> None:
    """Whatever the arrival times, sending after the reserved wait never takes more than the bucket
    holds: a server bucket with the same limit would never refuse us."""
    clock = FakeClock(EPOCH)
    pacer = Pacer(clock)
    sent: list[dt.datetime] = []
    path = f"{S}/virtualMachines/db-0/instanceView"
    for gap in gaps:
        clock.advance(gap)
        pacer.acquire("GET", path)
        sent.append(clock.now())
    # replay against a strict server-side bucket (36, 12/min): tokens must never go below zero
    tokens, at = 36.0, sent[0]
    for when in sent:
        tokens = min(36.0, tokens + (when - at).total_seconds() * 12 / 60)
        at = when
        assert tokens >= 1 - 1e-9
        tokens -= 1


def test_requests_draw_on_the_documented_buckets() -> None:
    """Reads, writes, lists, instance views and perform-maintenance are each keyed as Azure keys them."""
    pacer = Pacer(FakeClock(EPOCH))

    def names(method: str, path: str, body: bytes | None = None) -> list[tuple[float, float]]:
        return [(b.capacity, n) for b, n in pacer.draws(method, path, body)]

    assert names("GET", f"{S}/virtualMachines") == [(250, 1), (900, 1)]
    assert names("GET", "/subscriptions/s/providers/Microsoft.Compute/virtualMachines") == [
        (250, 1),
        (900, 1),
    ]
    assert names("GET", f"{S}/virtualMachineScaleSets/ss/virtualMachines") == [(250, 1), (900, 1)]
    assert names("GET", f"{S}/virtualMachines/db-0/instanceView") == [(250, 1), (36, 1)]
    assert names("POST", f"{S}/virtualMachines/db-0/performMaintenance") == [(200, 1), (12, 1), (1500, 1)]
    assert names(
        "POST", f"{S}/virtualMachineScaleSets/ss/performMaintenance", b'{"instanceIds": ["1", "2"]}'
    ) == [(200, 1), (12, 1), (12, 1), (1500, 2)]
    assert names("GET", "/subscriptions/s/providers/Microsoft.Compute/locations/w/operations/x") == [(250, 1)]


def test_retry_after_forms() -> None:
    """Retry-After in seconds or as an HTTP date, and the millisecond headers, all in seconds."""
    now = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)
    assert retry_after_s({"Retry-After": "7"}, now) == 7
    assert retry_after_s({"retry-after-ms": "1500"}, now) == 1.5
    assert retry_after_s({"Retry-After": "Mon, 23 Nov 2026 22:00:30 GMT"}, now) == 30
    assert retry_after_s({}, now) is None


def test_portal_column_yes_no_dash() -> None:
    """Yes: a VM in its self-service window now; No: in a wave but none in its window; -: no wave."""
    vms = [
        make_vm(
            resource_group="rg",
            scale_set="open",
            orchestration="Uniform",
            instance_id="0",
            maintenance=PENDING,
        ),
        make_vm(resource_group="rg", scale_set="open", orchestration="Uniform", instance_id="1"),
        make_vm(
            resource_group="rg",
            scale_set="later",
            orchestration="Uniform",
            instance_id="0",
            maintenance=LATER,
        ),
        make_vm(
            resource_group="rg", scale_set="done", orchestration="Uniform", instance_id="0", maintenance=DONE
        ),
        make_vm(resource_group="rg", scale_set="calm", orchestration="Uniform", instance_id="0"),
        make_vm(name="alone", resource_group="rg", maintenance=PENDING),
    ]
    rows = {r.scale_set: r.self_service for r in scale_set_rows(vms, EPOCH)}
    assert rows == {"rg/open": "Yes", "rg/later": "No", "rg/done": "No", "rg/calm": "-"}
    order = [r.vm for r in vm_rows(vms, EPOCH)]
    assert order == ["rg/alone", "rg/open/0", "rg/later/0", "rg/done/0", "rg/calm/0", "rg/open/1"]
    text = render_table(vm_rows(vms, EPOCH), scale_set_rows(vms, EPOCH), EPOCH)
    assert "30d2h left" in text and "not open" in text


def _error(status: int, code: str, message: str) -> HttpResponseError:
    """An SDK error as the client raises it for a CloudError answer (built here: no server says 403)."""
    exc = ClientAuthenticationError(message=message) if status == 401 else HttpResponseError(message=message)
    exc.status_code = status
    exc.response = object()  # type: ignore[assignment]
    exc.error = ODataV4Format({"error": {"code": code, "message": message}})
    return exc


def test_forbidden_names_the_missing_permission() -> None:
    """403 becomes AuthorizationError (exit 5) naming the permission and carrying Azure's message."""
    err = translate(
        _error(403, "AuthorizationFailed", "The client 'x' does not have authorization"),
        what="start maintenance on rg/db-0",
        permission=PERFORM_VM,
    )
    assert isinstance(err, AuthorizationError) and err.exit_code == 5
    assert PERFORM_VM in str(err) and "403 AuthorizationFailed" in str(err) and "does not have" in str(err)


def test_rejected_token_is_an_authentication_error() -> None:
    """A 401 answer (token refused) becomes AuthenticationError telling to sign in again."""
    err = translate(
        _error(401, "InvalidAuthenticationToken", "The access token is invalid."),
        what="list VMs",
        permission="p",
    )
    assert isinstance(err, AuthenticationError) and "az login" in str(err) and "401" in str(err)


def test_a_bad_token_is_an_input_error() -> None:
    """A journal handle that is not a continuation token is an input error, not a crash (no request sent)."""
    from executor.azure.backend import AzureBackend
    from executor.azure.connect import connect_emulator
    from executor.run.backend import Operation

    class NoCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> object:
            raise AssertionError("no request may be sent")

    backend = connect_emulator("https://127.0.0.1:9", "", "s", NoCredential())  # type: ignore[arg-type]
    assert isinstance(backend, AzureBackend)
    with pytest.raises(InputError, match="not a continuation token"):
        backend.poll(
            Operation(
                vm="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/x",
                token="not-a-token",
            )
        )


def test_remaining_headers_lower_the_buckets() -> None:
    """x-ms-ratelimit-remaining-* lowers the matching buckets (never raises them); Compute's policies
    are learnt by name, both windows, for requests of the same kind (another VM's instance view too)."""
    clock = FakeClock(EPOCH)
    pacer = Pacer(clock)
    path = f"{S}/virtualMachines/db-0/instanceView"
    headers = {
        "x-ms-ratelimit-remaining-subscription-reads": "249",
        "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/LowCostGet3Min;0,Microsoft.Compute/LowCostGet30Min;500",
    }
    pacer.observe("GET", path, None, headers)
    other = f"{S}/virtualMachines/db-1/instanceView"
    arm, _view, long, short = (bucket for bucket, _ in pacer.draws("GET", other))
    assert arm.reserve() == 0 and long.reserve() == 0
    assert short.reserve() == pytest.approx(180 / 100)  # refill assumed >= 100 per 3 minutes
    pacer.observe(
        "GET", other, None, {"x-ms-ratelimit-remaining-resource": "Microsoft.Compute/LowCostGet3Min;30"}
    )
    assert short.reserve() > 0  # a higher count from Azure does not refill ours
    listed = [bucket for bucket, _ in pacer.draws("GET", f"{S}/virtualMachines")]
    assert short not in listed and long not in listed  # a list is another kind: not in LowCostGet


def test_what_azure_says_is_left_does_not_count_requests_still_in_flight() -> None:
    """Five perform-maintenance calls in flight; the first answer says 4 UpdateVM calls are left: the
    four others still on their way take them, so a sixth call waits for the refill."""
    clock = FakeClock(EPOCH)
    pacer = Pacer(clock)
    paths = [f"{S}/virtualMachines/db-{i}/performMaintenance" for i in range(6)]
    headers = {"x-ms-ratelimit-remaining-resource": "Microsoft.Compute/UpdateVM3Min;239"}
    pacer.observe("POST", paths[0], None, headers)  # an earlier call taught the policy
    for path in paths[:5]:
        pacer.acquire("POST", path)
    pacer.answered("POST", paths[0])
    pacer.observe(
        "POST", paths[0], None, {"x-ms-ratelimit-remaining-resource": "Microsoft.Compute/UpdateVM3Min;4"}
    )
    policy = [bucket for bucket, _ in pacer.draws("POST", paths[5]) if bucket.capacity == 240]
    assert len(policy) == 1 and policy[0].reserve() > 0
