"""Bounded fuzzing (issue 14): whatever a mutated spec, fleet, faults file or --start holds, udroll
accepts it or refuses it with located problems; never a traceback. (benchmarks/fuzz_inputs.py runs
10,000 such inputs with a time and memory watchdog.)"""

from __future__ import annotations

from hostile import MUTATIONS, Base, Mutation, attempt, bases, mutate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BASES = bases()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BASES), st.sampled_from(MUTATIONS), st.integers(0, 2**32 - 1))
def test_mutated_inputs_are_accepted_or_refused_with_positions(
    base: Base, mutation: Mutation, seed: int
) -> None:
    """Any of the 44 mutations of any base input ends in a plan or in located problems."""
    outcome = attempt(base, mutate(base, mutation, seed))
    assert outcome.status in ("ok", "refused"), outcome.where
    assert outcome.unlocated == []


def test_there_are_44_kinds_of_mutation_over_every_kind_of_input() -> None:
    """The fuzzers cover specs, fleets, faults files and --start with 44 distinct mutations."""
    assert len({m.__name__ for m in MUTATIONS}) == 44
    assert {b.kind for b in BASES} == {"spec", "fleet", "faults", "start"}
