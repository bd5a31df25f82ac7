"""``bartos`` configuration: barto's ``bartos.toml`` plus the additions of this project."""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import re
import socket
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from barto.calendar import CalendarError, Spec, parse
from barto.config._load import KeyedError
from barto.config._paths import data_home
from barto.config.alerts import Alert, check_alerts
from barto.config.btu import SOCKET_PATH, Btu, check_btu
from barto.config.common import Port, Tracing, _Section, check_command, check_env, check_key, check_name, parse_signal
from barto.config.programs import ProgramDef, check_programs
from barto.rules import RQ_WORKER


class Tls(_Section, frozen=True, kw_only=True):
    """``[actix.tls]``: the HTTPS/WSS listener; with ``client_ca_cert``, clients need a certificate."""

    ip: str
    port: Port
    cert_file_path: str
    key_file_path: str
    client_ca_cert: str | None = None


Role = Literal["read", "operate", "admin", "worker"]


class Token(_Section, frozen=True, kw_only=True):
    """``[tokens.<name>]`` (ours): an API token with a role, or a worker's credential (role
    ``worker``, ``<name>`` being the worker's name). ``token_file`` instead of ``token`` reads
    it from a file (a systemd credential, say), as every ``*_file`` secret key does."""

    role: Role
    token: str


class Actix(_Section, frozen=True, kw_only=True):
    """``[actix]``: where the HTTP/WebSocket API listens. ``workers`` is accepted and unused."""

    workers: int = 1
    ip: str = "127.0.0.1"
    port: Port = 20000
    tls: Tls | None = None
    plaintext: bool = False  # ours: with [actix.tls], also serve plain HTTP here (barto always did)


class MariaDb(_Section, frozen=True, kw_only=True):
    """barto's ``[mariadb]`` table; turned into a URL when ``[database] url`` is not set."""

    host: str
    port: Port = 3306
    username: str
    password: str = ""
    database: str
    options: str | None = None

    def url(self) -> str:
        """A SQLAlchemy URL with user and password percent-encoded (barto did not encode them),
        and ``options`` translated to the driver's (:func:`mariadb_options`)."""
        credentials = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"
        options = mariadb_options(self.options or "")
        query = f"?{urlencode(options)}" if options else ""
        return f"mysql+asyncmy://{credentials}@{self.host}:{self.port}/{quote(self.database, safe='')}{query}"


# barto's ``options`` are MariaDB/MySQL connection options as its Rust driver (sqlx) and the
# MariaDB connectors spell them; the values are what the driver we use (asyncmy, through
# SQLAlchemy) takes for each. ``ssl-mode=preferred`` cannot fall back as sqlx does: it
# connects without TLS, like ``disabled`` (docs/configuration.md).
_SSL_MODES: dict[str, dict[str, str]] = {
    "disabled": {},
    "preferred": {},
    "required": {"ssl_check_hostname": "false"},  # TLS, certificate not checked
    "verify_ca": {"ssl_check_hostname": "false"},  # TLS, certificate checked against ssl-ca
    "verify_identity": {"ssl_check_hostname": "true"},  # and its name against the host
}
_FILES = {"ssl-ca": "ssl_ca", "ssl-cert": "ssl_cert", "ssl-key": "ssl_key", "ssl-capath": "ssl_capath"}
_PLAIN = {"charset": "charset", "connect-timeout": "connect_timeout", "ssl-cipher": "ssl_cipher"}


