"""Read YAML (and JSON, which YAML reads too) while remembering where every key and value came from.

Validation errors name a path inside the document (``("tiers", 0, "recovery_gap")``); this module
turns that path back into ``file:line:col``. Scalars that YAML would turn into timestamps are kept
as their source text so that the models can tell a timestamp without a zone from one with a zone.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path as FilePath
from typing import Any

import yaml

from planner.errors import Problem, SpecError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is much faster; same marks

Path = tuple[Hashable, ...]
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


@dataclass(frozen=True)
class Located:
    """A parsed document and the 1-based (line, col) of every value and mapping key in it."""

    file: str
    data: Any
    values: dict[Path, tuple[int, int]] = field(repr=False)
    keys: dict[Path, tuple[int, int]] = field(repr=False)

    def where(self, loc: Sequence[Hashable], *, key: bool = False) -> tuple[int, int]:
        """The position of the deepest part of ``loc`` that exists in the document.

        Validators report paths that may include parts the document does not have (a union member's
        name, a missing field): those are skipped, and the nearest existing ancestor is used.
        """
        path = self.resolve(loc)
        if key and path in self.keys:
            return self.keys[path]
        return self.values.get(path, (1, 1))

    def resolve(self, loc: Sequence[Hashable]) -> Path:
        """The longest path through the data that follows ``loc``, skipping parts that don't fit."""
        node: Any = self.data
        path: Path = ()
        for part in loc:
            if _has(node, part):
                node, path = node[part], (*path, part)
        return path

    def problem(self, loc: Sequence[Hashable], message: str, *, key: bool = False) -> Problem:
        line, col = self.where(loc, key=key)
        return Problem(self.file, line, col, message)


def read_input(path: str | PathLike[str], what: str) -> str:
    """The text of an input file; an unreadable or non-UTF-8 file is a located problem."""
    file = str(path)
    try:
        return FilePath(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "check the path (relative paths are from the current directory)"
        raise SpecError([Problem(file, 0, 0, f"{what} not found: {hint}")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(file, 0, 0, f"is a directory: pass the {what} file inside it")]) from None
    except OSError as exc:
        raise SpecError([Problem(file, 0, 0, f"cannot read {what}: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise SpecError([Problem(file, 0, 0, f"{what} is not UTF-8 text: save it as UTF-8")]) from None


def _has(node: Any, part: Hashable) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def load_text(text: str, file: str) -> Located:
    """Parse one YAML document with a safe loader; a syntax error becomes a SpecError at its line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_syntax_problem(exc, file)]) from None
    except yaml.reader.ReaderError as exc:  # a control character: its offset is known
        line, col = position(text, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        what = f"character U+{code:04X} is not allowed in YAML: remove it or write it as an escape"
        raise SpecError([Problem(file, line, col, what)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(file, 1, 1, f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    values: dict[Path, tuple[int, int]] = {}
    keys: dict[Path, tuple[int, int]] = {}
    if node is None:
        return Located(file, None, {(): (1, 1)}, keys)
    data = _Builder(file, values, keys).build(node, ())
    return Located(file, data, values, keys)


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset into ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _syntax_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    """libyaml's problem at its mark, with the context it names ("while parsing a flow mapping")
    and where that started: the real cause is often there, on an earlier line."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = f"YAML syntax error: {exc.problem or 'invalid YAML'}"
    if exc.context:
        message += f" ({exc.context}"
        start = exc.context_mark
        if start is not None and (start.line, start.column) != (line - 1, col - 1):
            message += f" that starts at line {start.line + 1}, column {start.column + 1}"
        message += ")"
    return Problem(file, line, col, message)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _yaml11_only(node: yaml.Node) -> bool:
    if getattr(node, "style", None):  # quoted or block scalars say what they are
        return False
    if node.tag == "tag:yaml.org,2002:bool":
        return node.value.lower() not in ("true", "false")
    if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
        return ":" in node.value
    return False


MAX_DEPTH = 64  # no spec, fleet or faults file nests deeper; Python's recursion limit is far away
MAX_ALIAS_NODES = 50_000  # nodes built again through aliases: a "billion laughs" stops here


class _Builder:
    """Python values from YAML nodes, with positions. Aliases are expanded, but a recursive alias,
    nesting deeper than MAX_DEPTH and more than MAX_ALIAS_NODES nodes built through aliases are
    located problems: a 500-byte alias bomb would otherwise take minutes and gigabytes."""

    def __init__(self, file: str, values: dict, keys: dict):
        self.file, self.values, self.keys = file, values, keys
        self.seen: set[int] = set()  # nodes built at least once
        self.again = 0  # nodes built once more through an alias
        self.open: set[int] = set()  # collections being built (an alias to one of them loops)

    def fail(self, node: yaml.Node, message: str) -> SpecError:
        return SpecError([Problem(self.file, *_mark(node), message)])

    def build(self, node: yaml.Node, path: Path, depth: int = 0) -> Any:
        self.values[path] = _mark(node)
        key = id(node)
        if key in self.seen:
            self.again += 1
            if self.again > MAX_ALIAS_NODES:
                raise self.fail(
                    node,
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} values (an alias bomb?): "
                    "write the values out or use fewer nested aliases",
                )
        self.seen.add(key)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if depth >= MAX_DEPTH:
                raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep: flatten the document")
            if key in self.open:
                raise self.fail(node, "an alias refers to a value that contains it: remove the recursion")
            self.open.add(key)
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, path, depth + 1)
                return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
            finally:
                self.open.discard(key)
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.fail(key_node, "YAML merge keys (<<) are not supported: write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "a mapping key must be a plain value")
            key = self._scalar(key_node)
            if not isinstance(key, Hashable):
                raise self.fail(key_node, "a mapping key must be a plain value")
            if key in out:
                raise self.fail(key_node, f"duplicate key {key!r}: remove one of them")
            self.keys[path + (key,)] = _mark(key_node)
            out[key] = self.build(value_node, (*path, key), depth)
        return out

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _TIMESTAMP or _yaml11_only(node):
            # timestamps stay text so the models can insist on a zone; YAML 1.1 quirks (yes/no/on/off
            # as booleans, 12:30 as a base-60 number) are read as YAML 1.2 does: as plain strings
            return node.value
        constructor = yaml.SafeLoader.yaml_constructors.get(node.tag)
        if constructor is None:
            raise self.fail(node, f"unsupported YAML tag {node.tag}: remove it")
        try:
            return constructor(_SCALARS, node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            raise self.fail(node, f"{node.value!r} is not a valid {kind}: {exc}") from None


_SCALARS = yaml.SafeLoader("")  # only used to construct plain scalars
