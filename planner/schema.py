"""The JSON Schema of the spec format (draft 2020-12), for editors and for `udroll schema`."""

from __future__ import annotations

from typing import Any

from planner.spec import Spec


def spec_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://udroll.dev/schema/spec-v1.json",
        **schema,
        "title": "udroll rollout spec, version 1",
        "description": "Plan and run Azure self-service maintenance: see DESIGN §4 and the README.",
    }
