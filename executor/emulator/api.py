"""The emulator's front door: faults, authentication, throttling and the request log around the routes.

:meth:`Api.handle` takes a :class:`Request` and gives a :class:`Response`; nothing here touches
sockets. Resource Manager requests go through, in order: outages, injected server errors, latency,
the bearer token, the route (see :mod:`executor.emulator.routes`), ARM's read/write buckets, the
subscription and resource group, and the handler. Every answer is logged.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from executor.emulator import shapes
from executor.emulator.contract import reshape
from executor.emulator.faults import Faults
from executor.emulator.health import health_answer
from executor.emulator.log import RequestLog
from executor.emulator.messages import ArmError, Request, Response, error_response, json_response
from executor.emulator.routes import route
from executor.emulator.throttle import (
    ARM_READS,
    ARM_WRITES,
    PERFORM_MAINTENANCE_VM,
    UPDATE_VM,
    VM_SCALE_SET_ACTIONS,
    Limit,
    Throttle,
    policy,
)
from executor.emulator.world import SimVM, World, iso, recorded_refusal, subscription_of
from executor.run.clock import Clock

API_VERSION = "2026-04-01"
OPERATION_RETRY_AFTER = 10.0  # simulated seconds


def _throttled() -> ArmError:
    """A 429 from the faults file, shaped as Resource Manager's own (see ``take``), Retry-After in
    real seconds: the client's retry policy waits and tries again, as it would against Azure."""
    return ArmError(
        429,
        "SubscriptionRequestsThrottled",
        "Number of requests for this subscription exceeded (simulated throttling). Please try again "
        "after '1' seconds after additional tokens are available.",
        headers={"Retry-After": "1"},
    )


