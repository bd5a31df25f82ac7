"""TLS end to end: certificates made by barto-cli, a server on HTTPS/WSS only, workers and the
CLI pinned to the fleet's CA, and mTLS requiring a client certificate (issue 6 items 1-3, 7)."""

from __future__ import annotations

import socket
import ssl
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from barto.cli import pki
from barto.protocol.keys import encode_key
from barto.protocol.signing import public_key
from tests.e2e.harness import BIN, Barto, free_port, wait_for

SCHEDULES = "[schedules.w1]\nschedules = [{ name = 'tick', on_calendar = '*:*:*', cmds = ['echo tick'] }]\n"


def make_pki(root: Path, *clients: str) -> Path:
    """A CA in ``root``, a server certificate for 127.0.0.1, and client certificates."""
    pki.init(root)
    pki.server(root, "localhost", ["127.0.0.1"])
    for name in clients:
        pki.client(root, name)
    return root


def tls_server(
    barto: Barto, ca: Path, *, plaintext: bool = False, client_ca: bool = False, settings: str = "", cli: str = ""
) -> int:
    """Start bartos with [actix.tls] on a new port; returns that port (``barto.port`` stays plain)."""
    port = free_port()
    table = (
        f"[actix.tls]\nip = '127.0.0.1'\nport = {port}\n"
        f"cert_file_path = '{ca}/localhost.pem'\nkey_file_path = '{ca}/localhost-key.pem'\n"
        + (f"client_ca_cert = '{ca}/ca.pem'\n" if client_ca else "")
    )
    path = barto.server_config(SCHEDULES + table, settings)
    if plaintext:
        path.write_text(path.read_text().replace("[actix]\n", "[actix]\nplaintext = true\n", 1))
    barto.tls = ssl.create_default_context(cafile=ca / "ca.pem")
    if client_ca:
        barto.tls.load_cert_chain(ca / "admin.pem", ca / "admin-key.pem")
    barto.start_server(port=port)
    barto.use_server(port, f"prefix = 'https'\nca_cert = '{ca}/ca.pem'\n" + _client_keys(ca, "admin", client_ca) + cli)
    return port


def _client_keys(ca: Path, name: str, on: bool) -> str:
    return f"client_cert = '{ca}/{name}.pem'\nclient_key = '{ca}/{name}-key.pem'\n" if on else ""


def refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_a_tls_server_serves_nothing_in_plain_text_and_runs_the_fleet_over_tls(barto: Barto, tmp_path: Path) -> None:
    ca = make_pki(tmp_path / "pki")
    port = tls_server(barto, ca)
    assert refused(barto.port)  # [actix] ip:port: no plaintext side door
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")  # plain HTTP to the TLS port
    log = tmp_path / "bartos.log"
    wait_for(lambda: "refused a TLS client: HTTP_REQUEST" in log.read_text(), 10, "the refusal logged")
    barto.start_worker("w1", port=port, link=f"prefix = 'wss'\nca_cert = '{ca}/ca.pem'\n")
    since = datetime.now(UTC)
    wait_for(lambda: barto.succeeded_since(("w1",), since), 20, "a run over WSS")
    assert barto.cli("info").returncode == 0  # the CLI over HTTPS


def test_a_worker_trusting_another_ca_does_not_connect(barto: Barto, tmp_path: Path) -> None:
    ca = make_pki(tmp_path / "pki")
    other = make_pki(tmp_path / "other")
    port = tls_server(barto, ca)
    barto.start_worker("w1", port=port, wait=False, link=f"prefix = 'wss'\nca_cert = '{other}/ca.pem'\n")
    log = tmp_path / "w1.log"
    wait_for(lambda: log.exists() and "CERTIFICATE_VERIFY_FAILED" in log.read_text(), 20, "the refusal")
    assert not any(c["connected"] for c in barto.cli_json("clients"))


