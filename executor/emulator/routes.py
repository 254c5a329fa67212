"""The Resource Manager Compute API the emulator answers, one handler per route.

A :class:`Request` comes in, a :class:`Response` goes out; nothing here touches sockets. Paths match
case-insensitively, as in ARM. Handlers raise :class:`ArmError` for CloudError answers.

Long-running perform-maintenance (what azure-core's ARMPolling needs, checked in
azure/core/polling/base_polling.py): the POST answers 202 with absolute ``Azure-AsyncOperation`` and
``Location`` URLs and ``Retry-After``. The SDK polls ``Azure-AsyncOperation`` (a body with
``status``: ``InProgress``, ``Succeeded`` or ``Failed`` plus an ``error``) and, for a POST, ends with
one GET of ``Location`` (202 while running, 200 once succeeded, 409 with the CloudError once failed).
Operations are kept for the emulator's lifetime, so a continuation token works on a new client at
any time. ``Retry-After`` of an operation is 10 simulated seconds in real seconds, rounded down: at
high speeds it is 0, which lets the client's ``polling_interval`` decide.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from executor.clock import Clock
from executor.emulator import shapes
from executor.emulator.faults import Faults
from executor.emulator.log import RequestLog
from executor.emulator.throttle import (
    ARM_READS,
    ARM_WRITES,
    INSTANCE_VIEW_VM,
    LIST_VMS_SUBSCRIPTION,
    PERFORM_MAINTENANCE_SUBSCRIPTION,
    PERFORM_MAINTENANCE_VM,
    Limit,
    Throttle,
)
from executor.emulator.world import Group, SimVM, World, iso

API_VERSION = "2026-04-01"
OPERATION_RETRY_AFTER = 10.0  # simulated seconds


class Headers(Protocol):
    """Case-insensitive header look-up (http.server's message object)."""

    def get(self, name: str, default: None = None) -> str | None: ...


@dataclass
class Request:
    method: str
    path: str  # decoded, without the query
    target: str  # as sent: path and query
    query: dict[str, str]  # first value of each parameter, keys lower-cased
    headers: Headers
    body: bytes = b""

    def q(self, name: str) -> str | None:
        return self.query.get(name.lower())


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    vm: str | None = None
    vms: list[str] | None = None
    operation: str | None = None
    error: str | None = None
    drop: bool = False  # close the connection without an answer (an outage that refuses)


class ArmError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[dict[str, str]] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.details = details


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def error_response(err: ArmError) -> Response:
    error: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.details:
        error["details"] = err.details
    response = json_response(err.status, {"error": error}, err.headers)
    response.error = err.code
    return response


def health_token(vm_id: str) -> str:
    return base64.urlsafe_b64encode(vm_id.lower().encode()).decode().rstrip("=")


def _from_token(token: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_CP = r"/providers/Microsoft\.Compute"
_VMSS = _RG + _CP + r"/virtualMachineScaleSets/(?P<vmss>[^/]+)"

Handler = Callable[["Api", Request, "re.Match[str]", dt.datetime, Response], Response]


class Api:
    """Routes ARM requests, health probes and the state endpoint to the world."""

    def __init__(self, world: World, faults: Faults, clock: Clock, speed: float, log: RequestLog):
        self.world, self.faults, self.clock, self.log = world, faults, clock, log
        self.speed = float(getattr(clock, "speed", speed) or speed)
        self.throttle = Throttle(enabled=faults.throttling)
        self.random = random.Random(faults.seed)
        self.base_url = ""  # set once the server is bound

    # -- entry point -----------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        started = time.time()
        now = self.clock.now()
        if req.path.startswith("/_health/"):
            response, kind = self._health(req, now), "health"
        elif req.path.rstrip("/") == "/_emulator/state":
            with self.world.lock:
                response, kind = json_response(200, self.world.snapshot(now)), "emulator"
        else:
            response, kind = self._arm(req, now), "arm"
        entry: dict[str, Any] = {
            "wall": iso(dt.datetime.fromtimestamp(started, dt.timezone.utc)),
            "sim": iso(now),
            "method": req.method,
            "path": req.target,
            "status": 0 if response.drop else response.status,
            "kind": kind,
            "vm": response.vm,
            "operation": response.operation,
            "client_request_id": req.headers.get("x-ms-client-request-id"),
        }
        if response.vms is not None:
            entry["vms"] = response.vms
        if response.error:
            entry["error"] = response.error
        self.log.add(entry)
        return response

    def _arm(self, req: Request, now: dt.datetime) -> Response:
        for outage in self.faults.outages:
            if outage.covers(now, self.world.epoch):
                if outage.mode == "refuse":
                    return Response(0, drop=True, error="Outage")
                return error_response(
                    ArmError(
                        503,
                        "ServiceUnavailable",
                        "The service is temporarily unavailable (simulated outage).",
                        headers={"Retry-After": "1"},
                    )
                )
        errors = self.faults.errors
        if errors.rate > 0:
            with self.world.lock:
                failing = self.random.random() < errors.rate
                status = self.random.choice(errors.status) if failing else 0
            if failing:
                code = {
                    500: "InternalServerError",
                    502: "BadGateway",
                    503: "ServiceUnavailable",
                    504: "GatewayTimeout",
                }[status]
                return error_response(ArmError(status, code, f"Simulated server error {status}: try again."))
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        base = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-correlation-request-id": req.headers.get("x-ms-correlation-request-id")
            or str(uuid.uuid4()),
        }
        if not (req.headers.get("Authorization") or "").startswith("Bearer "):
            response = error_response(
                ArmError(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.",
                    headers={
                        "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/'
                        'common", error="invalid_token", error_description="The authentication failed"'
                    },
                )
            )
            response.headers.update(base)
            return response
        handler, match, allowed = _route(req.method, req.path)
        response = Response(200, headers=base)
        with self.world.lock:
            try:
                if handler is None or match is None:
                    if allowed:
                        raise ArmError(
                            405,
                            "MethodNotAllowed",
                            f"The requested resource does not support http method '{req.method}'.",
                        )
                    raise ArmError(
                        404,
                        "NotFound",
                        f"No route for {req.method} {req.path}: the udroll emulator answers the Compute "
                        "routes udroll uses (virtual machines, availability sets, scale sets, their "
                        "instance views and performMaintenance).",
                    )
                sub = match.groupdict().get("sub")
                if sub is not None:
                    arm = ARM_READS if req.method == "GET" else ARM_WRITES
                    self._take(response, [(arm, sub.lower())], now, arm_level=True)
                    if not self.world.has_subscription(sub):
                        raise ArmError(
                            404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
                        )
                rg = match.groupdict().get("rg")
                if rg is not None and sub is not None and not self.world.has_resource_group(sub, rg):
                    raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
                result = handler(self, req, match, now, response)
            except ArmError as err:
                failed = error_response(err)
                failed.headers = {**response.headers, **failed.headers}
                failed.vm, failed.vms, failed.operation = response.vm, response.vms, response.operation
                return failed
        return result

    # -- helpers ---------------------------------------------------------------------------------

    def _take(
        self,
        response: Response,
        wanted: list[tuple[Limit, str]],
        now: dt.datetime,
        *,
        arm_level: bool = False,
    ) -> None:
        decision = self.throttle.take(wanted, now)
        response.headers.update(decision.headers)
        if decision.allowed:
            return
        wait = max(1, math.ceil(decision.retry_after / self.speed))
        limit = decision.limit
        assert limit is not None
        if arm_level:
            kind = "read" if limit is ARM_READS else "write"
            raise ArmError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{kind}' requests for subscription '{wanted[0][1]}' exceeded. Please try "
                f"again after '{wait}' seconds after additional tokens are available.",
                headers={"Retry-After": str(wait)},
            )
        raise ArmError(
            429,
            "OperationNotAllowed",
            "The server rejected the request because too many requests have been received for this "
            "subscription.",
            headers={"Retry-After": str(wait)},
            details=[
                {
                    "code": "TooManyRequests",
                    "target": limit.name.split("/")[-1],
                    "message": f'{{"operationGroup":"{limit.name.split("/")[-1]}","startTime":'
                    f'"{iso(now)}","endTime":"{iso(now)}","allowedRequestCount":'
                    f'{limit.capacity},"measuredRequestCount":{limit.capacity}}}',
                }
            ],
        )

    def _page(self, req: Request, items: list[Any], render: Callable[[Any], dict[str, Any]]) -> Response:
        try:
            skip = max(0, int(req.q("$skiptoken") or 0))
        except ValueError:
            raise ArmError(400, "InvalidParameter", "The $skiptoken is not valid.") from None
        size = self.faults.page_size
        body: dict[str, Any] = {"value": [render(item) for item in items[skip : skip + size]]}
        if skip + size < len(items):
            params = {k: v for k, v in req.query.items() if k != "$skiptoken"}
            params.setdefault("api-version", API_VERSION)
            params["$skiptoken"] = str(skip + size)
            query = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in params.items())
            body["nextLink"] = f"{self.base_url}{quote(req.path)}?{query}"
        return json_response(200, body)

    def _group_id(self, sim: SimVM) -> str | None:
        vm = sim.vm
        name, kind = (
            (vm.availability_set, "availabilitySets")
            if vm.availability_set
            else (vm.scale_set, "virtualMachineScaleSets")
            if vm.scale_set
            else (None, "")
        )
        if name is None:
            return None
        group = self.world.group(kind, vm.subscription, vm.resource_group, name)
        return group.id if group else None

    def _render_vm(self, sim: SimVM, now: dt.datetime, expand: bool) -> dict[str, Any]:
        return shapes.virtual_machine(sim, now, expand=expand, group_id=self._group_id(sim))

    def _start(
        self, response: Response, target: str, sims: list[SimVM], req: Request, now: dt.datetime
    ) -> Response:
        """Check, throttle and start perform-maintenance; answer 202 with the operation's URLs."""
        if not sims:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'performMaintenance' is not allowed on '{target.split('/')[-1]}' since none "
                "of its VMs has maintenance pending that may be started now.",
            )
        sub = sims[0].vm.subscription.lower()
        self._take(
            response,
            [(PERFORM_MAINTENANCE_SUBSCRIPTION, sub)]
            + [(PERFORM_MAINTENANCE_VM, s.id.lower()) for s in sims],
            now,
        )
        refusals = [r for r in (self.world.refusal(s, now) for s in sims) if r]
        if refusals:
            raise ArmError(409, "OperationNotAllowed", " ".join(refusals))
        op = self.world.start(target, sims, now, req.headers.get("x-ms-client-request-id"))
        version = req.q("api-version") or API_VERSION
        status_url = (
            f"{self.base_url}/subscriptions/{op.subscription}/providers/Microsoft.Compute/locations/"
            f"{op.location}/operations/{op.id}?p={uuid.uuid4()}&api-version={version}"
        )
        response.status = 202
        response.operation = op.id
        response.headers.update(
            {
                "Azure-AsyncOperation": status_url,
                "Location": status_url + "&monitor=true",
                "Retry-After": self._operation_retry_after(),
            }
        )
        return response

    def _operation_retry_after(self) -> str:
        return str(int(OPERATION_RETRY_AFTER / self.speed))

    # -- health ----------------------------------------------------------------------------------

    def _health(self, req: Request, now: dt.datetime) -> Response:
        vm_id = _from_token(req.path[len("/_health/") :].strip("/"))
        with self.world.lock:
            sim = self.world.find(vm_id) if vm_id else None
            if sim is None:
                return json_response(404, {"status": "unknown VM"})
            healthy, why = self.world.health(sim, now)
        response = json_response(200 if healthy else 503, {"status": why, "vm": sim.vm.name})
        response.vm = sim.id
        return response


