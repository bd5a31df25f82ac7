"""Mutation fuzzing of what barto reads from outside: protocol frames (both directions), calendar
expressions (every dialect, with a next-fire computation), config files (the three programs'
loaders, TOML and checks), and control-socket lines. Each input is a seed mutated by a seeded
random generator (byte flips, insertions of hostile pieces, deletions, truncation, splicing).

An input passes when the code under test returns or raises the error it documents for bad
input; anything else is a finding, and so is an input that takes longer than :data:`HANG`.
Used by tests/unit/test_fuzz.py (a bounded count in CI) and bench/fuzz.py (a million each).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from barto.calendar import DIALECTS, CalendarError, parse
from barto.config import ConfigError, load_cli, load_server, load_worker, source
from barto.protocol import ProtocolError, decode_to_server, decode_to_worker

HANG = 1.0  # seconds one input may take before it counts as a hang

PIECES = [
    "\0",
    "\n",
    "\r\n",
    "\\",
    '"',
    "'",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "=",
    "*",
    "/",
    "..",
    "~",
    "-1",
    "0",
    "99999999999999999999",
    "1e999",
    "NaN",
    "null",
    "true",
    "\udcff",
    "é",
    "\u202e",
    "/../../etc/passwd",
    "%(ENV_X)s",
    "$(id)",
    "x" * 300,
]
PROTOCOL_SEEDS = [
    '{"type":"dispatch","jobs":[{"run_id":1,"schedule":"s","slot":"2026-01-01T00:00:00Z","attempt":1,"cmds":["true"]}]}',
    '{"type":"cancel","run_id":5}',
    '{"type":"ack","eid":9}',
    '{"type":"control","id":1,"request":{"command":"status"}}',
    '{"type":"welcome","protocol":1,"server_version":"x","session":"s","heartbeat_seconds":5,"timeout_seconds":10}',
    '[{"type":"accepted","run_ids":[1,2]},{"type":"started","run_id":1,"ts":"2026-01-01T00:00:00Z"}]',
    '{"type":"output","run_id":1,"seq":1,"stream":"stdout","ts":"2026-01-01T00:00:00Z","lines":["a"]}',
    '{"type":"finished","run_id":1,"started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:01Z",'
    '"lines":3,"exit_code":0}',
    '{"type":"hello","protocol":1,"name":"w1","version":"0.1","host":{"hostname":"h","os_name":"L",'
    '"os_version":"1","kernel":"6","python":"3.11"}}',
]
CALENDAR_SEEDS = [
    "*-*-* 00:00:00",
    "Mon..Fri 09:00",
    "*:0/15",
    "2026-02-29 12:00 Europe/Berlin",
    "daily",
    "hourly",
    "*-*~01 00:00",
    "Sat,Sun *-*-1..7 10:00",
    "0 */5 * * *",
    "@weekly",
    "0 0 12 ? * MON-FRI *",
    "H H * * *",
    "*/10 * * * * *",
    "0 0 L * ?",
    "0 15 10 ? * 6#3",
    "*:*:0/2.5",
    "R R:R",
]
CONFIG_SEEDS = {
    "bartos": "[actix]\nip = '127.0.0.1'\nport = 20000\n[database]\nurl = 'sqlite:///x.db'\n"
    "[schedules.w1]\nschedules = [{ name = 'a', on_calendar = 'daily', cmds = ['true'] }]\n"
    "[mariadb]\nhost = 'h'\nusername = 'u'\ndatabase = 'd'\noptions = 'ssl-mode=disabled'\n",
    "bartoc": "name = 'w1'\nretry_count = 3\n[bartos]\nhost = '127.0.0.1'\nport = 20000\n"
    "[programs.web]\ncmd = '/bin/true'\nnumprocs = 2\nstdout_logfile_maxbytes = '5MB'\n"
    "[taskmasterd]\numask = 0o22\n[unix_http_server]\nfile = 's.sock'\n",
    "barto-cli": "[bartos]\nprefix = 'http'\nhost = '127.0.0.1'\nport = 20000\n[taskmasterctl]\n"
    "serverurl = 'unix:///tmp/x.sock'\n",
}
CONTROL_SEEDS = [
    '{"command": "status"}',
    '{"command": "stop", "target": "program", "name": "web"}',
    '{"command": "signal", "name": "web", "signal": "HUP"}',
    '{"command": "tail", "name": "web", "bytes": 100}',
    '{"command": "pid"}',
    '{"command": "start"}',
]


@dataclass
class Tally:
    """What one target's run found."""

    inputs: int = 0
    refused: int = 0  # documented errors for bad input
    findings: list[tuple[str, str]] = field(default_factory=list)  # (input, what happened)
    hangs: list[str] = field(default_factory=list)
    slowest: float = 0.0


def mutations(seeds: list[str], rng: random.Random) -> Iterator[str]:
    """Endless inputs: a seed, mutated one to four times."""
    while True:
        text = rng.choice(seeds)
        for _ in range(rng.randint(1, 4)):
            text = _mutate(text, seeds, rng)
        yield text


def _mutate(text: str, seeds: list[str], rng: random.Random) -> str:
    at = rng.randint(0, len(text))
    match rng.randrange(6):
        case 0:
            return text[:at] + rng.choice(PIECES) + text[at:]
        case 1:
            return text[:at] + text[at + rng.randint(1, 8) :]
        case 2:
            return text[:at]
        case 3:
            other = rng.choice(seeds)
            return text[:at] + other[rng.randint(0, len(other)) :]
        case 4:
            return text[:at] + chr(rng.randrange(0x110000 if rng.random() < 0.1 else 128)) + text[at + 1 :]
        case _:
            return text[:at] + text[at:][:20] * rng.randint(2, 5) + text[at:]