def test_plaintext_beside_tls_only_when_asked_and_with_a_warning(barto: Barto, tmp_path: Path) -> None:
    ca = make_pki(tmp_path / "pki")
    tls_server(barto, ca, plaintext=True)
    assert not refused(barto.port)
    assert "plaintext = true" in (tmp_path / "bartos.log").read_text()


def test_with_a_client_ca_a_worker_gets_in_only_with_a_certificate_for_its_own_name(
    barto: Barto, tmp_path: Path
) -> None:
    ca = make_pki(tmp_path / "pki", "admin", "w1")
    port = tls_server(barto, ca, client_ca=True, plaintext=True)
    link = f"prefix = 'wss'\nca_cert = '{ca}/ca.pem'\n"
    barto.start_worker("w2", port=port, wait=False, link=link)  # no certificate: the handshake fails
    barto.start_worker("w3", port=port, wait=False, link=link + _client_keys(ca, "w1", True))  # w1's
    barto.start_worker("w4", wait=False)  # plain ws:// on the plaintext port: no certificate at all
    barto.start_worker("w1", port=port, link=link + _client_keys(ca, "w1", True))
    server_log = tmp_path / "bartos.log"
    wait_for(lambda: "'w3' presented a certificate for w1" in server_log.read_text(), 20, "w3 refused")
    wait_for(lambda: "'w4' came without a client certificate" in server_log.read_text(), 20, "w4 refused")
    wait_for(lambda: "refused a TLS client: PEER_DID_NOT_RETURN_A_CERTIFICATE" in server_log.read_text(), 20, "w2")
    assert [c["name"] for c in barto.cli_json("clients") if c["connected"]] == ["w1"]


def test_keygen_and_certs_from_the_command_line(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "barto-cli"), *args], capture_output=True, text=True, timeout=30, check=False)

    keys = cli("keygen").stdout.splitlines()
    assert keys[0].startswith('signing_key = "')
    assert keys[1].startswith('server_public_key = "')
    directory = str(tmp_path / "pki")
    assert cli("certs", "init", "-d", directory).returncode == 0
    assert cli("certs", "server", "sched.example", "--san", "10.0.0.7", "-d", directory).returncode == 0
    again = cli("certs", "server", "sched.example", "-d", directory)
    assert (again.returncode, "exists already" in again.stderr) == (1, True)
    assert (tmp_path / "pki" / "sched.example-key.pem").stat().st_mode & 0o777 == 0o600
    lonely = cli("certs", "client", "w1", "-d", str(tmp_path / "nothing"))
    assert (lonely.returncode, "run `barto-cli certs init` first" in lonely.stderr) == (1, True)


def test_a_fleet_with_everything_on_runs_jobs(barto: Barto, tmp_path: Path) -> None:
    """TLS only, mTLS bound to names, signed frames, scoped tokens: the happy path."""
    ca = make_pki(tmp_path / "pki", "admin", "w1")
    seed, admin, worker = b"\x07" * 32, "a" * 24, "w" * 24
    tokens = f"signing_key = '{encode_key(seed)}'\n[tokens.admin]\nrole = 'admin'\ntoken = '{admin}'\n"
    tokens += f"[tokens.w1]\nrole = 'worker'\ntoken = '{worker}'\n"
    port = tls_server(barto, ca, client_ca=True, settings=tokens, cli=f"api_key = '{admin}'\n")
    link = f"prefix = 'wss'\nca_cert = '{ca}/ca.pem'\n" + _client_keys(ca, "w1", True) + f"api_key = '{worker}'\n"
    key = encode_key(public_key(seed))
    barto.start_worker("w1", port=port, link=link, settings=f"server_public_key = '{key}'")
    since = datetime.now(UTC)
    wait_for(lambda: barto.succeeded_since(("w1",), since), 20, "a run with everything on")
    counters = barto.cli_json("info")["counters"]
    assert counters.get("rejected_by_workers", 0) == counters.get("foreign_events", 0) == 0
