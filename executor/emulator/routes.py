"""The Resource Manager Compute routes the emulator answers, one handler per route.

Paths match case-insensitively, as in ARM; the table is at the end. Each handler runs under the
world's lock with the route's match, the simulated ``now`` and the answer being gathered (headers
and log fields); it raises :class:`ArmError` for CloudError answers. Not found is 404
(``ResourceNotFound``, ``ResourceGroupNotFound``, ``SubscriptionNotFound``); a VM that may not start
maintenance is 409 ``OperationNotAllowed``.

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

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any, Protocol

from executor.emulator import shapes
from executor.emulator.faults import Faults
from executor.emulator.messages import ArmError, Request, Response, json_response
from executor.emulator.throttle import (
    GET_OPERATION,
    GET_VM_SCALE_SET_VM,
    HIGH_COST_GET,
    INSTANCE_VIEW_VM,
    LOW_COST_GET,
    Limit,
    policy,
)
from executor.emulator.world import Group, SimVM, World, iso


class Api(Protocol):
    """What the routes need of the emulator's front door (executor.emulator.api.Api), named here so
    the routes do not import the module that dispatches to them."""

    world: World
    faults: Faults
    base_url: str

    def take(
        self,
        response: Response,
        wanted: list[tuple[Limit, str]],
        now: dt.datetime,
        *,
        arm_level: bool = False,
    ) -> None: ...
    def start(
        self, response: Response, target: str, sims: list[SimVM], req: Request, now: dt.datetime
    ) -> Response: ...
    def page(self, req: Request, items: list[Any], render: Callable[[Any], dict[str, Any]]) -> Response: ...
    def group_id(self, sim: SimVM) -> str | None: ...
    def render_vm(self, sim: SimVM, now: dt.datetime, expand: bool) -> dict[str, Any]: ...
    def operation_retry_after(self) -> str: ...


_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_CP = r"/providers/Microsoft\.Compute"
_VMSS = _RG + _CP + r"/virtualMachineScaleSets/(?P<vmss>[^/]+)"

Handler = Callable[["Api", Request, "re.Match[str]", dt.datetime, Response], Response]


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
    api.take(response, policy(HIGH_COST_GET, m["sub"].lower()), now)
    sims = _filtered(api, req, api.world.list_vms(m["sub"], m["rg"]))
    return _merge(response, api.page(req, sims, lambda s: api.render_vm(s, now, _expand(req))))


# The only $filter of VirtualMachines_List/ListAll, and $expand=instanceView "can only be specified if a
# valid $filter option is specified" (Azure/azure-rest-api-specs, specification/compute/resource-manager/
# Microsoft.Compute/Compute/Compute/VirtualMachine.tsp, interface VirtualMachines, list and listAll).
_FILTER = re.compile(r"^\s*'?virtualMachineScaleSet/id'?\s+eq\s+'(?P<id>[^']+)'\s*$", re.IGNORECASE)
EXPAND_NEEDS_FILTER = (
    "The $expand option 'instanceView' can only be specified if a valid $filter option is specified: "
    "$filter=virtualMachineScaleSet/id eq '<scale set id>'. For the run-time status of every VM of a "
    "subscription use statusOnly=true."
)


def _filtered(api: Api, req: Request, sims: list[SimVM]) -> list[SimVM]:
    """The VMs a list's ``$filter`` selects; 400 for another filter, or $expand without one."""
    flt = req.q("$filter")
    if not flt:
        if _expand(req):
            raise ArmError(400, "InvalidParameter", EXPAND_NEEDS_FILTER)
        return sims
    match = _FILTER.match(flt)
    if match is None:
        raise ArmError(
            400,
            "InvalidParameter",
            "The value of parameter $filter is invalid: use virtualMachineScaleSet/id eq '<id>'.",
        )
    wanted = match["id"].lower()
    return [s for s in sims if (api.group_id(s) or "").lower() == wanted]