def mariadb_options(text: str) -> dict[str, str]:
    """``key=value[&key=value]`` (barto's ``[mariadb] options``) as the driver's URL query.
    Names are read with ``-`` or ``_`` and in any case.

    Raises:
        ValueError: naming an option that is unknown, malformed, or given a value it cannot take.
    """
    given: dict[str, str] = {}
    for part in filter(None, text.split("&")):
        key, sep, value = part.partition("=")
        name = key.strip().lower().replace("_", "-")
        if not sep or not name:
            raise ValueError(f"{part[:60]!r} is not key=value")
        given[name] = value.strip()
    found: dict[str, str] = {}
    for name, value in given.items():
        if name in ("ssl-mode", "sslmode"):
            mode = value.lower()
            if mode not in _SSL_MODES:
                raise ValueError(f"ssl-mode {value[:40]!r} is not one of {', '.join(_SSL_MODES)}")
            found.update(_SSL_MODES[mode])
        elif name == "ssl":
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"ssl {value[:40]!r} is not true or false")
            found.update(_SSL_MODES["required" if value.lower() in ("true", "1") else "disabled"])
        elif name in _FILES or name in _PLAIN:
            found[_FILES.get(name) or _PLAIN[name]] = value
        else:
            known = ["ssl-mode", "ssl", *_FILES, *_PLAIN]
            raise ValueError(f"unknown option {name[:40]!r} (known: {', '.join(known)})")
    if given.get("ssl-mode", "").lower() in ("verify_ca", "verify_identity") and "ssl_ca" not in found:
        raise ValueError(f"ssl-mode={given['ssl-mode']} needs ssl-ca (the CA file to check the server against)")
    if "connect_timeout" in found and not found["connect_timeout"].isdigit():
        raise ValueError(f"connect-timeout {found['connect_timeout'][:20]!r} is not a whole number of seconds")
    return found


class Database(_Section, frozen=True, kw_only=True):
    """``[database]``: the store and how long it keeps finished runs.

    Failures (failed, timed out, lost) have their own limits, by default four times the others'.
    """

    url: str | None = None
    retention_days: float = 30.0
    retention_failed_days: float | None = None  # default: 4 x retention_days
    keep_runs: int | None = None  # per schedule; None: no limit by count
    keep_failed_runs: int | None = None  # default: 4 x keep_runs


class Query(_Section, frozen=True, kw_only=True):
    """``[query]`` (ours): ``barto-cli query``'s limits, and the read-only database user it runs as.

    ``url`` names that user (PostgreSQL, MariaDB); without it bartos creates ``barto_query``
    itself when its own user may (docs/security.md). SQLite needs no user: a read-only connection
    with an authorizer that allows reads only.
    """

    seconds: float = 10.0  # a statement running longer is cancelled
    max_rows: int = 10_000  # more are cut, and the answer says "truncated"
    url: str | None = None
    concurrent: int = 2  # queries at once; more wait for none, they are refused as busy


class Limits(_Section, frozen=True, kw_only=True):
    """``[limits]`` (ours): what one client may cost bartos (docs/operations.md, "Limits").

    A request must send its line and headers within ``header_seconds`` of its first byte (of the
    connection, for the first request) and its body within ``body_seconds``; an idle keep-alive
    connection is closed after ``idle_seconds``. Past ``connections`` in all, or
    ``connections_per_peer`` from one address, a new connection is answered 503 and closed.
    A stop gives requests in flight (a query, a follow stream) ``drain_seconds``, then cancels them.
    """

    body_bytes: int = 1024 * 1024
    header_seconds: float = 10.0
    body_seconds: float = 30.0
    idle_seconds: int = 5
    drain_seconds: int = 5  # a stop waits this long for requests in flight, then cancels them
    connections: int = 10_000
    connections_per_peer: int = 1_000


class Metrics(_Section, frozen=True, kw_only=True):
    """``[metrics]`` (ours): ``open = true`` lets anyone read ``/metrics`` on a server with
    tokens (a scraper without one); by default it needs a ``read`` token, as the API does."""

    open: bool = False


class Ninep(_Section, frozen=True, kw_only=True):
    """``[ninep]`` (ours): jobd's file system over 9P (docs/jobd.md); off unless the section is
    there. ``role``: what a client that attaches without ``token:<secret>`` may do (``none``:
    it may not attach). ``worker``: the one whose jobs the top-level ``/clone`` and ``/jobs``
    are, as on a jobd host. ``unix_socket``: listen there too (mode 0660)."""

    ip: str = "127.0.0.1"
    port: Port = 5640
    unix_socket: str | None = None
    role: Literal["none", "read", "operate", "admin"] = "read"
    worker: str | None = None
    connections: int = 256
    msize: int = 1024 * 1024  # the largest message a client may negotiate


