"""The JSON Schema of the spec format (draft 2020-12), for editors and for `udroll schema`."""

from __future__ import annotations

from typing import Any

from planner.schema_docs import document
from planner.spec import Spec


def spec_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(mode="validation")
    # `select` is normalised from "a mapping or a list" before validation; say both to editors
    schema["$defs"]["Tier"]["properties"]["select"] = {
        "oneOf": [
            {"$ref": "#/$defs/Selector"},
            {"type": "array", "items": {"$ref": "#/$defs/Selector"}, "minItems": 1},
        ],
        "description": "A selector (all keys must match) or a list of selectors (any may match).",
    }
    _fix_array_lengths(schema)
    document({"Spec": schema, **schema["$defs"]})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://udroll.dev/schema/spec-v1.json",
        **schema,
        "title": "udroll rollout spec, version 1",
        "description": "Plan and run Azure self-service maintenance: see DESIGN §4 and the README.",
    }


def _fix_array_lengths(node: Any) -> None:
    """pydantic writes `minLength` for a length-constrained tuple behind a validator; arrays say minItems."""
    if isinstance(node, dict):
        if node.get("type") == "array" and "minLength" in node:
            node["minItems"] = node.pop("minLength")
        for value in node.values():
            _fix_array_lengths(value)
    elif isinstance(node, list):
        for value in node:
            _fix_array_lengths(value)