# -- route handlers (each runs under the world's lock) ------------------------------------------------


def _expand(req: Request) -> bool:
    return (req.q("$expand") or "").lower() == "instanceview"


def _vm(api: Api, m: re.Match[str], response: Response) -> SimVM:
    sim = api.world.vm(m["sub"], m["rg"], m["name"])
    if sim is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Compute/virtualMachines/{m['name']}' under resource group "
            f"'{m['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    response.vm = sim.id
    return sim


def _scale_set(api: Api, m: re.Match[str]) -> Group:
    group = api.world.group("virtualMachineScaleSets", m["sub"], m["rg"], m["vmss"])
    if group is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{m['vmss']}' under resource group "
            f"'{m['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    return group


def _uniform(api: Api, m: re.Match[str]) -> Group:
    group = _scale_set(api, m)
    if group.orchestration == "Flexible":
        raise ArmError(
            400,
            "OperationNotSupported",
            f"Scale set '{group.name}' has Flexible orchestration: its VMs are virtual machines "
            "(Microsoft.Compute/virtualMachines), not scale set instances.",
        )
    return group


def _instance(api: Api, m: re.Match[str], response: Response) -> SimVM:
    _uniform(api, m)
    sim = api.world.instance(m["sub"], m["rg"], m["vmss"], m["iid"])
    if sim is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{m['vmss']}/virtualMachines/"
            f"{m['iid']}' under resource group '{m['rg']}' was not found.",
        )
    response.vm = sim.id
    return sim


