"""Bounded mutation fuzzing in CI (tests/fuzzing.py; bench/fuzz.py runs a million inputs each):
no input may raise anything but the documented error, or take longer than a second."""

from __future__ import annotations

import random

import pytest

from tests import fuzzing

TARGETS = fuzzing.targets()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_no_input_crashes_or_hangs(name: str) -> None:
    target, refused, seeds = TARGETS[name]
    count = 300 if name.startswith("config") else 3000
    tally = fuzzing.run(target, refused, fuzzing.mutations(seeds, random.Random(name)), count)
    assert tally.inputs == count
    assert tally.findings == []
    assert tally.hangs == []
