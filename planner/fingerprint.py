"""The plan's fingerprint: which spec and fleet it was made from (DESIGN §6)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import operator
from typing import Any

import pydantic_core

from planner.fleet import VM, Fleet, Maintenance
from planner.spec import Spec
from planner.values import format_timestamp

_ID = operator.attrgetter("id")


def fingerprint(spec: Spec, fleet: Fleet) -> str:
    """``sha256:<hex>`` of one canonical JSON document (sorted keys, no spaces) holding the spec's
    ``model_dump(mode="json")`` and the fleet's VMs sorted by id.

    The VMs are written as rows, one value per field in the order of ``fields`` (their JSON values,
    as ``model_dump(mode="json")`` gives them): the same facts, half the text of one object per VM,
    which matters for a fleet of 100,000 VMs. The snapshot's ``captured_at`` is left out: the same
    facts give the same plan.
    """
    vm_fields = sorted(VM.model_fields)
    m_fields = sorted(Maintenance.model_fields)
    plain = _Plain(vm_fields, m_fields)
    rows = [plain.row(vm) for vm in sorted(fleet.vms, key=_ID)]
    dumped = spec.model_dump(mode="json")
    for key in ("notify", "maintenance_events"):  # keys added later: left out when unset, so a plan
        if not dumped.get(key):  # made before they existed still matches its spec
            dumped.pop(key, None)
    head = {"spec": dumped, "fields": {"vm": vm_fields, "maintenance": m_fields}}
    # the document is head plus "vms", which sorts after "fields" and "spec": the rows go last
    text = json.dumps(head, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a lone surrogate (refused when loading a file) must not crash a hash of models
    digest = hashlib.sha256(text[:-1].encode("utf-8", "surrogatepass"))
    digest.update(b',"vms":')
    digest.update(_rows_json(rows))
    digest.update(b"}")
    return "sha256:" + digest.hexdigest()


def _rows_json(rows: list[list[Any]]) -> bytes:
    """The rows as ``json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    writes them, in UTF-8. pydantic-core's encoder writes the same bytes for these values (str, int,
    bool, None, lists, and tags, whose keys _Plain sorts) in a third of the time; a lone surrogate,
    which it refuses, goes the stdlib's way."""
    try:
        return pydantic_core.to_json(rows)
    except pydantic_core.PydanticSerializationError:
        # check_circular off: plain data without cycles (and 300,000 lists fewer to track)
        text = json.dumps(
            rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
        )
        return text.encode("utf-8", "surrogatepass")


class _Plain:
    """JSON values of fleet models, fast: a fleet shares few distinct maintenance statuses (a loaded
    snapshot shares their models too), so each is converted once."""

    def __init__(self, vm_fields: list[str], m_fields: list[str]):
        self.values = operator.itemgetter(*vm_fields)  # a pydantic model's __dict__: its field values
        self.at = vm_fields.index("maintenance")
        self.tags = vm_fields.index("tags")  # the one object among a VM's fields
        self.m_fields = m_fields
        self.by_id: dict[int, tuple[Maintenance, list[Any]]] = {}
        self.by_value: dict[tuple[Any, ...], list[Any]] = {}
        self.last: object = object()  # the model of the row before (none yet), and its JSON values
        self.last_row: list[Any] = []

    def row(self, vm: VM) -> list[Any]:
        out = list(self.values(vm.__dict__))
        if len(out[self.tags]) > 1:  # keys sorted, as json.dumps(sort_keys=True) writes them
            out[self.tags] = dict(sorted(out[self.tags].items()))
        m = out[self.at]
        if m is self.last:  # runs of VMs share one model: the one before's row, without a look-up
            out[self.at] = self.last_row
        elif m is not None:
            found = self.by_id.get(id(m))
            # the model is kept with its row: its id is not reused while the map lives
            out[self.at] = found[1] if found is not None else self._maintenance(m)
            self.last, self.last_row = m, out[self.at]
        return out

    def _maintenance(self, m: Maintenance) -> list[Any]:
        key = tuple(m.__dict__.values())
        found = self.by_value.get(key)
        if found is None:
            found = self.by_value[key] = [_json(m.__dict__[name]) for name in self.m_fields]
        self.by_id[id(m)] = (m, found)
        return found


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    return value
