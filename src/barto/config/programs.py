"""``[programs.<name>]``: long-running programs bartoc supervises, with the keys of the taskmaster
seed and supervisord (docs/programs.md). Validation that types cannot express lives here too."""

from __future__ import annotations

import graphlib
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

from barto.config._load import KeyedError
from barto.config.common import _Section, check_command, check_env, check_name, check_user, parse_signal

Scalar = str | int | float | bool


class ProgramDef(_Section, frozen=True, kw_only=True):
    """One program; ``numprocs`` copies of it run as processes ``<name>_<num>``."""

    cmd: str
    args: list[str] = msgspec.field(default_factory=list)
    numprocs: int = 1
    numprocs_start: int = 0
    autostart: bool = True
    startsecs: float = 1.0
    startretries: int = 3
    autorestart: Literal["true", "false", "unexpected"] | bool = "unexpected"
    exitcodes: list[int] = msgspec.field(default_factory=lambda: [0])
    stopsignal: str | int = "TERM"
    stopwaitsecs: float = 10.0
    stopasgroup: bool = False
    killasgroup: bool = False
    user: str | None = None
    directory: str | None = None
    umask: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    redirect_stderr: bool = False
    stdout_logfile_maxbytes: int | str = "50MB"  # then rotated; 0: never (supervisord's keys and defaults)
    stdout_logfile_backups: int = 10
    stderr_logfile_maxbytes: int | str = "50MB"
    stderr_logfile_backups: int = 10
    env: dict[str, Scalar] = msgspec.field(default_factory=dict)
    priority: int = 999
    depends_on: list[str] = msgspec.field(default_factory=list)
    serverurl: str | None = None  # the seed's key; accepted, the control socket is bartoc's own

    @property
    def restart(self) -> Literal["true", "false", "unexpected"]:
        """``autorestart`` as supervisord's three values (TOML booleans accepted too)."""
        value = self.autorestart
        return ("true" if value else "false") if isinstance(value, bool) else value

    def process_names(self, program: str) -> list[tuple[str, int]]:
        """(process name, process number) of each copy: the program's name alone for one copy,
        ``<name>_<num>`` (two digits at least) for several, as supervisord names them."""
        numbers = range(self.numprocs_start, self.numprocs_start + self.numprocs)
        if self.numprocs == 1:
            return [(program, self.numprocs_start)]
        return [(f"{program}_{num:02d}", num) for num in numbers]

    def log_paths(self, program: str, process: tuple[str, int], directory: Path) -> tuple[Path, Path | None]:
        """Where stdout and stderr of ``process`` (name, number) go (stderr None: into stdout);
        ``stdout``/``stderr`` may name it with supervisord's ``%(process_num)02d`` and friends."""
        name, _ = process
        out = _log_path(self.stdout, program, process, directory / f"{name}.stdout")
        if self.redirect_stderr:
            return out, None
        return out, _log_path(self.stderr, program, process, directory / f"{name}.stderr")

    def rotation(self, stream: Literal["stdout", "stderr"]) -> tuple[int, int]:
        """(max bytes, backups) of a stream's log file; checked by :func:`check_programs`."""
        if (self.stdout if stream == "stdout" else self.stderr) in _NONE:
            return 0, 0  # os.devnull: never rotated
        if stream == "stdout":
            return byte_size(self.stdout_logfile_maxbytes), self.stdout_logfile_backups
        return byte_size(self.stderr_logfile_maxbytes), self.stderr_logfile_backups

    def expanded(
        self, program: str, process: tuple[str, int], here: str
    ) -> tuple[list[str], str | None, dict[str, str]]:
        """(argv, directory, env) of ``process`` with supervisord's expansions applied
        (:func:`expand`; ``here``: the config file's directory).

        Raises:
            KeyError, ValueError, TypeError: for an unknown name or a bad format.
        """
        argv = [expand(part, program, process, here) for part in (self.cmd, *self.args)]
        directory = expand(self.directory, program, process, here) if self.directory is not None else None
        env = {key: expand(value, program, process, here) for key, value in self.environment().items()}
        return argv, directory, env

    def environment(self) -> dict[str, str]:
        """``[programs.<name>.env]`` with every value as text (TOML numbers and booleans allowed)."""
        return {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in self.env.items()}


# Upper bounds (others: 1000): past them a value is a mistake, and numprocs copies are made
# for real (a numprocs of 10**12 would fill memory before anything ran).
_MAXIMA = {"numprocs": 1000, "numprocs_start": 1_000_000, "startsecs": 86_400, "stopwaitsecs": 86_400}

_NONE = ("NONE", "none")
_AUTO = ("AUTO", "auto")


def _log_path(value: str | None, program: str, process: tuple[str, int], default: Path) -> Path:
    """A log file as supervisord reads ``stdout_logfile``: ``AUTO`` (or unset) the default
    file, ``NONE`` no file (os.devnull; the lines are still forwarded), else the expanded path."""
    if value is None or value in _AUTO or not value:
        return default
    if value in _NONE:
        return Path(os.devnull)
    return Path(expand(value, program, process))


