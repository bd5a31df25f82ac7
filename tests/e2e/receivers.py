"""Real receivers for alerts on loopback: an HTTP server that checks each webhook's signature,
an SMTP server (aiosmtpd), and a command that appends its stdin to a file."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.e2e.harness import free_port


class Webhooks:
    """What arrived at the webhook receiver: (headers, event) pairs, each signature checked."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.bad_signatures = 0
        self.port = 0

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


@contextmanager
def webhooks(secret: str, port: int = 0) -> Iterator[Webhooks]:
    """An HTTP receiver on 127.0.0.1 (``port``, or a free one) until the block ends."""
    found = Webhooks(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            expected = "sha256=" + hmac.new(found.secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(self.headers.get("x-barto-signature", ""), expected):
                found.bad_signatures += 1
                self.send_response(401)
                self.end_headers()
                return
            found.headers.append(dict(self.headers))
            found.events.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port or free_port()), Handler)
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@contextmanager
def mailbox() -> Iterator[tuple[int, list[Message]]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1: (its port, the messages it took)."""
    box = _Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box.messages
    finally:
        controller.stop()


def sink_command(path: Path) -> list[str]:
    """A command that appends the event on its stdin, as one line, to ``path``."""
    code = f"import sys; open({str(path)!r}, 'a').write(sys.stdin.read().strip() + chr(10))"
    return [sys.executable, "-c", code]


def sunk(path: Path) -> list[dict[str, Any]]:
    """The events the sink command wrote."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
