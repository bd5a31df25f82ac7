"""Config sections shared by the three programs (barto's shapes, all optional here)."""

from __future__ import annotations

import grp
import os
import pwd
import signal
import ssl
from collections.abc import Mapping
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from barto import rules
from barto.config._load import KeyedError
from barto.protocol.keys import InvalidKey, decode_key

WORKER_PATH = "/v1/ws/worker"
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]  # 0: any free port (a listener's)


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Config tables refuse unknown keys, so that a typo is an error instead of a silent default."""


class TracingLayer(_Section, frozen=True, kw_only=True):
    """barto's ``[tracing.stdout]`` / ``[tracing.file.layer]``; accepted for compatibility."""

    with_target: bool = True
    with_thread_ids: bool = False
    with_thread_names: bool = False
    with_line_number: bool = False
    with_level: bool = True
    directives: str | None = None


class TracingFile(_Section, frozen=True, kw_only=True):
    """barto's ``[tracing.file]``: the log file's verbosity."""

    quiet: int = 0
    verbose: int = 3
    layer: TracingLayer = TracingLayer()


class Tracing(_Section, frozen=True, kw_only=True):
    """barto's ``[tracing]`` table. Every part is optional."""

    stdout: TracingLayer = TracingLayer()
    file: TracingFile = TracingFile()


class BartosLink(_Section, frozen=True, kw_only=True):
    """barto's ``[bartos]`` table in bartoc and barto-cli: how to reach the server.

    ``urls`` (ours) lists several servers, tried in turn by the worker; when it is set,
    ``prefix``/``host``/``port`` are not used by the worker.
    """

    prefix: Literal["ws", "wss", "http", "https"] = "ws"
    host: str = "127.0.0.1"
    port: Port = 20000
    urls: list[str] = []
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    api_key: str | None = None

    @property
    def is_tls(self) -> bool:
        """Whether the link uses TLS (``wss`` or ``https``)."""
        return self.prefix in ("wss", "https")

    def url(self, scheme: Literal["ws", "http"], path: str) -> str:
        """The URL of ``path`` on the server, for WebSocket or HTTP."""
        secure = "s" if self.is_tls else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}{secure}://{host}:{self.port}{path}"

    def ssl_context(self) -> ssl.SSLContext:
        """TLS to the server: pinned to the CA of ``ca_cert`` when set, the system's trust store
        otherwise; host names always verified; the client certificate presented when both
        ``client_cert`` and ``client_key`` are set (mTLS)."""
        context = ssl.create_default_context(cafile=self.ca_cert)
        if self.client_cert and self.client_key:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context

    def check_files(self) -> None:
        """The files a TLS link reads can be read, and a client certificate has its key.

        Raises:
            KeyedError: naming the key of the first file that cannot be read.
        """
        if self.client_cert is not None and self.client_key is None:
            raise KeyedError(("bartos", "client_cert"), "client_cert needs client_key (the certificate's private key)")
        if self.client_key is not None and self.client_cert is None:
            raise KeyedError(("bartos", "client_key"), "client_key needs client_cert (the certificate it belongs to)")
        for key in ("ca_cert", "client_cert", "client_key"):
            path = getattr(self, key)
            if path is not None and not os.access(path, os.R_OK):
                why = "no such file" if not os.path.exists(path) else "not readable by this user"
                raise KeyedError(("bartos", key), f"cannot read {path}: {why}")

    def worker_urls(self) -> list[str]:
        """The worker endpoints to try, in order."""
        if not self.urls:
            return [self.url("ws", WORKER_PATH)]
        return [url if urlsplit(url).path not in ("", "/") else url.rstrip("/") + WORKER_PATH for url in self.urls]


class Logging(_Section, frozen=True, kw_only=True):
    """Verbosity and log destinations; the ``-v/-q/-e/-t`` flags set these."""

    verbose: int = 0
    quiet: int = 0
    enable_std_output: bool = False


def parse_signal(value: str | int) -> int:
    """A signal number from a name ("TERM", "SIGTERM", "term") or a number (15, "15").

    Raises:
        ValueError: when it names no signal of this system.
    """
    text = str(value).strip().upper()
    if text.isdigit():
        number = int(text)
        if number in {s.value for s in signal.Signals}:
            return number
    else:
        name = text if text.startswith("SIG") else f"SIG{text}"
        if name in signal.Signals.__members__:
            return int(signal.Signals[name])
    raise ValueError(f"unknown signal {value!r} (use a name such as TERM, INT, HUP or a number)")


def check_key(text: str, at: tuple[str, ...]) -> None:
    """An Ed25519 key in barto's format (``signing_key``, ``server_public_key``).

    Raises:
        KeyedError: naming ``at`` when it is not base64 of 32 bytes.
    """
    try:
        decode_key(text)
    except InvalidKey as error:
        raise KeyedError(at, f"not an Ed25519 key in barto's format (base64 of 32 bytes): {error}") from None


def check_name(kind: str, name: str, at: tuple[str | int, ...]) -> None:
    """A worker's, schedule's or program's name follows barto.rules (a file name and a URL
    segment can carry it as it is).

    Raises:
        KeyedError: at ``at``, with the rule.
    """
    if (problem := rules.name_problem(name)) is not None:
        raise KeyedError(at, f"{kind} name: {problem}")


def check_command(command: str, at: tuple[str | int, ...]) -> None:
    """A command a process can be given: no NUL, not empty (execve cannot carry a NUL; barto's
    worker crashed on it at every firing).

    Raises:
        KeyedError: at ``at``.
    """
    if (problem := rules.command_problem(command)) is not None:
        raise KeyedError(at, problem)


def check_env(env: Mapping[str, str], at: tuple[str | int, ...]) -> None:
    """An environment a process can be given: no ``=`` or NUL in a name, no NUL in a value.

    Raises:
        KeyedError: at the offending variable under ``at``.
    """
    if (wrong := rules.env_problem(env)) is not None:
        raise KeyedError((*at, wrong[0]), wrong[1])


def check_user(user: str, at: tuple[str | int, ...]) -> None:
    """``user`` names an account of this machine (a name or a uid), as supervisord requires.

    Raises:
        KeyedError: at ``at``, naming the user.
    """
    if user.isdigit():
        return  # a uid needs no account entry
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise KeyedError(at, f"no user named {user!r} on this machine") from None


def check_owner(owner: str, at: tuple[str | int, ...]) -> None:
    """``user`` or ``user:group`` (either may be empty in the pair) names accounts of this machine.

    Raises:
        KeyedError: at ``at``, naming what is missing.
    """
    user, _, group = owner.partition(":")
    if user:
        check_user(user, at)
    if group and not group.isdigit():
        try:
            grp.getgrnam(group)
        except KeyError:
            raise KeyedError(at, f"no group named {group!r} on this machine") from None
