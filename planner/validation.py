"""Turn pydantic validation errors into located, actionable problems."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Hashable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from planner.errors import Problem
from planner.source import Located

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
}


def problems_from(exc: ValidationError, located: Located, model: type[BaseModel]) -> list[Problem]:
    problems = []
    errors = exc.errors(include_url=False)
    for error in errors:
        loc = tuple(error["loc"])
        kind = error["type"]
        if _follows_from_another(error, errors, model):
            continue
        path = located.resolve(loc)
        where = dotted(path) or "document"
        if kind == "extra_forbidden":
            key = loc[-1]
            known = sorted(fields_at(model, loc[:-1]))
            near = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f": did you mean {near[0]!r}?" if near else f"; known keys here: {', '.join(known)}"
            problems.append(
                located.problem((*path,), f"unknown key {key!r}{hint}", key=True)
                if path and path[-1] == key
                else located.problem(loc, f"unknown key {key!r}{hint}", key=True)
            )
        elif kind == "missing":
            field = loc[-1]
            problems.append(
                located.problem(loc[:-1], f"{_parent(path)}missing required key {field!r}: add it")
            )
        elif kind in _TYPE_NAMES:
            got = _describe(error.get("input"))
            problems.append(located.problem(loc, f"{where}: expected {_TYPE_NAMES[kind]}, got {got}"))
        elif kind in ("literal_error", "enum"):
            expected = error.get("ctx", {}).get("expected", "")
            problems.append(
                located.problem(loc, f"{where}: {error.get('input')!r} is not allowed; use {expected}")
            )
        elif kind == "value_error":
            message = str(error.get("ctx", {}).get("error", error["msg"]))
            problems.append(located.problem(loc, f"{where}: {message}"))
        elif kind == "string_pattern_mismatch":
            hint = _PATTERN_HINTS.get(str(path[-1]) if path else "", "")
            problems.append(located.problem(loc, f"{where}: {error.get('input')!r} is not valid{hint}"))
        elif kind == "too_short":
            problems.append(located.problem(loc, f"{where}: must not be empty"))
        else:
            problems.append(located.problem(loc, f"{where}: {_lower(error['msg'])}"))
    return problems


_PATTERN_HINTS = {
    "name": ": use lowercase letters, digits and dashes, starting with a letter or digit",
    "availability_set": ': write "resource-group/availability-set-name"',
    "scale_set": ': write "resource-group/scale-set-name"',
    "subscription": ": write the subscription id, e.g. 11111111-2222-3333-4444-555555555555",
}


def dotted(path: Sequence[Hashable]) -> str:
    """``tiers[0].select`` for the path ("tiers", 0, "select")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _follows_from_another(error: Any, errors: list[Any], model: type[BaseModel]) -> bool:
    """Errors that only repeat another one: a list "too short" because its items failed, and a
    "missing" key that is really a misspelled key already reported with "did you mean"."""
    loc = tuple(error["loc"])
    if error["type"] == "too_short":
        return any(tuple(e["loc"])[: len(loc)] == loc and len(e["loc"]) > len(loc) for e in errors)
    if error["type"] == "missing":
        parent, field = loc[:-1], loc[-1]
        for other in errors:
            other_loc = tuple(other["loc"])
            if other["type"] == "extra_forbidden" and other_loc[:-1] == parent:
                near = difflib.get_close_matches(str(other_loc[-1]), [str(field)], n=1, cutoff=0.6)
                if near:
                    return True
    return False


def _parent(path: tuple[Hashable, ...]) -> str:
    return f"{dotted(path)}: " if path else ""


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


def fields_at(model: type[BaseModel], loc: Sequence[Hashable]) -> set[str]:
    """The keys a mapping at ``loc`` may have, found by walking the model's annotations."""
    candidates: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for cls in _models_in(candidates):
            field = cls.model_fields.get(part) if isinstance(part, str) else None
            if field is not None:
                nxt.append(field.annotation)
        if not nxt:  # an index, or a union tag: stay on the element types
            nxt = [arg for c in candidates for arg in _element_types(c)] or candidates
        candidates = nxt
    return {name for cls in _models_in(candidates) for name in cls.model_fields}


def _models_in(annotations: list[Any]) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = []
    stack = list(annotations)
    while stack:
        ann = stack.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.append(ann)
        elif _is_union(ann) or typing.get_origin(ann) is typing.Annotated:
            stack.extend(
                typing.get_args(ann)[:1]
                if typing.get_origin(ann) is typing.Annotated
                else typing.get_args(ann)
            )
    return out


def _element_types(ann: Any) -> list[Any]:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _element_types(typing.get_args(ann)[0])
    if _is_union(ann):
        return [e for arg in typing.get_args(ann) for e in _element_types(arg)] or list(typing.get_args(ann))
    if origin in (list, tuple, set, frozenset, dict):
        args = [a for a in typing.get_args(ann) if a is not Ellipsis]
        return args[-1:] if origin is dict else args
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    return []


def _is_union(ann: Any) -> bool:
    return typing.get_origin(ann) in (typing.Union, types.UnionType)
