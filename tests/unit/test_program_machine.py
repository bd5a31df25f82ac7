"""supervisord's process rules, checked on the pure machine: a few worked cases, then hypothesis
driving random event sequences against an independent model of the rules."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from barto.worker.programs.machine import ALIVE, ALLOWED, Action, Process, Rules, State


def test_a_start_that_lasts_startsecs_is_running() -> None:
    process = Process(Rules(startsecs=1))
    assert process.start(0.0) == [Action.SPAWN]
    assert process.spawned(0.0) == []
    assert process.wake_at() == 1.0
    process.tick(1.0)
    assert process.state == State.RUNNING


@pytest.mark.parametrize("code", [0, 1])
def test_quick_exits_back_off_longer_each_time_then_are_fatal(code: int) -> None:
    process = Process(Rules(startsecs=1, startretries=2))
    process.start(0.0)
    now, waits = 0.0, []
    for _ in range(3):
        process.spawned(now)
        process.exited(now + 0.1, code)  # too quick, whatever the code
        if process.state == State.FATAL:
            break
        assert process.state == State.BACKOFF
        waits.append(process.delay - (now + 0.1))
        now = process.delay
        assert process.tick(now) == [Action.SPAWN]
    assert waits == [1.0, 2.0]
    assert process.state == State.FATAL


@pytest.mark.parametrize(
    ("autorestart", "code", "restarts"),
    [("true", 0, True), ("false", 1, False), ("unexpected", 2, False), ("unexpected", 1, True)],
)
def test_after_running_an_exit_restarts_by_autorestart_and_exitcodes(
    autorestart: str, code: int, restarts: bool
) -> None:
    process = Process(Rules(startsecs=0, autorestart=autorestart, exitcodes=frozenset({0, 2})))  # type: ignore[arg-type]
    process.start(0.0)
    process.spawned(0.0)
    assert process.state == State.RUNNING
    actions = process.exited(50.0, code)
    assert (actions == [Action.SPAWN], process.state) == (restarts, State.STARTING if restarts else State.EXITED)


def test_a_stop_signals_then_kills_after_stopwaitsecs() -> None:
    process = Process(Rules(startsecs=0, stopwaitsecs=10))
    process.start(0.0)
    process.spawned(0.0)
    assert process.stop(5.0) == [Action.STOP]
    assert process.tick(14.0) == []
    assert process.tick(15.0) == [Action.KILL]
    assert process.tick(30.0) == []  # one KILL
    process.exited(31.0, -9)
    assert process.state == State.STOPPED


class Supervised(RuleBasedStateMachine):
    """Random starts, stops, spawn outcomes, exits and waits; the model says what must follow."""

    @initialize(
        startsecs=st.sampled_from([0.0, 1.0, 3.0]),
        startretries=st.integers(0, 3),
        autorestart=st.sampled_from(["true", "false", "unexpected"]),
        exitcodes=st.frozensets(st.integers(0, 3), min_size=1, max_size=2),
        stopwaitsecs=st.sampled_from([0.5, 2.0]),
    )
    def setup(
        self, startsecs: float, startretries: int, autorestart: str, exitcodes: frozenset[int], stopwaitsecs: float
    ) -> None:
        rules = Rules(startsecs, startretries, autorestart, exitcodes, stopwaitsecs)  # type: ignore[arg-type]
        self.process = Process(rules)
        self.now = 0.0
        self.spawning = False  # a SPAWN action awaits its answer (the supervisor answers at once)
        self.failures = 0  # the model's count of failed starts in a row
        self.kills = 0

    def act(self, actions: list[Action]) -> None:
        self.spawning = Action.SPAWN in actions or self.spawning
        self.kills += actions.count(Action.KILL)

    @precondition(lambda self: not self.spawning)
    @rule()
    def start(self) -> None:
        if self.process.state not in (State.STARTING, State.RUNNING, State.STOPPING):
            self.failures = 0
        self.act(self.process.start(self.now))

    @precondition(lambda self: not self.spawning)
    @rule()
    def stop(self) -> None:
        self.kills = 0
        self.act(self.process.stop(self.now))

    @precondition(lambda self: self.spawning)
    @rule(works=st.booleans())
    def answer_spawn(self, works: bool) -> None:
        self.spawning = False
        if works:
            self.act(self.process.spawned(self.now))
        else:
            self.failures += 1
            self.act(self.process.spawn_failed(self.now, "no such file"))
        self.check_fatal()

    @precondition(lambda self: not self.spawning and self.process.alive)
    @rule(code=st.integers(0, 3))
    def exit(self, code: int) -> None:
        before, lived = self.process.state, self.now - self.process.laststart
        quick = before != State.STOPPING and lived < self.process.rules.startsecs
        self.failures = self.failures + 1 if quick else 0
        self.act(self.process.exited(self.now, code))
        if before in (State.RUNNING, State.STARTING) and not quick:
            rules = self.process.rules
            restart = rules.autorestart == "true" or (rules.autorestart == "unexpected" and code not in rules.exitcodes)
            assert self.process.state == (State.STARTING if restart else State.EXITED)
        if before == State.STOPPING:
            assert self.process.state == State.STOPPED
        self.check_fatal()

    @precondition(lambda self: not self.spawning)
    @rule(seconds=st.sampled_from([0.25, 1.0, 2.0, 5.0]))
    def wait(self, seconds: float) -> None:
        self.now += seconds
        before = self.process.state
        self.act(self.process.tick(self.now))
        if before == State.STARTING and self.process.state == State.RUNNING:
            assert self.now - self.process.laststart >= self.process.rules.startsecs
            self.failures = 0
        self.check_fatal()

    def check_fatal(self) -> None:
        if self.process.state == State.FATAL and self.process.changes[-1][1] == State.FATAL:
            assert self.failures == self.process.rules.startretries + 1

    @invariant()
    def only_supervisord_transitions(self) -> None:
        assert all(change in ALLOWED for change in self.process.changes)

    @invariant()
    def a_process_exists_exactly_in_the_live_states(self) -> None:
        if not self.spawning:
            assert self.process.alive == (self.process.state in ALIVE)

    @invariant()
    def at_most_one_kill_per_stop(self) -> None:
        assert self.kills <= 1


Supervised.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_supervisord_rules_hold_for_any_sequence_of_events = Supervised.TestCase
