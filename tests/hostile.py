"""Mutated specs, fleets, faults files and --start values, and what udroll makes of them (issue 14).

Shared by the bounded fuzz test (tests/test_hostile_fuzz.py) and the 10,000-input runner
(benchmarks/fuzz_inputs.py). A mutation is a function ``(rng, text, fmt) -> text`` over a realistic
base input: the bundled example plans, their inventories as fleet snapshots, the documented faults
file and a plan start. :func:`attempt` runs one input through the real entry points (load, plan,
render) and says how it ended: accepted, refused with located problems, or a traceback.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from executor.emulator.faults import parse_faults
from planner.build import build_plan
from planner.errors import SpecError, UdrollError
from planner.fleet import parse_fleet
from planner.load import parse_spec
from planner.render import RENDERERS, Preview
from planner.values import parse_timestamp

ROOT = Path(__file__).resolve().parent.parent
PLANS = sorted((ROOT / "plans").glob("*.yaml"))
FAULTS = """version: 1
seed: 7
maintenance_duration: 10m
health_warmup: 1m
throttling: true
page_size: 100
errors: {rate: 0.02, status: [500, 503]}
latency_ms: 20
outages:
  - {start: 2h, duration: 15m, mode: refuse}
  - {start: 2026-11-24T01:00:00Z, duration: 5m}
vms:
  rg-shop-db/db-1: {retry_later: 2}
  rg-shop-app/vmss-app/3: {abort: 1}
  rg-shop-web/web-2: {duration: 45m, health: flapping, flap_period: 2m}
  rg-shop-web/web-4: {health: never}