Catchup = Literal["none", "latest", "all"]
# barto's bartoc ``missed_tick`` (tokio's MissedTickBehavior) read as a catch-up policy.
MISSED_TICK: dict[str, Catchup] = {"Skip": "none", "Delay": "latest", "Burst": "all"}


class RqCall(_Section, frozen=True, kw_only=True):
    """``rq = {...}``: the Python RQ job a schedule of ``[schedules."@rq"]`` enqueues at each
    slot (docs/rq.md). ``timeout`` is RQ's job timeout in seconds; the TTLs are RQ's."""

    func: str
    queue: str = "default"
    args: list[Any] = msgspec.field(default_factory=list)
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout: int | None = None
    result_ttl: int | None = None
    failure_ttl: int | None = None
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    description: str | None = None


class Redis(_Section, frozen=True, kw_only=True):
    """``[redis.<name>]`` (ours): a Redis that RQ schedules enqueue into. ``url`` is redis-py's
    (``redis://``, ``rediss://`` for TLS, ``unix://``); ``password`` (or ``password_file``)
    and ``ssl_ca_certs`` override it."""

    url: str = "redis://127.0.0.1:6379/0"
    password: str | None = None
    ssl_ca_certs: str | None = None


class ScheduleDef(_Section, frozen=True, kw_only=True):
    """One schedule: commands run in order, in one run, at each elapse of its calendar.

    ``catchup`` (or barto's ``missed_tick``) overrides the server's policy for slots that passed
    while the server was down; ``overlap`` says what a slot does while the previous run goes on.
    ``stopsignal`` and ``stopwaitsecs`` say how a run is stopped on timeout, cancel or shutdown.
    """

    name: str
    cmds: list[str] = msgspec.field(default_factory=list)
    rq: RqCall | None = None  # instead of cmds, for the schedules of "@rq" (docs/rq.md)
    redis: str = "default"  # the [redis.<name>] an rq schedule enqueues into
    on_calendar: str | None = None
    cron: str | None = None
    cron_dialect: Literal["auto", "cron", "quartz", "jobd"] = "auto"  # how ``cron`` is read
    timezone: str | None = None
    timeout: float | None = None  # seconds
    max_output_bytes: int = 10 * 1024 * 1024  # per run; beyond it the head and the tail are kept
    env: dict[str, str] = msgspec.field(default_factory=dict)
    cwd: str | None = None
    enabled: bool = True
    catchup: Catchup | None = None
    missed_tick: Literal["Skip", "Delay", "Burst"] | None = None
    overlap: Literal["skip", "queue", "allow", "replace"] = "skip"
    offline: Literal["skip", "queue"] = "skip"
    retries: int = 0  # more attempts of a failed or timed-out slot
    retry_delay: float = 10.0  # seconds before the first retry, doubled for each further one
    queue_ttl: float = 3600.0  # seconds a run queued for an offline worker stays deliverable
    stopsignal: str | int = "TERM"
    stopwaitsecs: float = 10.0

    def catchup_policy(self, default: Catchup) -> Catchup:
        """This schedule's catch-up policy: ``catchup``, else ``missed_tick`` mapped, else ``default``."""
        if self.catchup is not None:
            return self.catchup
        return MISSED_TICK[self.missed_tick] if self.missed_tick is not None else default

    @property
    def expression(self) -> str:
        """The calendar text, whichever key holds it."""
        return self.on_calendar if self.on_calendar is not None else self.cron or ""

    def spec(self, worker: str, default_tz: str) -> Spec:
        """The parsed calendar; ``R`` fields are seeded by worker and schedule name, so stable.

        Raises:
            CalendarError: when the expression is invalid.
        """
        dialect = "barto" if self.on_calendar is not None else self.cron_dialect
        return parse(self.expression, dialect=dialect, tz=self.timezone or default_tz, seed=f"{worker}/{self.name}")


