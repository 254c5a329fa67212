"""Tables that fit the terminal: columns kept by value, lists wrapped at spaces, nothing cut.

A column is kept when it fits beside the more valuable ones (its ``rank``: higher is kept first);
a ``wrap`` column (a list of names) may shrink down to its longest word and wraps between words.
An ``extra`` column (what the others already say, in another form) is kept only when it fits with
the lists at their full width.
Other cells (ids, times, durations) are never wrapped or cut: when even the required columns are
wider than the terminal, the line is longer than the terminal rather than a number cut in two.
``wide`` keeps every column at its natural width (``--wide``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.console import Console
from rich.table import Table

Justify = Literal["left", "right"]
GUTTER = 3  # between two columns: a padding space, the rule, a padding space


@dataclass(frozen=True)
class Column:
    header: str
    rank: int  # higher: more valuable, kept first when the width is short
    wrap: bool = False  # a list that may wrap between its words
    justify: Justify = "left"
    extra: bool = False  # repeats what other columns say: shown only when the lists need not wrap


def _natural(header: str, cells: Sequence[str]) -> int:
    return max([len(header), *(len(c) for c in cells)])


def _least(column: Column, cells: Sequence[str]) -> int:
    if not column.wrap:
        return _natural(column.header, cells)
    words = [w for c in [column.header, *cells] for w in c.split()]
    return max([1, *(len(w) for w in words)])


def layout(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None) -> dict[int, int]:
    """Index -> width of each column kept (in display order); ``width=None``: all at natural width."""
    cells = [[row[i] for row in rows] for i in range(len(columns))]
    natural = [_natural(c.header, cells[i]) for i, c in enumerate(columns)]
    if width is None:
        return dict(enumerate(natural))
    least = [_least(c, cells[i]) for i, c in enumerate(columns)]
    kept: list[int] = []
    for i in sorted(range(len(columns)), key=lambda i: (columns[i].extra, -columns[i].rank)):
        room = [natural[k] if columns[i].extra and columns[k].wrap else least[k] for k in kept]
        if not kept or sum(room) + least[i] + GUTTER * len(kept) <= width:
            kept.append(i)
    kept.sort()
    widths = {i: least[i] for i in kept}
    spare = width - sum(widths.values()) - GUTTER * (len(kept) - 1)
    for i in kept:  # give the room left to the columns that are narrower than their natural width
        grow = min(max(spare, 0), natural[i] - widths[i])
        widths[i] += grow
        spare -= grow
    return widths


def fitted_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int | None,
    title: str | None = None,
    styles: Sequence[str | None] | None = None,
) -> Table:
    """A borderless rich table of the columns that fit ``width`` (see the module docstring)."""
    widths = layout(columns, rows, width)
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=False,
    )
    for i, w in widths.items():
        c = columns[i]
        table.add_column(c.header, width=w, justify=c.justify, no_wrap=not c.wrap, overflow="fold")
    for n, row in enumerate(rows):
        table.add_row(*(row[i] for i in widths), style=styles[n] if styles else None)
    return table


def table_width(widths: dict[int, int]) -> int:
    """Columns of a table laid out by :func:`layout` (what its console needs, at least)."""
    return sum(widths.values()) + GUTTER * max(0, len(widths) - 1)


def fitted_text(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None, title: str | None = None
) -> str:
    """:func:`fitted_table` as plain text lines (no colour, no trailing spaces)."""
    out = io.StringIO()
    needed = table_width(layout(columns, rows, width))
    console = Console(file=out, width=max(needed, width or 0, 20), color_system=None, highlight=False)
    console.print(fitted_table(columns, rows, width, title=title))
    return "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())