def run(
    target: Callable[[str], None], refused: tuple[type[BaseException], ...], inputs: Iterator[str], count: int
) -> Tally:
    """Feed ``count`` inputs to ``target``; ``refused`` are the errors it documents for them."""
    tally = Tally()
    for _, text in zip(range(count), inputs, strict=False):
        started = time.perf_counter()
        try:
            target(text)
        except refused:
            tally.refused += 1
        except Exception as error:  # a finding: kept with the input that caused it
            tally.findings.append((text, f"{type(error).__name__}: {error}"[:300]))
        took = time.perf_counter() - started
        tally.slowest = max(tally.slowest, took)
        if took > HANG:
            tally.hangs.append(text)
        tally.inputs += 1
    return tally


def protocol(text: str) -> None:
    """Both directions' decoders."""
    for decode in (decode_to_worker, decode_to_server):
        with contextlib.suppress(ProtocolError):
            decode(text)


_BASE = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def calendar(text: str) -> None:
    """Every dialect's parser, then three next fire times of what parses."""
    for dialect in DIALECTS:
        try:
            spec = parse(text, dialect=dialect, tz="Europe/Dublin", seed="w/s")
        except CalendarError:
            continue
        at: datetime | None = _BASE
        for _ in range(3):
            at = spec.next_after(at) if at is not None else None


class ConfigTarget:
    """One program's loader, on a file rewritten for each input."""

    def __init__(self, program: str) -> None:
        self._folder = tempfile.TemporaryDirectory()
        self._path = Path(self._folder.name) / f"{program}.toml"
        loaders: dict[str, Callable[[Any], Any]] = {"bartos": load_server, "bartoc": load_worker}
        loaders["barto-cli"] = load_cli
        self._load = loaders[program]
        self._program = program

    def __call__(self, text: str) -> None:
        self._path.write_text(text, encoding="utf-8", errors="surrogatepass")
        self._load(source(self._program, self._path, {}, {}))


ENV_KEYS = {
    "bartos": [
        "BARTOS_ACTIX__PORT",
        "BARTOS_ACTIX__IP",
        "BARTOS_DATABASE__URL",
        "BARTOS_MARIADB__OPTIONS",
        "BARTOS_HEARTBEAT_SECONDS",
        "BARTOS_LIMITS__BODY_BYTES",
        "BARTOS_TOKENS__X__TOKEN",
        "BARTOS_TIMEZONE",
    ],
    "bartoc": [
        "BARTOC_NAME",
        "BARTOC_RETRY_COUNT",
        "BARTOC_BARTOS__PORT",
        "BARTOC_BARTOS__URLS",
        "BARTOC_PROGRAMS__WEB__NUMPROCS",
        "BARTOC_TASKMASTERD__UMASK",
        "BARTOC_REPLAY_WINDOW_SECS",
    ],
    "barto-cli": ["BARTO_CLI_BARTOS__PORT", "BARTO_CLI_BARTOS__PREFIX", "BARTO_CLI_BARTOS__HOST"],
}


class ConfigEnvTarget(ConfigTarget):
    """One program's loader on its valid seed file, with one environment override set to the
    input (the key chosen by the input itself, so runs are reproducible)."""

    def __call__(self, text: str) -> None:
        self._path.write_text(CONFIG_SEEDS[self._program], encoding="utf-8")
        keys = ENV_KEYS[self._program]
        env = {keys[len(text) % len(keys)]: text}
        self._load(source(self._program, self._path, {}, env))


class ControlTarget:
    """The control socket's line handler, on a supervisor with one program that never starts."""

    def __init__(self) -> None:
        from barto.config.programs import ProgramDef
        from barto.worker.programs import control
        from barto.worker.programs.supervisor import Hooks, Supervisor

        self._folder = tempfile.TemporaryDirectory()
        self._loop = asyncio.new_event_loop()
        web = ProgramDef(cmd="/bin/true", autostart=False, startsecs=0, autorestart="false")
        supervisor = Supervisor({"web": web}, log_dir=Path(self._folder.name), env={}, hooks=Hooks())
        self._running = self._loop.create_task(supervisor.run())  # a real supervisor, serving
        self._control = control.Control(supervisor, shutdown=lambda: None, reread=lambda: {"web": web})
        atexit.register(self.close)

    def close(self) -> None:
        """Stop the supervisor and its loop."""
        if not self._loop.is_closed():
            self._running.cancel()
            self._loop.run_until_complete(asyncio.gather(self._running, return_exceptions=True))
            self._loop.close()

    def __call__(self, text: str) -> None:
        line = text.encode("utf-8", "surrogatepass")
        answer = self._loop.run_until_complete(asyncio.wait_for(self._control.answer(line), 5))
        if answer.get("status") == 500:
            raise AssertionError(f"internal error: {answer}")


def targets() -> dict[str, tuple[Callable[[str], None], tuple[type[BaseException], ...], list[str]]]:
    """Every target: (function, the errors it documents, seeds)."""
    found: dict[str, tuple[Callable[[str], None], tuple[type[BaseException], ...], list[str]]] = {
        "protocol": (protocol, (), PROTOCOL_SEEDS),
        "calendar": (calendar, (), CALENDAR_SEEDS),
        "control": (ControlTarget(), (), CONTROL_SEEDS),
    }
    for program, seed in CONFIG_SEEDS.items():
        found[f"config:{program}"] = (ConfigTarget(program), (ConfigError,), [seed])
        found[f"config-env:{program}"] = (ConfigEnvTarget(program), (ConfigError,), ["20000", "127.0.0.1", "x", "[1]"])
    return found
