"""The shapes real Azure answers in, applied to the emulator's JSON (``azure:``, ``--azure-mode``).

The emulator renders every answer one way (``Z`` timestamps, ids as created); Azure is documented and
recorded answering in several, and a client must read them all:

- timestamps: ``2019-10-14T23:11:22+00:00`` and 7-digit fractions ``2019-10-14T21:30:12.8051917+00:00``
  (Azure/azure-rest-api-specs, .../ComputeRP/stable/2024-11-01/examples/virtualMachineExamples/
  VirtualMachine_Get_InstanceView.json; the operation bodies of Azure/azure-sdk-for-python's recording
  test_mgmt_compute_vmss.pyTestMgmtComputetest_compute_vmss_perform_maintenance.json);
- ids that name the resource group and resources in upper case (ARM ids are case-insensitive).

:func:`reshape` rewrites a rendered JSON body accordingly; the default contract leaves it untouched.
"""

from __future__ import annotations

import json
import re
from typing import Any

from executor.emulator.faults import Contract

_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$")
# segments whose following segment is a name Azure may upper-case
_NAMED = {"resourcegroups", "virtualmachines", "virtualmachinescalesets", "availabilitysets"}


def reshape(body: bytes, contract: Contract) -> bytes:
    """``body`` (JSON) in the contract's timestamp and id forms."""
    if (contract.timestamps == "z" and not contract.upper_case_ids) or not body:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return json.dumps(_walk(data, contract, None), separators=(",", ":")).encode()


def _walk(value: Any, contract: Contract, key: str | None) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, contract, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, contract, key) for v in value]
    if isinstance(value, str):
        if contract.upper_case_ids and key == "id" and value.lower().startswith("/subscriptions/"):
            return upper_case_id(value)
        if contract.timestamps != "z":
            return timestamp(value, contract.timestamps)
    return value


def timestamp(text: str, form: str) -> str:
    """An ISO timestamp ending in Z, in ``form``: offset (+00:00) or ticks (7 fraction digits, +00:00)."""
    match = _TIMESTAMP.match(text)
    if match is None:
        return text
    whole, fraction = match[1], match[2] or ""
    if form == "ticks":
        return f"{whole}.{(fraction + '0000000')[:7]}+00:00"
    return f"{whole}{'.' + fraction if fraction else ''}+00:00"


def upper_case_id(resource_id: str) -> str:
    """The resource group and resource names of an ARM id in upper case (types and subscription kept)."""
    parts = resource_id.split("/")
    return "/".join(
        part.upper() if i > 0 and parts[i - 1].lower() in _NAMED else part for i, part in enumerate(parts)
    )
