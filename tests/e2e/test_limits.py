"""What one client may cost a real bartos: body size, slow headers and bodies, connections.

Each test sends what an attacker would, on loopback, then checks that the answer is a JSON
error, that nothing was stored, and that the server still answers everyone else.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.harness import BIN, Barto, wait_for

RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
LIMITS = """
[limits]
body_bytes = 10000
header_seconds = 1
body_seconds = 1
idle_seconds = 1
connections = 40
connections_per_peer = 12
"""


@pytest.fixture
def limited(barto: Barto) -> Barto:
    barto.start_server(LIMITS)
    wait_for(lambda: barto.cli_json("info")["cluster"]["role"] == "leader", 20, "bartos to lead")
    return barto


def _connect(barto: Barto) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", barto.port), timeout=5)
    sock.settimeout(5)
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """The status and the JSON body of the one response the server sends before closing."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _schedule_count(barto: Barto) -> int:
    return len(barto.cli_json("schedules"))


def _add(barto: Barto, body: bytes, **headers: str) -> httpx.Response:
    url = f"http://127.0.0.1:{barto.port}/v1/schedules/w1"
    return httpx.post(url, content=body, headers={"content-type": "application/json", **headers}, timeout=10)


def test_a_body_past_the_limit_is_refused_before_it_is_read(limited: Barto) -> None:
    big = json.dumps({"name": "big", "cmds": ["echo " + "x" * 20_000], "on_calendar": "daily"}).encode()
    answer = _add(limited, big)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert "limits.body_bytes" in answer.json()["error"]["message"]
    assert _schedule_count(limited) == 0


def test_a_chunked_body_past_the_limit_is_cut_off(limited: Barto) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "big", "on_calendar": "daily", "cmds": ["'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"]}'

    answer = httpx.post(f"http://127.0.0.1:{limited.port}/v1/schedules/w1", content=chunks(), timeout=10)
    assert answer.status_code == 413
    assert answer.json()["error"]["kind"] == "too_large"
    assert _schedule_count(limited) == 0


def test_a_body_within_the_limit_is_served(limited: Barto) -> None:
    small = json.dumps({"name": "small", "cmds": ["true"], "on_calendar": "daily"}).encode()
    assert _add(limited, small).status_code == 201
    assert _schedule_count(limited) == 1


def test_headers_sent_too_slowly_are_answered_408_and_closed(limited: Barto) -> None:
    with _connect(limited) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        status, body = _answer(sock)
        assert time.monotonic() - started < 4.5
    assert status == 408
    assert body["error"]["code"] == "too_slow"  # type: ignore[index]


def test_a_connection_that_sends_nothing_is_closed(limited: Barto) -> None:
    with _connect(limited) as sock:
        status, _ = _answer(sock)
    assert status == 408


def test_a_body_sent_too_slowly_is_answered_408_and_nothing_is_stored(limited: Barto) -> None:
    with _connect(limited) as sock:
        head = b"POST /v1/schedules/w1 HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        sock.sendall(head + b'content-length: 500\r\n\r\n{"name": "slow", ')
        status, body = _answer(sock)
    assert status == 408
    assert "limits.body_seconds" in body["error"]["message"]  # type: ignore[index]
    assert _schedule_count(limited) == 0


def test_one_peer_cannot_hold_every_connection(limited: Barto) -> None:
    held = [_connect(limited) for _ in range(12)]
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # slow: held open for a second
        with _connect(limited) as extra:
            status, body = _answer(extra)
        assert status == 503
        assert "connections_per_peer" in body["error"]["message"]  # type: ignore[index]
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{limited.port}/healthz", timeout=2).status_code == 200, 10, "healthz")


def test_the_server_answers_while_slow_clients_wait(limited: Barto) -> None:
    """Ten slow clients (within the per-peer cap) do not delay anyone else's answer."""
    slow = [_connect(limited) for _ in range(10)]
    try:
        for sock in slow:
            sock.sendall(b"POST /v1/schedules/w1 HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n{")
        for _ in range(5):
            assert httpx.get(f"http://127.0.0.1:{limited.port}/healthz", timeout=2).status_code == 200
        assert [_answer(sock)[0] for sock in slow] == [408] * 10
    finally:
        for sock in slow:
            sock.close()


def test_workers_connect_as_before(limited: Barto) -> None:
    """WebSocket connections stay counted while they live, and are let go when they close."""
    for name in ("w1", "w2"):
        limited.start_worker(name)
    limited.kill("w1")
    limited.start_worker("w1")  # its old connection was released: no leak towards the cap
    assert {c["name"] for c in limited.cli_json("clients") if c["connected"]} == {"w1", "w2"}


def test_sigterm_stops_bartos_during_a_runaway_query_and_a_slow_client(barto: Barto) -> None:
    barto.start_server("[query]\nseconds = 600\n[limits]\ndrain_seconds = 1\nheader_seconds = 600\n")
    wait_for(lambda: barto.cli_json("info")["cluster"]["role"] == "leader", 20, "bartos to lead")
    command = [str(BIN / "barto-cli"), "-c", str(barto.root / "barto-cli.toml"), "query", "-q", RUNAWAY]
    query = subprocess.Popen(command, env=barto.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _connect(barto) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(1.5)  # the query is running (its CPU is the server's thread's)
        assert query.poll() is None
        started = time.monotonic()
        barto.named["bartos"].send_signal(signal.SIGTERM)
        status, _ = barto.wait_exit("bartos", timeout=15)
        assert time.monotonic() - started < 8  # drain 1 s, then cancel; never the query's 600 s
    assert status == 0
    _, stderr = query.communicate(timeout=10)
    assert "bartos is stopping" in stderr
    assert "HTTP 503" in stderr
    log = (barto.root / "bartos.log").read_text()
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log
    assert " ERROR " not in log  # the drain's cancellation is the documented way a stop ends them


def test_healthz_answers_while_a_runaway_query_and_backfills_run(barto: Barto) -> None:
    """Costly requests run off the event loop or in slices: the server keeps answering
    (latency is measured by bench/healthz_under_load.py, not asserted here)."""
    schedule = "[schedules.w1]\nschedules = [{ name = 'tick', on_calendar = '*:*:0/10', cmds = ['true'] }]\n"
    barto.start_server("[query]\nseconds = 4\n" + schedule)
    wait_for(lambda: barto.cli_json("info")["cluster"]["role"] == "leader", 20, "bartos to lead")
    base = f"http://127.0.0.1:{barto.port}"
    span = {"from": "2026-01-01T00:00:00Z", "to": "2026-03-22T00:00:00Z"}  # 691,200 slots
    with httpx.Client(timeout=30) as client:
        query = threading.Thread(target=client.post, args=(f"{base}/v1/query",), kwargs={"json": {"sql": RUNAWAY}})
        query.start()
        refused = [client.post(f"{base}/v1/schedules/w1/tick/backfill", json=span) for _ in range(3)]
        answers = [httpx.get(f"{base}/healthz", timeout=2).status_code for _ in range(20)]
        query.join(20)
    assert [r.json()["error"]["code"] for r in refused] == ["too_many_slots"] * 3
    assert answers == [200] * 20