_SERVER_ERRORS = {
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


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
            response, kind = health_answer(self.world, req.path[len("/_health/") :].strip("/"), now), "health"
        elif req.path.rstrip("/") == "/_emulator/state":
            with self.world.lock:
                response, kind = json_response(200, self.world.snapshot(now)), "emulator"
        elif req.path.rstrip("/") == "/metadata/endpoints":  # anonymous, as Resource Manager's
            response, kind = json_response(200, self.metadata()), "emulator"
        elif req.path.rstrip("/") == "/_emulator/clock":  # cheap: another process syncs its clock here
            clock = {"now": iso(now), "epoch": iso(self.world.epoch), "speed": self.speed}
            response, kind = json_response(200, clock), "emulator"
        else:
            response, kind = self._arm(req, now), "arm"
            response.body = reshape(response.body, self.faults.azure)
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
        injected = self._injected_fault(now)
        if injected is not None:
            return injected
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
        response = Response(200, headers=base)
        with self.world.lock:
            try:
                result = self._routed(req, now, response)
            except ArmError as err:
                failed = error_response(err)
                failed.headers = {**response.headers, **failed.headers}
                failed.vm, failed.vms, failed.operation = response.vm, response.vms, response.operation
                return failed
        return result

    def _injected_fault(self, now: dt.datetime) -> Response | None:
        """An outage, a server error or latency from the faults file, before anything else."""
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
        if self._dice(errors.rate):
            with self.world.lock:
                status = self.random.choice(errors.status)
            if status == 429:
                return error_response(_throttled())
            code = _SERVER_ERRORS[status]
            return error_response(ArmError(status, code, f"Simulated server error {status}: try again."))
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        return None

    def _routed(self, req: Request, now: dt.datetime, response: Response) -> Response:
        """The route's answer, after ARM's own checks: method, subscription and its bucket, group."""
        handler, match, allowed = route(req.method, req.path)
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
            self.take(response, [(arm, sub.lower())], now, arm_level=True)
            if not self.world.has_subscription(sub):
                raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        rg = match.groupdict().get("rg")
        if rg is not None and sub is not None and not self.world.has_resource_group(sub, rg):
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        result = handler(self, req, match, now, response)
        if result.status == 202 and self._dice(self.faults.errors.lost_answers):
            result.drop, result.error = True, "AnswerLost"
        return result

    # -- helpers ---------------------------------------------------------------------------------

    def _dice(self, share: float) -> bool:
        """True for ``share`` of the calls, from the seeded generator (no draw when share is 0)."""
        if share <= 0:
            return False
        with self.world.lock:
            return self.random.random() < share

    def take(
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
        # Compute's 429: the CloudError body *not* wrapped in "error", details naming the policy
        # (docs: "Troubleshooting throttling errors in Azure"); Resource Manager's (above) is wrapped
        raise ArmError(
            429,
            "OperationNotAllowed",
            "The server rejected the request because too many requests have been received for this "
            "subscription.",
            headers={"Retry-After": str(wait)},
            wrapped=False,
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

    def page(self, req: Request, items: list[Any], render: Callable[[Any], dict[str, Any]]) -> Response:
        try:
            skip = max(0, int(req.q("$skiptoken") or 0))
        except ValueError:
            raise ArmError(400, "InvalidParameter", "The $skiptoken is not valid.") from None
        size = self.faults.page_size
        body: dict[str, Any] = {"value": [render(item) for item in items[skip : skip + size]]}
        if skip + size < len(items):
            raw = parse_qsl(urlsplit(req.target).query, keep_blank_values=True)  # names as sent
            params = {k: v for k, v in raw if k.lower() != "$skiptoken"}
            params.setdefault("api-version", API_VERSION)
            params["$skiptoken"] = str(skip + size)
            query = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in params.items())
            body["nextLink"] = f"{self.base_url}{quote(req.path)}?{query}"
        return json_response(200, body)

    def group_id(self, sim: SimVM) -> str | None:
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
        group = self.world.group(kind, subscription_of(vm), vm.resource_group, name)
        return group.id if group else None

    def render_vm(self, sim: SimVM, now: dt.datetime, expand: bool) -> dict[str, Any]:
        return shapes.virtual_machine(sim, now, expand=expand, group_id=self.group_id(sim))

    def start(
        self, response: Response, target: str, sims: list[SimVM], req: Request, now: dt.datetime
    ) -> Response:
        """Check, throttle and start perform-maintenance; answer in the contract's LRO shape."""
        if not sims:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'performMaintenance' is not allowed on '{target.split('/')[-1]}' since none "
                "of its VMs has maintenance pending that may be started now.",
            )
        sub = sims[0].vm.subscription.lower()
        scale_set = "/virtualmachinescalesets/" in target.lower()
        self.take(
            response,
            policy(VM_SCALE_SET_ACTIONS if scale_set else UPDATE_VM, sub)
            + [(PERFORM_MAINTENANCE_VM, s.id.lower()) for s in sims],
            now,
        )
        refused = [(s, r) for s, r in ((s, self.world.refusal(s, now)) for s in sims) if r]
        if refused:
            if self.faults.azure.refusals == "recorded":  # Azure names one VM, even for a batch
                raise ArmError(409, "OperationNotAllowed", recorded_refusal(refused[0][0].vm.name))
            raise ArmError(409, "OperationNotAllowed", " ".join(r for _, r in refused))
        op = self.world.start(target, sims, now, req.headers.get("x-ms-client-request-id"))
        response.operation = op.id
        return self._accepted(response, op.subscription, op.location, op.id, req)

    def _accepted(self, response: Response, sub: str, location: str, op: str, req: Request) -> Response:
        """performMaintenance "200" or "202 with a Location header (+Retry-After)" (Azure/azure-rest-api-
        specs, .../2024-11-01/examples/virtualMachineExamples/VirtualMachine_PerformMaintenance_MaximumSet_Gen
        .json; VirtualMachine.tsp: ArmLroLocationHeader & RetryAfterHeader); Compute also sends
        Azure-AsyncOperation (the recorded traffic of azure-sdk-for-python's perform_maintenance test)."""
        lro = self.faults.azure.lro
        if lro == "sync":
            response.status = 200
            return response
        version = req.q("api-version") or API_VERSION
        status_url = (
            f"{self.base_url}/subscriptions/{sub}/providers/Microsoft.Compute/locations/"
            f"{location}/operations/{op}?p={uuid.uuid4()}&api-version={version}"
        )
        response.status = 202
        response.headers["Location"] = status_url + "&monitor=true"
        response.headers["Retry-After"] = self.operation_retry_after()
        if lro == "async":
            response.headers["Azure-AsyncOperation"] = status_url
        return response

    def metadata(self) -> dict[str, Any]:
        """Resource Manager's /metadata/endpoints, Azure Stack Hub's shape: the token audience."""
        return {
            "resourceManager": self.base_url,
            "authentication": {
                "loginEndpoint": "https://login.microsoftonline.com/",
                "audiences": ["https://management.udroll-emulator.local/"],
            },
        }

    def operation_retry_after(self) -> str:
        return str(int(OPERATION_RETRY_AFTER / self.speed))
