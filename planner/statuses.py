"""Each distinct maintenance status of a fleet snapshot validated once.

A fleet's VMs share few statuses (a wave of maintenance gives them the same windows), and validating
one costs four timestamp parses: 100,000 VMs share a handful. Two raw statuses (JSON objects) are the
same when their reprs are: == is not enough, as true == 1 == 1.0 but only true is a boolean. The
status seen last is recognised at half repr's cost by == and the types of its values.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

M = TypeVar("M")
_UNSEEN: Any = object()


class Statuses(Generic[M]):
    """The models of the raw statuses of one snapshot, each validated by ``validate`` once."""

    def __init__(self, validate: Callable[[dict[str, Any]], M]):
        self.validate = validate
        self.done: dict[str, M | None] = {}
        self.last: _Last[M] | None = None

    def model(self, raw: dict[str, Any]) -> M | None:
        """The model of ``raw``, or None when it is not valid (validating it in its place says why)."""
        last = self.last
        # the common case, a wave, VM after VM: == holds values equal (1 == true too), and their
        # types, taken in the last status's key order, tell them apart
        if last is not None and raw == last.raw and list(map(type, last.values(raw))) == last.types:
            return last.model
        key = repr(raw)
        found = self.done.get(key, _UNSEEN)
        if found is _UNSEEN:
            try:
                found = self.done[key] = self.validate(raw)
            except ValidationError:
                found = self.done[key] = None
        if found is not None:
            self.last = _Last.of(raw, found)
        return found  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Last(Generic[M]):
    """A valid status and what tells a copy of it apart: its values' types in its key order."""

    raw: dict[str, Any]
    model: M
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    types: list[type]

    @staticmethod
    def of(raw: dict[str, Any], model: M) -> _Last[M] | None:
        """None when a number is nested in a list or object: == alone cannot tell 1 from true there."""
        if not raw or not all(_flat(v) for v in raw.values()):
            return None
        keys = list(raw)
        values = operator.itemgetter(*keys, keys[0])  # the first key twice: a tuple even for one key
        return _Last(raw, model, values, list(map(type, values(raw))))


def _flat(value: Any) -> bool:
    """A JSON value with no number (nor boolean) inside a list or object, at any depth."""
    if type(value) is dict:
        value = list(value.values())
    if type(value) is list:
        return all(v is None or type(v) is str or (type(v) in (list, dict) and _flat(v)) for v in value)
    return True
