"""Whatever the input, loading a spec either succeeds or raises SpecError: never another exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hostile import doc_paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import SpecError
from planner.load import parse_spec
from planner.source import load_text

PLAN_TEXTS = [p.read_text() for p in sorted(Path("plans").glob("*.yaml")) if p.stat().st_size < 20_000]
BASE_DATA = [load_text(text, "x").data for text in PLAN_TEXTS]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "45m",
            "30m",
            "1h30m",
            "PT45M",
            "90",
            "2026-11-23T22:00:00Z",
            "2026-11-23T22:00:00",
            "22:00-06:00",
            "34%",
            "0%",
            "Europe/Berlin",
            "Nowhere/City",
            "mon",
            "2026-12-24..2026-12-26",
            "rg/name",
            "",
            "db",
            "app",
            "web",
            "{name}",
        ]
    ),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "version",
                    "name",
                    "tiers",
                    "select",
                    "window",
                    "hours",
                    "x",
                    "depends_on",
                    "recovery_gap",
                    "inventory",
                    "defaults",
                    "health",
                    "checks",
                ]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


def load_or_spec_error(text: str) -> None:
    try:
        parse_spec(text, "fuzz.yaml")
    except SpecError as exc:
        assert exc.problems, "a SpecError always carries at least one problem"
        for problem in exc.problems:
            assert problem.line >= 1 and problem.col >= 1 and problem.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("abc: -[]{}'\"\n\t#&*!|>%@`,?1.0")), max_size=80))
def test_arbitrary_text_loads_or_raises_spec_error(text: str) -> None:
    """Random YAML-ish text never escapes as anything but a SpecError."""
    load_or_spec_error(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_arbitrary_yaml_documents_load_or_raise_spec_error(document: Any) -> None:
    """Any well-formed YAML document with spec-like keys gives a spec or a SpecError."""
    load_or_spec_error(yaml.safe_dump(document))


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    import copy

    data = copy.deepcopy(draw(st.sampled_from(BASE_DATA)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in doc_paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "rename"]))
        if action == "delete" or (action == "rename" and not isinstance(parent, dict)):
            del parent[path[-1]]
        elif action == "rename":
            parent[f"{path[-1]}x"] = parent.pop(path[-1])
        else:
            parent[path[-1]] = draw(documents)
    return data


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(mutated_specs())
def test_mutations_of_valid_specs_load_or_raise_spec_error(document: Any) -> None:
    """Deleting, renaming or replacing parts of the bundled plans never crashes the loader."""
    load_or_spec_error(yaml.safe_dump(document, default_flow_style=False))
