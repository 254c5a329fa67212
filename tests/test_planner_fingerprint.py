"""The plan's fingerprint is the sha256 of one canonical JSON document, byte for byte, whatever the
text in the fleet (issue 13 writes it faster: pydantic-core's encoder for the VMs' rows)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.fingerprint import fingerprint
from planner.fleet import VM, Fleet, Maintenance
from planner.spec import Spec

SUB = "11111111-2222-3333-4444-555555555555"
SPEC = Spec.model_validate(
    {"version": 1, "name": "fp", "tiers": [{"name": "a", "select": {"tags": {"r": "a"}}}]}
)
STATUS = {
    "customer_initiated_allowed": True,
    "self_service_window": ["2026-11-20T00:00:00Z", "2026-12-24T00:00:00Z"],
}
# any text, also quotes, backslashes, control characters, non-ASCII and lone surrogates
TEXT = st.text(st.characters(codec=None), max_size=6)


def canonical(spec: Spec, fleet: Fleet) -> str:
    """The fingerprint as its definition states it: json.dumps of the whole document."""
    vm_fields, m_fields = sorted(VM.model_fields), sorted(Maintenance.model_fields)
    rows: list[list[Any]] = []
    for vm in sorted(fleet.vms, key=lambda v: v.id):
        data = dict(vm.__dict__)  # the values as they are (model_dump would replace a lone surrogate)
        if vm.maintenance is not None:
            status = vm.maintenance.model_dump(mode="json")
            data["maintenance"] = [
                status[f] if f != "last_message" else vm.maintenance.last_message for f in m_fields
            ]
        rows.append([data[f] for f in vm_fields])
    dumped = spec.model_dump(mode="json")
    for key in ("notify", "maintenance_events"):
        if not dumped.get(key):
            dumped.pop(key, None)
    document = {"spec": dumped, "fields": {"vm": vm_fields, "maintenance": m_fields}, "vms": rows}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(TEXT, st.dictionaries(TEXT, TEXT, max_size=4), st.integers(0, 2**70), st.booleans()),
        min_size=1,
        max_size=5,
    )
)
def test_the_fingerprint_is_the_hash_of_the_canonical_document(
    facts: list[tuple[str, dict[str, str], int, bool]],
) -> None:
    """Names, tags (unsorted keys), huge domains and statuses of any text hash as the document's bytes."""
    vms = [
        VM.model_validate(
            {
                "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm{i}",
                "name": name or "x",
                "resource_group": "rg",
                "availability_set": name,
                "update_domain": domain,
                "tags": tags,
                "maintenance": {**STATUS, "last_message": name} if pending else None,
            }
        )
        for i, (name, tags, domain, pending) in enumerate(facts)
    ]
    fleet = Fleet.model_construct(captured_at=None, vms=tuple(vms))
    assert fingerprint(SPEC, fleet) == canonical(SPEC, fleet)