def vm_list_all(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    api.take(response, policy(HIGH_COST_GET, m["sub"].lower()), now)
    sims = _filtered(api, req, api.world.list_vms(m["sub"]))
    if (req.q("statusOnly") or "").lower() == "true":
        return _merge(response, api.page(req, sims, lambda s: shapes.status_only(s, now)))
    return _merge(response, api.page(req, sims, lambda s: api.render_vm(s, now, _expand(req))))


def vm_get(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    sim = _vm(api, m, response)
    wanted = policy(LOW_COST_GET, m["sub"].lower())
    api.take(response, wanted + ([(INSTANCE_VIEW_VM, sim.id.lower())] if _expand(req) else []), now)
    return _merge(response, json_response(200, api.render_vm(sim, now, _expand(req))))


def vm_instance_view(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    sim = _vm(api, m, response)
    api.take(response, [*policy(LOW_COST_GET, m["sub"].lower()), (INSTANCE_VIEW_VM, sim.id.lower())], now)
    return _merge(response, json_response(200, shapes.instance_view(sim, now)))


def vm_perform_maintenance(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    sim = _vm(api, m, response)
    return api.start(response, sim.id, [sim], req, now)


def as_list(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    api.take(response, policy(HIGH_COST_GET, m["sub"].lower()), now)
    groups = api.world.list_groups("availabilitySets", m["sub"], m.groupdict().get("rg"))
    return _merge(response, api.page(req, groups, shapes.availability_set))


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
    api.take(response, policy(HIGH_COST_GET, m["sub"].lower()), now)
    groups = api.world.list_groups("virtualMachineScaleSets", m["sub"], m.groupdict().get("rg"))
    return _merge(response, api.page(req, groups, shapes.scale_set))


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
    return api.start(response, group.id, sims, req, now)


def vmss_vm_list(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    group = _uniform(api, m)
    api.take(response, policy(GET_VM_SCALE_SET_VM, m["sub"].lower()), now)
    expand = _expand(req)
    return _merge(
        response, api.page(req, group.members, lambda s: shapes.scale_set_vm(s, now, expand=expand))
    )


def vmss_vm_get(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    sim = _instance(api, m, response)
    wanted = policy(GET_VM_SCALE_SET_VM, m["sub"].lower())
    api.take(response, wanted + ([(INSTANCE_VIEW_VM, sim.id.lower())] if _expand(req) else []), now)
    return _merge(response, json_response(200, shapes.scale_set_vm(sim, now, expand=_expand(req))))


def vmss_vm_instance_view(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    sim = _instance(api, m, response)
    api.take(
        response, [*policy(GET_VM_SCALE_SET_VM, m["sub"].lower()), (INSTANCE_VIEW_VM, sim.id.lower())], now
    )
    return _merge(response, json_response(200, shapes.instance_view(sim, now)))


def vmss_vm_perform_maintenance(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    sim = _instance(api, m, response)
    return api.start(response, sim.id, [sim], req, now)


def operation_status(
    api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response
) -> Response:
    op = api.world.operations.get(m["op"].lower())
    if op is None or op.subscription.lower() != m["sub"].lower():
        raise ArmError(404, "NotFound", f"The operation '{m['op']}' was not found.")
    response.operation = op.id
    response.vm = op.vm_ids[0] if len(op.vm_ids) == 1 else op.target
    api.take(response, policy(GET_OPERATION, m["sub"].lower()), now)
    status, error = op.status(now)
    retry = {"Retry-After": api.operation_retry_after()} if status == "InProgress" else {}
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


PERMISSIONS_API_VERSIONS = ("2015-07-01", "2018-01-01-preview", "2022-04-01", "2022-05-01-preview")


def permissions(api: Api, req: Request, m: re.Match[str], now: dt.datetime, response: Response) -> Response:
    """Permissions_ListForResourceGroup (Microsoft.Authorization, azure-rest-api-specs
    .../Microsoft.Authorization/stable/2022-04-01/authorization-RoleDefinitionsCalls.json): what the
    caller may do in the group, as a PermissionGetResult. The emulated caller holds every action
    (``*``) but the faults file's ``denied_actions``."""
    version = req.q("api-version")
    if version not in PERMISSIONS_API_VERSIONS:
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are "
            f"'{', '.join(PERMISSIONS_API_VERSIONS)}'.",
        )
    denied = list(api.faults.denied_actions)
    entry = {"actions": ["*"], "notActions": denied, "dataActions": [], "notDataActions": []}
    return _merge(response, json_response(200, {"value": [entry]}))


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
        ("GET", _RG + r"/providers/Microsoft\.Authorization/permissions", permissions),
    ]
]


def route(method: str, path: str) -> tuple[Handler | None, re.Match[str] | None, bool]:
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
