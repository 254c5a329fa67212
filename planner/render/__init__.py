"""Plan previews: one renderer per output format of `udroll plan -o FORMAT`.

The registration point is ``RENDERERS`` below: a renderer is a function ``(Preview) -> str`` that
returns the whole document (the CLI writes it to stdout or ``--out``). To add a format, add a module
here (e.g. ``planner/render/markdown.py`` with ``def render(preview: Preview) -> str``) and add
one line to ``RENDERERS``; the CLI's ``-o`` choices follow this dict. Each module is imported when
its format is first rendered: `udroll plan -o json` does not pay for the HTML chart's imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from planner.render.preview import Preview

Renderer = Callable[[Preview], str]


def _lazy(module: str) -> Renderer:
    """The ``render`` of ``planner.render.<module>``, imported on the first call."""

    def render(preview: Preview) -> str:
        found: Renderer = importlib.import_module(f"planner.render.{module}").render
        return found(preview)

    render.__name__ = render.__qualname__ = f"render_{module}"
    return render


RENDERERS: dict[str, Renderer] = {
    "table": _lazy("table"),
    "json": _lazy("plan_json"),
    "html": _lazy("html"),
    "markdown": _lazy("markdown"),
    "mermaid": _lazy("mermaid"),
}

__all__ = ["RENDERERS", "Preview", "Renderer"]