"""
START = "2026-11-23T21:00:00Z"
Mutation = Callable[[random.Random, str, str], str]


@dataclass(frozen=True)
class Base:
    kind: str  # spec | fleet | faults | start
    name: str
    text: str

    @property
    def fmt(self) -> str:
        return "json" if self.kind == "fleet" else "text" if self.kind == "start" else "yaml"


def bases() -> list[Base]:
    out = [Base("spec", p.name, p.read_text()) for p in PLANS]
    for p in PLANS:
        loaded = parse_spec(p.read_text(), str(p))
        if loaded.inventory is not None:
            out.append(Base("fleet", p.stem + ".json", loaded.inventory.to_json()))
    return [*out, Base("faults", "faults.yaml", FAULTS), Base("start", "--start", START)]


# --- text mutations -------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _at(rng: random.Random, text: str) -> int:
    return rng.randrange(len(text) + 1)


def _insert(text: str, at: int, piece: str) -> str:
    return text[:at] + piece + text[at:]


def delete_line(rng: random.Random, text: str, fmt: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def duplicate_line(rng: random.Random, text: str, fmt: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    return "\n".join(lines[: i + 1] + [lines[i]] + lines[i + 1 :])


def swap_lines(rng: random.Random, text: str, fmt: str) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def indent_line(rng: random.Random, text: str, fmt: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines[i] = " " * rng.choice([1, 2, 3, 7]) + lines[i] if rng.random() < 0.5 else lines[i].lstrip()
    return "\n".join(lines)


def truncate(rng: random.Random, text: str, fmt: str) -> str:
    return text[: _at(rng, text)]


def flip_char(rng: random.Random, text: str, fmt: str) -> str:
    at = rng.randrange(max(1, len(text)))
    return text[:at] + chr(rng.randrange(32, 127)) + text[at + 1 :]


def printable_junk(rng: random.Random, text: str, fmt: str) -> str:
    junk = "".join(rng.choice(":-{}[],&*!|>'\"%@`#?\\ \n\tab1") for _ in range(rng.randint(1, 12)))
    return _insert(text, _at(rng, text), junk)


def control_char(rng: random.Random, text: str, fmt: str) -> str:
    return _insert(text, _at(rng, text), chr(rng.choice([0, 1, 7, 8, 0x0B, 0x1B, 0x7F, 0x85, 0xFEFF])))


def lone_surrogate(rng: random.Random, text: str, fmt: str) -> str:
    quote = text.find('"', _at(rng, text))
    if quote < 0:
        return text + '\nx: "\\ud800"\n'
    return _insert(text, quote + 1, rng.choice(["\\ud800", "\\udfff", "\\udbff\\u0041"]))


def odd_unicode(rng: random.Random, text: str, fmt: str) -> str:
    return _insert(text, _at(rng, text), rng.choice(["\u202e", "\u200b", "é", "\U0001f600", "\u2028", "İ"]))


def unbalanced(rng: random.Random, text: str, fmt: str) -> str:
    return _insert(text, _at(rng, text), rng.choice(["[", "{", "]", "}", '"', "'", "[{", "}]"]))


def long_line(rng: random.Random, text: str, fmt: str) -> str:
    return _insert(text, _at(rng, text), rng.choice("ax9{") * rng.choice([300, 5000, 100_000]))


def deep_block(rng: random.Random, text: str, fmt: str) -> str:
    depth = rng.choice([70, 495, 2000])
    return text + "\n" + "".join("  " * i + "k:\n" for i in range(depth)) + "  " * depth + "v: 1\n"


def deep_flow(rng: random.Random, text: str, fmt: str) -> str:
    depth = rng.choice([100, 999, 100_000])
    if fmt == "json":
        return "[" * depth + "]" * rng.choice([0, depth])
    return text + "\nx: " + "[" * depth + "]" * depth + "\n"


def alias_bomb(rng: random.Random, text: str, fmt: str) -> str:
    bomb, prev = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n', "a0"
    for i in range(1, rng.choice([5, 9, 10])):
        bomb += f"a{i}: &a{i} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = f"a{i}"
    return (text.rstrip("\n") + "\n" if fmt == "yaml" else "") + bomb


def recursive_alias(rng: random.Random, text: str, fmt: str) -> str:
    return text.rstrip("\n") + "\n" + rng.choice(["rec: &r {a: *r}\n", "rec: &r [*r]\n", "x: *undefined\n"])


def merge_key(rng: random.Random, text: str, fmt: str) -> str:
    return text.rstrip("\n") + "\nbase: &b {a: 1}\nother: {<<: *b}\n"


def odd_tag(rng: random.Random, text: str, fmt: str) -> str:
    tag = rng.choice(["!!python/object:os.system", "!!binary", "!custom", "!!set", "!!omap", "!!float"])
    return text.rstrip("\n") + f"\nx: {tag} abc\n"


def multi_document(rng: random.Random, text: str, fmt: str) -> str:
    return text + rng.choice(["\n---\nversion: 1\n", "\n...\n", "\n--- |\n  x\n"])


TEXT_MUTATIONS: list[Mutation] = [
    delete_line,
    duplicate_line,
    swap_lines,
    indent_line,
    truncate,
    flip_char,
    printable_junk,
    control_char,
    lone_surrogate,
    odd_unicode,
    unbalanced,
    long_line,
    deep_block,
    deep_flow,
    alias_bomb,
    recursive_alias,
    merge_key,
    odd_tag,
    multi_document,
]


# --- mutations of the parsed document ----------------------------------------------------------


def doc_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a parsed document (the root is ``()``)."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += doc_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += doc_paths(v, (*prefix, i))
    return out


def _get(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


def _dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=1, default=str)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _parsed(text: str, fmt: str) -> Any:
    return json.loads(text) if fmt == "json" else yaml.safe_load(text)


def _set_value(value: Callable[[random.Random], Any]) -> Mutation:
    """A mutation that replaces a random scalar (or any node) of the document with ``value(rng)``."""

    def mutate(rng: random.Random, text: str, fmt: str) -> str:
        data = copy.deepcopy(_parsed(text, fmt))
        paths = [p for p in doc_paths(data) if p]
        if not paths:
            return _dump(value(rng), fmt)
        path = rng.choice(paths)
        _get(data, path[:-1])[path[-1]] = value(rng)
        return _dump(data, fmt)

    mutate.__name__ = value.__name__
    return mutate


def _structural(change: Callable[[random.Random, Any], None]) -> Mutation:
    """A mutation that changes a random list or mapping of the document in place."""

    def mutate(rng: random.Random, text: str, fmt: str) -> str:
        data = copy.deepcopy(_parsed(text, fmt))
        nodes = [_get(data, p) for p in doc_paths(data)]
        nodes = [n for n in nodes if isinstance(n, (dict, list)) and n]
        if nodes:
            change(rng, rng.choice(nodes))
        return _dump(data, fmt)

    mutate.__name__ = change.__name__
    return mutate


def boolean(rng: random.Random) -> Any:
    return rng.choice([True, False])


def fraction(rng: random.Random) -> Any:
    return rng.choice([1.0, 0.5, -0.0, 1e308, float("inf")])


def huge_int(rng: random.Random) -> Any:
    return rng.choice([10**30, 2**63, -(2**63), 10**4000])


def negative(rng: random.Random) -> Any:
    return rng.choice([-1, 0, -86400])


def null(rng: random.Random) -> Any:
    return None


def empty_string(rng: random.Random) -> Any:
    return rng.choice(["", " ", "\t"])


def long_string(rng: random.Random) -> Any:
    return rng.choice(["A", "Europe/", "../"]) * rng.choice([100, 300, 5000])


def ancient_timestamp(rng: random.Random) -> Any:
    return rng.choice(["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "1900-01-01T00:00:00Z"])


def final_timestamp(rng: random.Random) -> Any:
    return rng.choice(["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00", "9000-12-31T00:00:00Z"])


def huge_duration(rng: random.Random) -> Any:
    return rng.choice(["99999999999d", "P99999999DT1H", "366d", "367d", "1" + "0" * 30 + "s", "PT"])


def odd_percentage(rng: random.Random) -> Any:
    return rng.choice(["0.5%", "1e400%", "nan%", "100.0001%", "-5%", "%", "50%%"])


def half_open_range(rng: random.Random) -> Any:
    return rng.choice(["2026-12-01..", "..2026-12-01", "..", "2026-12-02..2026-12-01", "2026-02-30"])


def nested_regex(rng: random.Random) -> Any:
    depth = rng.choice([100, 500, 5000])
    return rng.choice(["(" * depth + "x" + ")" * depth, "(?:" * depth + ")" * depth, "(" * depth])


def placeholder(rng: random.Random) -> Any:
    return rng.choice(["{nam}", "{vm_name}", "{step}{tier}", "{", "}{", "{{name}}", "{name"])


def dash_value(rng: random.Random) -> Any:
    return rng.choice(["-rf", "--help", "-"])


def type_confusion(rng: random.Random) -> Any:
    return rng.choice([[], {}, [1, [2]], {"a": {"b": None}}, ["x"] * 3])


def not_an_arm_id(rng: random.Random) -> Any:
    return rng.choice(["db-2", "/subscriptions/s", "/subscriptions//resourceGroups/rg", " "])


def weird_zone(rng: random.Random) -> Any:
    return rng.choice(["Nowhere/City", "../../etc/passwd", "UTC\x00", "Europe/Berlin ", "/", "."])


def drop_key(rng: random.Random, node: Any) -> None:
    if isinstance(node, dict):
        del node[rng.choice(list(node))]
    else:
        del node[rng.randrange(len(node))]


def unknown_key(rng: random.Random, node: Any) -> None:
    if isinstance(node, dict):
        node[rng.choice(["nmae", "extra", "Version", "tiers ", ""])] = 1
    else:
        node.append({"unexpected": True})


def duplicate_item(rng: random.Random, node: Any) -> None:
    if isinstance(node, list):
        node.append(copy.deepcopy(rng.choice(node)))
    else:
        key = rng.choice(list(node))
        node[f"{key}"] = copy.deepcopy(node[key])


def empty_collection(rng: random.Random, node: Any) -> None:
    node.clear()


def self_dependency(rng: random.Random, node: Any) -> None:
    if isinstance(node, dict) and "name" in node:
        node["depends_on"] = [node["name"]]
    elif isinstance(node, dict):
        node["depends_on"] = ["db", "db"]


def many_items(rng: random.Random, node: Any) -> None:
    if isinstance(node, list):
        node.extend(copy.deepcopy(node[-1]) for _ in range(rng.choice([30, 330])))


def chained_tiers(rng: random.Random, node: Any) -> None:
    """330+ tiers, each depending on the one before (a deep dependency chain)."""
    if isinstance(node, dict) and isinstance(node.get("tiers"), list):
        node["tiers"] = [
            {"name": f"t{i}", "select": {"resource_group": "rg"}, "depends_on": [f"t{i - 1}"] if i else []}
            for i in range(rng.choice([330, 600]))
        ]


VALUE_MUTATIONS: list[Mutation] = [
    _set_value(f)
    for f in (
        boolean,
        fraction,
        huge_int,
        negative,
        null,
        empty_string,
        long_string,
        ancient_timestamp,
        final_timestamp,
        huge_duration,
        odd_percentage,
        half_open_range,
        nested_regex,
        placeholder,
        dash_value,
        type_confusion,
        not_an_arm_id,
        weird_zone,
    )
]
STRUCTURE_MUTATIONS: list[Mutation] = [
    _structural(f)
    for f in (
        drop_key,
        unknown_key,
        duplicate_item,
        empty_collection,
        self_dependency,
        many_items,
        chained_tiers,
    )
]
MUTATIONS: list[Mutation] = TEXT_MUTATIONS + VALUE_MUTATIONS + STRUCTURE_MUTATIONS


def mutate(base: Base, mutation: Mutation, seed: int) -> str:
    """``base`` changed by ``mutation`` (a --start value gets the text mutations only)."""
    rng = random.Random(seed)
    if base.kind == "start" and mutation not in TEXT_MUTATIONS:
        return str(mutation(rng, json.dumps({"start": base.text}), "json")).strip()[:200]
    return mutation(rng, base.text, base.fmt if base.fmt != "text" else "yaml")


# --- running one input -----------------------------------------------------------------------------


@dataclass
class Outcome:
    """How one input ended: ``ok``, ``refused`` (problems listed) or ``traceback`` (``where``)."""

    status: str
    problems: list[str] = field(default_factory=list)
    unlocated: list[str] = field(default_factory=list)
    where: str = ""


def attempt(base: Base, text: str) -> Outcome:
    """Run ``text`` as ``base.kind`` through loading, planning and the previews."""
    try:
        _run(base, text)
    except SpecError as exc:
        located = [str(p) for p in exc.problems]
        return Outcome("refused", located, [str(p) for p in exc.problems if p.line == 0 and p.col == 0])
    except (UdrollError, ValueError) as exc:  # e.g. --start: the option is the position
        if base.kind == "start" and not isinstance(exc, UdrollError):
            return Outcome("refused", [f"--start: {exc}"])
        return Outcome("refused", [str(exc)], [str(exc)])
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno} ({frame.name})"
        return Outcome("traceback", where=where)
    return Outcome("ok")


_BASE_SPEC = parse_spec((ROOT / "plans" / "three-tier-shop.yaml").read_text(), "three-tier-shop.yaml")


def _run(base: Base, text: str) -> None:
    if base.kind == "spec":
        loaded = parse_spec(text, "spec.yaml")
        if loaded.inventory is not None:
            start = loaded.spec.window.not_before or parse_timestamp(START)
            _plan_and_render(loaded.spec, loaded.inventory, start)
    elif base.kind == "fleet":
        fleet = parse_fleet(text, "fleet.json")
        _plan_and_render(_BASE_SPEC.spec, fleet, parse_timestamp(START), render=False)
    elif base.kind == "faults":
        faults = parse_faults(text, "faults.yaml")
        assert _BASE_SPEC.inventory is not None
        faults.check_refs(vm.ref for vm in _BASE_SPEC.inventory.vms)
    else:
        start = parse_timestamp(text)
        assert _BASE_SPEC.inventory is not None
        _plan_and_render(_BASE_SPEC.spec, _BASE_SPEC.inventory, start)


def _plan_and_render(spec: Any, fleet: Any, start: dt.datetime, render: bool = True) -> None:
    plan = build_plan(spec, fleet, start, source="spec.yaml")
    if render:
        preview = Preview(plan, spec, fleet)
        for name in ("markdown", "mermaid", "html"):
            RENDERERS[name](preview)