class WorkerSchedules(_Section, frozen=True, kw_only=True):
    """``[schedules.<worker>]``: the schedules that run on the worker of that name."""

    schedules: list[ScheduleDef] = msgspec.field(default_factory=list)


class ServerConfig(_Section, frozen=True, kw_only=True):
    """Everything ``bartos`` reads from ``bartos.toml``, the environment and its flags."""

    verbose: int = 0
    quiet: int = 0
    enable_std_output: bool = False
    tracing: Tracing = Tracing()
    actix: Actix = Actix()
    database: Database = Database()
    mariadb: MariaDb | None = None
    query: Query = Query()
    limits: Limits = Limits()
    metrics: Metrics = Metrics()
    ninep: Ninep | None = None
    btu: Btu | None = None
    redis: dict[str, Redis] = msgspec.field(default_factory=dict)
    alerts: dict[str, Alert] = msgspec.field(default_factory=dict)
    schedules: dict[str, WorkerSchedules] = msgspec.field(default_factory=dict)
    timezone: str = "UTC"
    heartbeat_seconds: float = 5.0
    peer_timeout_seconds: float | None = None  # default: twice heartbeat_seconds
    lost_after_seconds: float = 300.0
    catchup: Catchup = "latest"
    catchup_window_seconds: float = 86_400.0
    signing_key: str | None = None
    hmac_key: str | None = None
    api_key: str | None = None
    tokens: dict[str, Token] = msgspec.field(default_factory=dict)
    programs: dict[str, dict[str, ProgramDef]] = msgspec.field(default_factory=dict)  # worker -> name -> def
    lease_seconds: float = 5.0
    advertise_url: str | None = None

    def retention(self) -> tuple[timedelta, timedelta, int | None, int | None]:
        """(max age, max age of failures, runs kept per schedule, failures kept per schedule)."""
        db = self.database
        failed_days = db.retention_failed_days if db.retention_failed_days is not None else 4 * db.retention_days
        keep_failed = db.keep_failed_runs if db.keep_failed_runs is not None else None
        if keep_failed is None and db.keep_runs is not None:
            keep_failed = 4 * db.keep_runs
        return timedelta(days=db.retention_days), timedelta(days=failed_days), db.keep_runs, keep_failed

    @property
    def peer_timeout(self) -> float:
        """Silence after which a connection is dead: by default two missed heartbeats."""
        return self.peer_timeout_seconds or 2 * self.heartbeat_seconds

    def own_url(self) -> str:
        """Where other instances send clients when this one leads: ``advertise_url``, else the
        listener's address (the host name when it listens on every address)."""
        if self.advertise_url:
            return self.advertise_url.rstrip("/")
        tls = self.actix.tls
        ip, port = (tls.ip, tls.port) if tls else (self.actix.ip, self.actix.port)
        host = socket.gethostname() if ip in ("0.0.0.0", "::", "") else ip
        return f"http{'s' * bool(tls)}://{f'[{host}]' if ':' in host else host}:{port}"

    def database_url(self, env: Mapping[str, str]) -> str:
        """``[database] url``, else the ``[mariadb]`` table, else SQLite in the XDG data dir."""
        if self.database.url:
            return self.database.url
        if self.mariadb is not None:
            return self.mariadb.url()
        return f"sqlite:///{data_home(env) / 'bartos' / 'bartos.db'}"


# What validation parsed, so that it is not parsed again: (worker, name) -> (definition, spec).
Calendars = dict[tuple[str, str], tuple[ScheduleDef, Spec]]


