"""Plan previews: one renderer per output format of `udroll plan -o FORMAT`.

The registration point is ``RENDERERS`` below: a renderer is a function ``(Preview) -> str`` that
returns the whole document (the CLI writes it to stdout or ``--out``). To add a format, add a module
here (e.g. ``planner/render/markdown.py`` with ``def render(preview: Preview) -> str``), import it
below and add one line to ``RENDERERS``; the CLI's ``-o`` choices follow this dict.
"""

from __future__ import annotations

from collections.abc import Callable

from planner.render.html import render as render_html
from planner.render.markdown import render as render_markdown
from planner.render.mermaid import render as render_mermaid
from planner.render.plan_json import render as render_json
from planner.render.preview import Preview
from planner.render.table import render as render_table

Renderer = Callable[[Preview], str]

RENDERERS: dict[str, Renderer] = {
    "table": render_table,
    "json": render_json,
    "html": render_html,
    "markdown": render_markdown,
    "mermaid": render_mermaid,
}

__all__ = ["RENDERERS", "Preview", "Renderer"]