def vm_list(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    api._take(response, [(LIST_VMS_SUBSCRIPTION, m["sub"].lower())], now)
    return _merge(
        response,
        api._page(req, api.world.list_vms(m["sub"], m["rg"]), lambda s: api._render_vm(s, now, _expand(req))),
    )


_FILTER = re.compile(r"^\s*virtualMachineScaleSet/id\s+eq\s+'(?P<id>[^']+)'\s*$", re.IGNORECASE)


def vm_list_all(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    api._take(response, [(LIST_VMS_SUBSCRIPTION, m["sub"].lower())], now)
    sims = api.world.list_vms(m["sub"])
    flt = req.q("$filter")
    if flt:
        match = _FILTER.match(flt)
        if match is None:
            raise ArmError(
                400,
                "InvalidParameter",
                "The value of parameter $filter is invalid: use virtualMachineScaleSet/id eq '<id>'.",
            )
        wanted = match["id"].lower()
        sims = [s for s in sims if (api._group_id(s) or "").lower() == wanted]
    expand = _expand(req) or (req.q("statusOnly") or "").lower() == "true"
    return _merge(response, api._page(req, sims, lambda s: api._render_vm(s, now, expand)))


def vm_get(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    sim = _vm(api, m, response)
    if _expand(req):
        api._take(response, [(INSTANCE_VIEW_VM, sim.id.lower())], now)
    return _merge(response, json_response(200, api._render_vm(sim, now, _expand(req))))


def vm_instance_view(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    sim = _vm(api, m, response)
    api._take(response, [(INSTANCE_VIEW_VM, sim.id.lower())], now)
    return _merge(response, json_response(200, shapes.instance_view(sim, now)))


def vm_perform_maintenance(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    sim = _vm(api, m, response)
    return api._start(response, sim.id, [sim], req, now)


def as_list(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    groups = api.world.list_groups("availabilitySets", m["sub"], m.groupdict().get("rg"))
    return _merge(response, api._page(req, groups, shapes.availability_set))


def as_get(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    group = api.world.group("availabilitySets", m["sub"], m["rg"], m["name"])
    if group is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Compute/availabilitySets/{m['name']}' under resource group "
            f"'{m['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    return _merge(response, json_response(200, shapes.availability_set(group)))


def vmss_list(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    groups = api.world.list_groups("virtualMachineScaleSets", m["sub"], m.groupdict().get("rg"))
    return _merge(response, api._page(req, groups, shapes.scale_set))


def vmss_get(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    return _merge(response, json_response(200, shapes.scale_set(_scale_set(api, m))))


def vmss_instance_view(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    return _merge(response, json_response(200, shapes.scale_set_instance_view(_scale_set(api, m), now)))


def vmss_perform_maintenance(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    """Explicit ``instanceIds`` must all be eligible (else 409, nothing starts); without a body, every
    instance that may start maintenance now does."""
    group = _scale_set(api, m)
    try:
        body = json.loads(req.body) if req.body.strip() else {}
    except ValueError:
        raise ArmError(
            400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
        ) from None
    ids = body.get("instanceIds") if isinstance(body, dict) else None
    if ids:
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ArmError(400, "InvalidParameter", "instanceIds must be a list of instance id strings.")
        by_id = {
            (s.vm.instance_id if group.orchestration != "Flexible" else s.vm.name) or "": s
            for s in group.members
        }
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise ArmError(
                400,
                "InvalidParameter",
                f"Instance ids {', '.join(missing)} are not VMs of scale set '{group.name}'.",
            )
        sims = [by_id[i] for i in dict.fromkeys(ids)]
    else:
        sims = [s for s in group.members if api.world.refusal(s, now) is None]
    response.vms = [s.id for s in sims]
    return api._start(response, group.id, sims, req, now)


def vmss_vm_list(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    group = _uniform(api, m)
    api._take(response, [(LIST_VMS_SUBSCRIPTION, m["sub"].lower())], now)
    expand = _expand(req)
    return _merge(
        response, api._page(req, group.members, lambda s: shapes.scale_set_vm(s, now, expand=expand))
    )


def vmss_vm_get(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    sim = _instance(api, m, response)
    if _expand(req):
        api._take(response, [(INSTANCE_VIEW_VM, sim.id.lower())], now)
    return _merge(response, json_response(200, shapes.scale_set_vm(sim, now, expand=_expand(req))))


def vmss_vm_instance_view(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    sim = _instance(api, m, response)
    api._take(response, [(INSTANCE_VIEW_VM, sim.id.lower())], now)
    return _merge(response, json_response(200, shapes.instance_view(sim, now)))


def vmss_vm_perform_maintenance(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    sim = _instance(api, m, response)
    return api._start(response, sim.id, [sim], req, now)


def operation_status(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    op = api.world.operations.get(m["op"].lower())
    if op is None or op.subscription.lower() != m["sub"].lower():
        raise ArmError(404, "NotFound", f"The operation '{m['op']}' was not found.")
    response.operation = op.id
    response.vm = op.vm_ids[0] if len(op.vm_ids) == 1 else op.target
    status, error = op.status(now)
    retry = {"Retry-After": api._operation_retry_after()} if status == "InProgress" else {}
    if (req.q("monitor") or "").lower() == "true":  # the Location URL: the operation's final answer
        if status == "InProgress":
            location = f"{api.base_url}{req.target}"
            return _merge(response, Response(202, headers={"Location": location, **retry}))
        if status == "Failed":
            assert error is not None
            raise ArmError(409, error["code"], error["message"])
        return _merge(response, Response(200))
    body: dict[str, Any] = {"startTime": iso(op.started), "status": status, "name": op.id}
    if status != "InProgress":
        body["endTime"] = iso(op.ends)
    if error:
        body["error"] = error
    return _merge(response, json_response(200, body, retry))


def _merge(context: Response, answer: Response) -> Response:
    """The handler's answer with the headers and log fields gathered on the way."""
    answer.headers = {**context.headers, **answer.headers}
    answer.vm = answer.vm or context.vm
    answer.vms = answer.vms if answer.vms is not None else context.vms
    answer.operation = answer.operation or context.operation
    return answer


_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(f"^{pattern}/?$", re.IGNORECASE), handler)
    for method, pattern, handler in [
        ("GET", _SUB + _CP + r"/virtualMachines", vm_list_all),
        ("GET", _SUB + _CP + r"/availabilitySets", as_list),
        ("GET", _SUB + _CP + r"/virtualMachineScaleSets", vmss_list),
        ("GET", _SUB + _CP + r"/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)", operation_status),
        ("GET", _RG + _CP + r"/virtualMachines", vm_list),
        ("GET", _RG + _CP + r"/virtualMachines/(?P<name>[^/]+)", vm_get),
        ("GET", _RG + _CP + r"/virtualMachines/(?P<name>[^/]+)/instanceView", vm_instance_view),
        ("POST", _RG + _CP + r"/virtualMachines/(?P<name>[^/]+)/performMaintenance", vm_perform_maintenance),
        ("GET", _RG + _CP + r"/availabilitySets", as_list),
        ("GET", _RG + _CP + r"/availabilitySets/(?P<name>[^/]+)", as_get),
        ("GET", _RG + _CP + r"/virtualMachineScaleSets", vmss_list),
        ("GET", _VMSS, vmss_get),
        ("GET", _VMSS + r"/instanceView", vmss_instance_view),
        ("POST", _VMSS + r"/performMaintenance", vmss_perform_maintenance),
        ("GET", _VMSS + r"/virtualMachines", vmss_vm_list),
        ("GET", _VMSS + r"/virtualMachines/(?P<iid>[^/]+)", vmss_vm_get),
        ("GET", _VMSS + r"/virtualMachines/(?P<iid>[^/]+)/instanceView", vmss_vm_instance_view),
        ("POST", _VMSS + r"/virtualMachines/(?P<iid>[^/]+)/performMaintenance", vmss_vm_perform_maintenance),
    ]
]


def _route(method: str, path: str) -> tuple[Handler | None, re.Match[str] | None, bool]:
    """The handler for ``method path``; ``allowed`` tells a known path asked with another method."""
    known = False
    for route_method, pattern, handler in _ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        if route_method == method:
            return handler, match, True
        known = True
    return None, None, known