def check_server(config: ServerConfig, calendars: Calendars | None = None) -> None:
    """Validate what types cannot: zones, calendars, unique names, one calendar per schedule.
    ``calendars`` receives every parsed calendar (the scheduler takes them instead of parsing).

    Raises:
        KeyedError: at the first offending key.
    """
    _check_zone(config.timezone, ("timezone",))
    _check_database(config)
    _check_address(config.actix.ip, ("actix", "ip"))
    if config.actix.tls is not None:
        _check_address(config.actix.tls.ip, ("actix", "tls", "ip"))
    _positive(config.heartbeat_seconds, ("heartbeat_seconds",))
    _positive(config.peer_timeout, ("peer_timeout_seconds",))
    _positive(config.lost_after_seconds, ("lost_after_seconds",))
    _positive(config.catchup_window_seconds, ("catchup_window_seconds",))
    for worker, programs in config.programs.items():
        check_name("worker", worker, ("programs", worker))
        check_programs(programs, ("programs", worker))
    for name, token in config.tokens.items():
        if len(token.token) < 16:
            raise KeyedError(("tokens", name, "token"), "at least 16 characters (try: openssl rand -hex 24)")
    if config.lease_seconds < 1:
        raise KeyedError(("lease_seconds",), "must be at least 1 (it is renewed every fifth of it)")
    _positive(config.database.retention_days, ("database", "retention_days"))
    for key, high in (("seconds", 3600.0), ("max_rows", 1_000_000), ("concurrent", 64)):
        if not 0 < getattr(config.query, key) <= high:
            raise KeyedError(("query", key), f"must be greater than 0 and at most {high:g}")
    _check_limits(config.limits)
    if config.ninep is not None:
        _check_ninep(config.ninep)
    check_alerts(config.alerts)
    for key in ("retention_failed_days", "keep_runs", "keep_failed_runs"):
        if (value := getattr(config.database, key)) is not None:
            _positive(value, ("database", key))
    for worker, group in config.schedules.items():
        _check_group(worker, group, config.timezone, {} if calendars is None else calendars)
    _check_redis_names(config)
    _check_btu(config)


def _check_btu(config: ServerConfig) -> None:
    if config.btu is not None:
        check_btu(config.btu, set(config.redis))
        if config.btu.time_zone is not None:
            _check_zone(config.btu.time_zone, ("btu", "time_zone"))


def _check_redis_names(config: ServerConfig) -> None:
    """Every rq schedule names a ``[redis.<name>]`` there is."""
    for index, schedule in enumerate(config.schedules.get(RQ_WORKER, WorkerSchedules()).schedules):
        if schedule.redis not in config.redis:
            where = ("schedules", RQ_WORKER, "schedules", index, "redis")
            raise KeyedError(where, f"no [redis.{schedule.redis}] (there are: {', '.join(config.redis) or 'none'})")


def _check_ninep(ninep: Ninep) -> None:
    _check_address(ninep.ip, ("ninep", "ip"))
    if not 1 <= ninep.connections <= 100_000:
        raise KeyedError(("ninep", "connections"), "must be from 1 to 100000")
    if not 4096 <= ninep.msize <= 16 * 1024 * 1024:
        raise KeyedError(("ninep", "msize"), "must be from 4096 (what Linux needs) to 16777216")
    if ninep.worker is not None:
        check_name("worker", ninep.worker, ("ninep", "worker"))
    if ninep.unix_socket is not None and ("\0" in ninep.unix_socket or not ninep.unix_socket):
        raise KeyedError(("ninep", "unix_socket"), "must be a path")


# The largest value of each limit: beyond it, it is a mistake (or no limit at all).
_LIMITS_MAX = {
    "body_bytes": float(1 << 30),
    "header_seconds": 3600.0,
    "body_seconds": 3600.0,
    "idle_seconds": 3600.0,
    "drain_seconds": 3600.0,
    "connections": 1_000_000.0,
    "connections_per_peer": 1_000_000.0,
}


_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")


