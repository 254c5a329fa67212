"""What the signed-in identity may do in a resource group (`udroll check`), read with Resource
Manager's documented call Permissions_ListForResourceGroup::

    GET /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Authorization/permissions
        ?api-version=2022-04-01   ->  {"value": [{"actions", "notActions", ...}], "nextLink"}

(azure-rest-api-specs .../Microsoft.Authorization/stable/2022-04-01/authorization-RoleDefinitionsCalls.json).
udroll's Azure SDKs are azure-mgmt-compute and azure-identity only; rather than add
azure-mgmt-authorization for one GET, the request goes through the Compute client's own pipeline
(``send_request``: the same credential, endpoint, TLS settings and paced retry policy).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.core.exceptions import ARMErrorFormat

from executor.azure.errors import (
    PERFORM_SCALE_SET,
    PERFORM_SCALE_SET_VM,
    PERFORM_VM,
    READ_INSTANCE_VIEW,
    READ_OPERATIONS,
    READ_SCALE_SET_VM_INSTANCE_VIEW,
    READ_SCALE_SET_VMS,
    READ_SCALE_SETS,
    READ_VMS,
    azure_errors,
)

API_VERSION = "2022-04-01"
# every action udroll's calls need: the README's custom role (tests/test_input_security.py)
ROLE_ACTIONS = (
    READ_VMS,
    READ_INSTANCE_VIEW,
    PERFORM_VM,
    READ_SCALE_SETS,
    READ_SCALE_SET_VMS,
    READ_SCALE_SET_VM_INSTANCE_VIEW,
    PERFORM_SCALE_SET_VM,
    PERFORM_SCALE_SET,
    READ_OPERATIONS,
)
Permission = dict[str, list[str]]


def list_permissions(
    client: ComputeManagementClient, subscription: str, resource_group: str
) -> list[Permission]:
    """The identity's permission entries in ``resource_group`` (every page)."""
    url: str | None = (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        "/providers/Microsoft.Authorization/permissions"
    )
    params: dict[str, str] | None = {"api-version": API_VERSION}
    found: list[Permission] = []
    with azure_errors(f"list the permissions of the signed-in identity in {resource_group}", "any role"):
        while url:
            response = client.send_request(HttpRequest("GET", url, params=params))
            if response.status_code != 200:  # Azure's CloudError, read as the generated operations do
                raise HttpResponseError(response=response, error_format=ARMErrorFormat)
            body = response.json()
            found += [_entry(item) for item in body.get("value", [])]
            url, params = body.get("nextLink"), None
    return found


def _entry(item: dict[str, Any]) -> Permission:
    return {key: [str(a) for a in item.get(key) or []] for key in ("actions", "notActions")}


def _matches(patterns: Iterable[str], action: str) -> bool:
    """Whether an action is named by one of ``patterns`` (RBAC wildcards, case-insensitive)."""
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def allowed(entries: Iterable[Permission], action: str) -> bool:
    """Azure RBAC: an action is allowed when some entry's actions name it and its notActions do not."""
    return any(_matches(e["actions"], action) and not _matches(e["notActions"], action) for e in entries)


def missing(entries: list[Permission], actions: Iterable[str] = ROLE_ACTIONS) -> list[str]:
    """The actions of ``actions`` the entries do not allow."""
    return [a for a in actions if not allowed(entries, a)]
