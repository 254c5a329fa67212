"""`-o json`: the `udroll/plan@1` document (DESIGN §6), exactly Plan.to_json()."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.render.preview import Preview


def render(preview: Preview) -> str:
    return preview.plan.to_json()