def _check_database(config: ServerConfig) -> None:
    """A URL of a database barto can use, and ``[mariadb] options`` it can translate."""
    if config.database.url is not None:
        scheme = config.database.url.partition("://")[0] if "://" in config.database.url else ""
        if scheme.partition("+")[0].lower() not in _BACKENDS:
            raise KeyedError(
                ("database", "url"),
                f"{scheme[:40] or config.database.url[:40]!r} is not a database barto can use "
                "(sqlite:///PATH, postgresql://..., mysql://... or mariadb://...)",
            )
    if config.mariadb is not None and config.mariadb.options:
        try:
            mariadb_options(config.mariadb.options)
        except ValueError as error:
            raise KeyedError(("mariadb", "options"), str(error)) from None


def _check_limits(limits: Limits) -> None:
    for key, high in _LIMITS_MAX.items():
        if not 0 < getattr(limits, key) <= high:
            raise KeyedError(("limits", key), f"must be greater than 0 and at most {high:g}")


def _check_group(worker: str, group: WorkerSchedules, default_tz: str, calendars: Calendars) -> None:
    """One worker's schedules: a valid worker name, unique schedule names, each valid."""
    check_name("worker", worker, ("schedules", worker))
    seen: set[str] = set()
    for index, schedule in enumerate(group.schedules):
        at = ("schedules", worker, "schedules", index)
        if schedule.name in seen:
            raise KeyedError((*at, "name"), f"a second schedule named {schedule.name!r} for worker {worker!r}")
        seen.add(schedule.name)
        calendars[(worker, schedule.name)] = (schedule, _check_schedule(schedule, worker, default_tz, at))


def check_serving(config: ServerConfig, calendars: Calendars | None = None) -> None:
    """What serving needs beyond :func:`check_server`: the files it names can be read and the
    signing key is a key. (Kept apart so that barto's example configs, which name files that are
    not there and hold placeholder keys, still load; serving with them is refused, where barto
    went on unsigned.)

    Raises:
        KeyedError: at the first file that cannot be read.
    """
    check_server(config, calendars)
    if config.signing_key is not None:
        check_key(config.signing_key, ("signing_key",))
    if (tls := config.actix.tls) is not None:
        for key in ("cert_file_path", "key_file_path", "client_ca_cert"):
            if (path := getattr(tls, key)) is not None and not os.access(path, os.R_OK):
                raise KeyedError(("actix", "tls", key), f"cannot read {path}")
    sockets = {("btu", "socket_path"): config.btu and (config.btu.socket_path or SOCKET_PATH),
               ("ninep", "unix_socket"): config.ninep and config.ninep.unix_socket}  # fmt: skip
    for at, path in sockets.items():
        if path and not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK | os.X_OK):
            raise KeyedError(at, f"cannot make a socket in {os.path.dirname(os.path.abspath(path))}")


def validate_schedule(schedule: ScheduleDef, worker: str, default_tz: str, *, stored: bool = False) -> None:
    """Validate one schedule on its own (one added through the API). ``stored``: one read back
    from the store, which may predate the naming rules and keeps its name (grandfathered);
    everything else about it must still hold.

    Raises:
        KeyedError: naming the offending key.
    """
    _check_schedule(schedule, worker, default_tz, (), names=not stored)


def _check_schedule(
    schedule: ScheduleDef, worker: str, default_tz: str, at: tuple[str | int, ...], *, names: bool = True
) -> Spec:
    if names:
        check_name("schedule", schedule.name, (*at, "name"))
    if (schedule.on_calendar is None) == (schedule.cron is None):
        raise KeyedError((*at, "on_calendar"), "set exactly one of on_calendar and cron")
    if schedule.on_calendar is not None and schedule.cron_dialect != "auto":
        raise KeyedError((*at, "cron_dialect"), "cron_dialect says how cron is read; this schedule has on_calendar")
    _check_target(schedule, worker, at)
    if schedule.timezone is not None:
        _check_zone(schedule.timezone, (*at, "timezone"))
    _check_numbers(schedule, at)
    try:
        parse_signal(schedule.stopsignal)
    except ValueError as error:
        raise KeyedError((*at, "stopsignal"), str(error)) from None
    try:
        return schedule.spec(worker, default_tz)
    except CalendarError as error:
        raise KeyedError((*at, "on_calendar" if schedule.on_calendar is not None else "cron"), str(error)) from None