def check_programs(programs: Mapping[str, ProgramDef], where: tuple[str, ...] = ("programs",)) -> None:
    """Numbers in range, signals known, dependencies known and without cycles (``where``: the
    table holding them, for error locations).

    Raises:
        KeyedError: at the first offending key.
    """
    for name, program in programs.items():
        at = (*where, name)
        _check_process_input(name, program, at)
        for key in ("numprocs", "startretries", "startsecs", "stopwaitsecs", "numprocs_start", *_BACKUPS):
            minimum, maximum = 1 if key == "numprocs" else 0, _MAXIMA.get(key, 1000)
            if not minimum <= getattr(program, key) <= maximum:  # also refuses NaN
                raise KeyedError((*at, key), f"must be at least {minimum} and at most {maximum}")
        for key in ("stopsignal", *_SIZES):
            try:
                (parse_signal if key == "stopsignal" else byte_size)(getattr(program, key))
            except ValueError as error:
                raise KeyedError((*at, key), str(error)) from None
        _check_expansions(name, program, at)
        for index, other in enumerate(program.depends_on):
            if other not in programs:
                raise KeyedError((*at, "depends_on", index), f"no program named {other!r}")
    try:
        start_order(programs)
    except graphlib.CycleError as error:
        raise KeyedError((*where, error.args[1][0], "depends_on"), f"a cycle: {' -> '.join(error.args[1])}") from None


def _check_process_input(name: str, program: ProgramDef, at: tuple[str, ...]) -> None:
    """The name, command, arguments and environment can reach a process as they are."""
    check_name("program", name, at)
    check_command(program.cmd, (*at, "cmd"))
    for index, arg in enumerate(program.args):
        if "\0" in arg:
            raise KeyedError((*at, "args", index), "an argument cannot hold a NUL byte")
    check_env(program.environment(), (*at, "env"))
    if program.user is not None:
        check_user(program.user, (*at, "user"))


_KEYS = "program_name, process_name, process_num, group_name, host_node_name, here, ENV_<variable>"


def _check_expansions(name: str, program: ProgramDef, at: tuple[str, ...]) -> None:
    """Every expansion of the program names a key supervisord has, in a valid format."""
    process = program.process_names(name)[0]
    texts: list[tuple[tuple[str | int, ...], str | None]] = [
        (("stdout",), program.stdout),
        (("stderr",), program.stderr),
    ]
    texts += [(("cmd",), program.cmd), (("directory",), program.directory)]
    texts += [(("args", i), arg) for i, arg in enumerate(program.args)]
    texts += [(("env", key), value) for key, value in program.environment().items()]
    for where, text in texts:
        try:
            expand(text or "", name, process, ".")
        except (KeyError, ValueError, TypeError) as error:
            raise KeyedError((*at, *where), f"cannot expand {error} (supervisord's %(name)s keys: {_KEYS})") from None


def expand(text: str, program: str, process: tuple[str, int], here: str = ".") -> str:
    """supervisord's expansions: ``%(program_name)s``, ``%(process_name)s``,
    ``%(process_num)02d``, ``%(group_name)s``, ``%(host_node_name)s``, ``%(here)s`` (the config
    file's directory), ``%(ENV_HOME)s`` (bartoc's environment), ``%%`` for a percent sign.
    Text without ``%(`` is left as it is (so ``date +%s`` needs no doubling, unlike supervisord).

    Raises:
        KeyError, ValueError, TypeError: for an unknown name or a bad format.
    """
    if "%(" not in text:
        return text
    name, num = process
    values: dict[str, object] = {f"ENV_{key}": value for key, value in os.environ.items()}
    values |= {"program_name": program, "group_name": program, "process_name": name, "process_num": num}
    values |= {"host_node_name": socket.gethostname(), "here": here}
    return text % values


_SIZES = ("stdout_logfile_maxbytes", "stderr_logfile_maxbytes")
_BACKUPS = ("stdout_logfile_backups", "stderr_logfile_backups")
_UNITS = {"": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def byte_size(value: int | str) -> int:
    """A size as supervisord writes them: bytes, or a number with KB, MB or GB (powers of 1024).

    Raises:
        ValueError: for anything else, or a negative size.
    """
    text = str(value).strip().upper()
    digits = text.rstrip("KMGB")
    unit = text[len(digits) :]
    if not digits.isdigit() or unit not in _UNITS:
        raise ValueError(f"not a size: {value!r} (bytes, or a number with KB, MB or GB)")
    return int(digits) * _UNITS[unit]


def start_waves(programs: Mapping[str, ProgramDef]) -> list[list[str]]:
    """Program names in waves: each wave depends only on earlier ones (within a wave: by
    priority, then name). Stopping goes through the waves backwards.

    Raises:
        graphlib.CycleError: when ``depends_on`` loops.
    """
    sorter = graphlib.TopologicalSorter({name: p.depends_on for name, p in programs.items()})
    sorter.prepare()
    waves: list[list[str]] = []
    while sorter.is_active():
        waves.append(sorted(sorter.get_ready(), key=lambda n: (programs[n].priority, n)))
        sorter.done(*waves[-1])
    return waves


def start_order(programs: Mapping[str, ProgramDef]) -> list[str]:
    """Program names in start order: dependencies first, then by priority, then by name."""
    return [name for wave in start_waves(programs) for name in wave]