_FUNC = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
_QUEUE = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def _check_target(schedule: ScheduleDef, worker: str, at: tuple[str | int, ...]) -> None:
    """A schedule of "@rq" names an RQ job and no commands; any other worker's, commands."""
    if worker != RQ_WORKER:
        if schedule.rq is not None:
            raise KeyedError(
                (*at, "rq"), f'rq jobs are enqueued by the server: put this schedule in [schedules."{RQ_WORKER}"]'
            )
        _check_process_input(schedule, at)
        return
    if schedule.rq is None or schedule.cmds:
        raise KeyedError((*at, "rq"), f"a schedule of {RQ_WORKER} names an RQ job (rq = {{ func = ... }}), not cmds")
    if not _FUNC.fullmatch(schedule.rq.func):
        raise KeyedError((*at, "rq", "func"), f"{schedule.rq.func[:80]!r} is not a dotted path (module.function)")
    if not _QUEUE.fullmatch(schedule.rq.queue):
        raise KeyedError((*at, "rq", "queue"), "1-128 characters of A-Z a-z 0-9 _ . -")
    for key in ("timeout", "result_ttl", "failure_ttl"):
        if (value := getattr(schedule.rq, key)) is not None and not 0 < value <= 365 * 86400:
            raise KeyedError((*at, "rq", key), "must be from 1 to 31536000 seconds")


def _check_process_input(schedule: ScheduleDef, at: tuple[str | int, ...]) -> None:
    """Commands, environment and directory can reach a process as they are."""
    if not schedule.cmds:
        raise KeyedError((*at, "cmds"), "a schedule needs at least one command")
    for index, command in enumerate(schedule.cmds):
        check_command(command, (*at, "cmds", index))
    check_env(schedule.env, (*at, "env"))
    if schedule.cwd is not None and "\0" in schedule.cwd:
        raise KeyedError((*at, "cwd"), "a directory cannot hold a NUL byte")


def _check_numbers(schedule: ScheduleDef, at: tuple[str | int, ...]) -> None:
    """Every number finite and within :data:`_SCHEDULE_LIMITS`."""
    for key, high in _SCHEDULE_LIMITS.items():
        if (value := getattr(schedule, key)) is not None:
            _positive(value, (*at, key))
            if value > high:
                raise KeyedError((*at, key), f"must be at most {high:g}, not {value:g}")
    if not 0 <= schedule.retries <= _MAX_RETRIES:
        raise KeyedError((*at, "retries"), f"must be 0 or more and at most {_MAX_RETRIES}, not {schedule.retries}")


_YEAR = 366 * 86_400.0
# The largest value each positive number of a schedule may have: beyond it, it is a mistake.
_SCHEDULE_LIMITS = {
    "timeout": _YEAR,
    "max_output_bytes": float(2**40),
    "stopwaitsecs": 86_400.0,
    "queue_ttl": _YEAR,
    "retry_delay": 30 * 86_400.0,
}
_MAX_RETRIES = 1000


def _check_address(ip: str, at: tuple[str | int, ...]) -> None:
    """A listener's address: an IP address, or a host name (resolved when it binds)."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(ip)
        return
    if not _HOST_NAME.fullmatch(ip):
        raise KeyedError(at, f"{ip[:60]!r} is neither an IP address nor a host name")


_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


def _check_zone(name: str, at: tuple[str | int, ...]) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise KeyedError(at, f"unknown time zone {name!r} (use an IANA name such as 'Europe/Berlin')") from None


def _positive(value: float, at: tuple[str | int, ...]) -> None:
    if not 0 < value < math.inf:
        raise KeyedError(at, f"must be greater than 0 (and finite), not {value}")
