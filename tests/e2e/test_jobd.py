"""jobd's file system over 9P, against a real bartos and bartoc, with independent clients only:
diod's diodls and diodcat (9P2000.L), and p9fs's py9p (9P2000, 9P2000.u, 9P2000.L). What jobd
itself would print (Go's time format, cronexpr's next fire) comes from Go, in the same run.

The kernel's own 9P client is not on these machines (no CONFIG_NET_9P, no modules): no test
here mounts with ``mount -t 9p``; the FUSE mount is tested in test_jobd_mount.py.
"""

from __future__ import annotations

import errno
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from p9fs import P9FileSystem
from py9p import py9p

from barto.ninep import codec
from barto.ninep.codec import Dialect
from tests.conftest import require_or_skip
from tests.cron_oracles import ask_lines, build_jobd_format, cronexpr_available
from tests.e2e.harness import Barto, free_port, wait_for
from tests.e2e.secured import TOKENS, settings

NEVER = "2099-01-01 00:00:00"
SCHEDULES = f"""
[schedules.w1]
schedules = [
  {{ name = "conf", on_calendar = "{NEVER}", cmds = ["echo from the file"] }},
  {{ name = "tick", on_calendar = "*:*:0/1", cmds = ["echo tick"] }},
]
"""
DIODLS, DIODCAT = shutil.which("diodls") or "/usr/sbin/diodls", shutil.which("diodcat") or "/usr/sbin/diodcat"
ADMIN, OPERATE, READ, WORKER = (f"token:{TOKENS[n][1]}" for n in ("boss", "ops", "viewer", "w1"))


class Jobd:
    """A bartos with ``[ninep]`` on ``port``, a connected bartoc ``w1``, and clients of both."""

    def __init__(self, barto: Barto, port: int) -> None:
        self.barto, self.port = barto, port
        self.sockets: list[socket.socket] = []  # closed after the test

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        self.sockets.append(sock)
        return sock

    def client(self, aname: str = "", version: str = "9P2000.u") -> py9p.Client:
        return py9p.Client(self.connect(), py9p.Credentials("nobody"), ver=py9p.Version(version), aname=aname)

    def raw(self) -> Raw:
        return Raw(self.connect())

    def fs(self, version: str, aname: str = "") -> P9FileSystem:
        made = P9FileSystem("127.0.0.1", self.port, "nobody", version=version, aname=aname, skip_instance_cache=True)
        self.sockets.append(made.client.fd.sock)
        return made

    def diod(self, tool: str, *args: str, aname: str = "anything") -> subprocess.CompletedProcess[str]:
        command = [tool, "-s", f"127.0.0.1:{self.port}", "-a", aname, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    def read(self, path: str, aname: str = "", version: str = "9P2000.u") -> bytes:
        c = self.client(aname, version)
        try:
            c.open(path)
            data = b""
            while chunk := c.read(8000):
                data += chunk
            c.close()
            return data
        finally:
            c.fd.close()

    def write(self, path: str, data: bytes, aname: str = ADMIN, version: str = "9P2000.u") -> str | None:
        """Write ``data`` in one Twrite; the server's error text, or None."""
        c = self.client(aname, version)
        try:
            c.open(path, py9p.OWRITE | py9p.OTRUNC)
            c.write(data)
            c.close()
            return None
        except py9p.RpcError as error:
            return _text(error)
        finally:
            c.fd.close()

    def remove(self, path: str, aname: str = ADMIN) -> str | None:
        c = self.client(aname)
        try:
            c.rm(path)
            return None
        except py9p.RpcError as error:
            return _text(error)
        finally:
            c.fd.close()

    def schedules(self) -> dict[str, dict[str, object]]:
        listed = self.barto.cli_json("schedules")
        return {s["name"]: {k: v for k, v in s.items() if k != "next_fire"} for s in listed if s["worker"] == "w1"}


def _text(error: py9p.RpcError) -> str:
    value = error.args[0]
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture
def doors() -> Iterator[Callable[[Barto, int], Jobd]]:
    """Opens a :class:`Jobd` on a 9P port; every socket of each is closed after the test."""
    made: list[Jobd] = []

    def door(barto: Barto, port: int) -> Jobd:
        wait_for(lambda: _listening(port) and _leads(barto, barto.port), 15, "9P to listen and the server to lead")
        made.append(Jobd(barto, port))
        return made[-1]

    yield door
    for each in made:
        each.close()


@pytest.fixture
def jobd(barto: Barto, doors: Callable[[Barto, int], Jobd]) -> Jobd:
    require_or_skip(Path(DIODLS).exists() and Path(DIODCAT).exists(), "diod's diodls and diodcat (Debian package diod)")
    port = free_port()
    ninep = f"[ninep]\nip = '127.0.0.1'\nport = {port}\nworker = 'w1'\nconnections = 16\n"
    barto.start_server(SCHEDULES, settings() + ninep)
    barto.use_server(barto.port, f"api_key = '{TOKENS['boss'][1]}'")
    program = (
        "[programs.sleeper]\ncmd = '/bin/sh'\nargs = ['-c', 'echo up; exec sleep 300']\nstartsecs = 0\n"
        "[programs.stubborn]\ncmd = '/bin/sh'\nargs = ['-c', \"trap '' TERM; exec sleep 300\"]\nstartsecs = 0\n"
        "stopwaitsecs = 4\nautostart = false\n"  # started by the test that needs it: stops take 4 s
    )
    barto.start_worker("w1", link=f"api_key = '{TOKENS['w1'][1]}'", settings=program)
    return doors(barto, port)


def _leads(barto: Barto, port: int) -> bool:
    """Whether the server on ``port`` leads (a standby refuses 9P)."""
    headers = {"Authorization": f"Bearer {TOKENS['boss'][1]}"}
    answer = httpx.get(f"http://127.0.0.1:{port}/v1/info", headers=headers, timeout=5)
    return answer.status_code == 200 and answer.json()["cluster"]["role"] == "leader"


def _listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@pytest.fixture(scope="module")
def jobd_format(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    require_or_skip(cronexpr_available(), "Go with gorhill/cronexpr (Debian golang-github-gorhill-cronexpr-dev)")
    return build_jobd_format(tmp_path_factory.mktemp("jobd_format"))


def test_diod_tools_list_and_read_the_tree(jobd: Jobd) -> None:
    top = jobd.diod(DIODLS, "-l", "/")
    assert top.returncode == 0, top.stderr
    lines = {line.split()[-1]: line.split()[0] for line in top.stdout.splitlines()}
    assert lines == {"clone": "--w--w--w-.", "jobs": "dr-xr-xr-x.", "workers": "dr-xr-xr-x.", "runs": "dr-xr-xr-x."}
    assert jobd.diod(DIODLS, "/jobs").stdout.split() == ["conf", "tick"]
    assert jobd.diod(DIODLS, "/jobs/tick").stdout.split() == ["ctl", "cmd", "schedule", "log"]
    assert jobd.diod(DIODCAT, "jobs/tick/ctl").stdout == "started"
    assert jobd.diod(DIODCAT, "jobs/conf/cmd").stdout == "echo from the file"
    assert jobd.diod(DIODCAT, "workers/w1/jobs/conf/schedule").stdout == f"{NEVER}:2099-01-01 00:00:00 +0000 UTC"
    status = jobd.diod(DIODCAT, "workers/w1/status").stdout.splitlines()
    assert status[0] == "state connected"
    assert status[2].startswith("version ")

    wait_for(lambda: jobd.barto.runs(schedule="tick", state="succeeded"), 20, "a tick to succeed")
    run = jobd.barto.runs(schedule="tick", state="succeeded")[0]
    assert jobd.diod(DIODCAT, f"runs/{run['id']}/status").stdout.splitlines()[0] == "succeeded"
    assert jobd.diod(DIODCAT, f"runs/{run['id']}/exit").stdout == "0\n"
    assert jobd.diod(DIODCAT, f"runs/{run['id']}/output").stdout == "tick\n"
    assert str(run["id"]) in jobd.diod(DIODLS, "/runs").stdout.split()
    missing = jobd.diod(DIODCAT, "runs/999999999/status")
    assert missing.returncode != 0
    assert "No such file" in missing.stderr


def test_p9fs_lists_and_reads_in_every_dialect(jobd: Jobd) -> None:
    wait_for(lambda: jobd.barto.runs(schedule="tick", state="succeeded"), 20, "a tick")
    expected = jobd.diod(DIODCAT, "jobs/conf/cmd").stdout.encode()
    for version in ("9P2000", "9P2000.u", "9P2000.L"):
        fs = jobd.fs(version)
        names = {name.strip("/").rsplit("/", 1)[-1] for name in fs.ls("", detail=False)}
        assert names == {"clone", "jobs", "workers", "runs"}, version
        assert fs.cat_file("jobs/conf/cmd") == expected, version
        log = fs.cat_file("jobs/tick/log")
        assert fs.info("jobs/conf/cmd")["size"] == len(expected), version  # the real length, not jobd's 0
        assert log, version
        assert all(b":tick" in line for line in log.splitlines()), version


def test_a_job_made_through_clone_lives_as_in_jobd(jobd: Jobd, jobd_format: list[str]) -> None:
    assert jobd.write("clone", b"hello:0 0/5 * * * ? *:echo hello world\n") is None  # echo without -n works too
    record = jobd.schedules()["hello"]
    assert (record["enabled"], record["cmds"], record["source"]) == (False, ["echo hello world"], "api")
    assert jobd.read("jobs/hello/ctl") == b"stopped"  # as in jobd, a new job is stopped
    assert jobd.read("jobs/hello/schedule") == b"0 0/5 * * * ? *"

    assert jobd.write("jobs/hello/ctl", b"START") is None  # jobd lower-cases the word
    before = datetime.now(UTC)
    shown = jobd.read("jobs/hello/schedule").decode()
    after = datetime.now(UTC)
    asked = [f"schedule\tUTC\t{int(t.timestamp() * 1e6)}\t0 0/5 * * * ? *" for t in (before, after)]
    assert shown in ask_lines(jobd_format, asked)  # what jobd prints: expr ":" cronexpr's Next(now).String()
    assert jobd.read("jobs/hello/ctl") == b"started"

    assert jobd.write("jobs/hello/ctl", b"run") is None
    wait_for(lambda: jobd.barto.runs(schedule="hello", state="succeeded"), 20, "the manual run")
    run = jobd.barto.runs(schedule="hello")[0]
    lines = jobd.barto.cli_json("output", str(run["id"]))
    stamp = ask_lines(jobd_format, [f"time\tUTC\t{_micros(lines[0]['ts'])}"])[0]
    assert jobd.read("jobs/hello/log") == f"{stamp}:hello world\n".encode()  # jobd's "<time.String()>:<stdout>"

    assert jobd.write("jobs/hello/cmd", b"echo changed") is None
    assert jobd.schedules()["hello"]["cmds"] == ["echo changed"]
    assert jobd.write("jobs/hello/ctl", b"stop") is None
    assert jobd.schedules()["hello"]["enabled"] is False
    for name in ("ctl", "cmd", "schedule", "log"):  # rm -r: the files first (accepted), then the directory
        assert jobd.remove(f"jobs/hello/{name}") is None
    assert jobd.remove("jobs/hello") is None
    assert "hello" not in jobd.schedules()


def _micros(stamp: str) -> int:
    at = datetime.fromisoformat(stamp)
    return int(at.timestamp()) * 1_000_000 + at.microsecond


def test_the_long_clone_form_takes_colons_and_systemd_calendars(jobd: Jobd) -> None:
    text = b"name=backup\ncalendar=Mon *-*-* 02:00:00\ncmd=echo a:b\ncmd=echo c\ntimezone=Europe/Berlin\n"
    assert jobd.write("workers/w1/clone", text) is None
    record = jobd.schedules()["backup"]
    assert (record["calendar"], record["cmds"], record["timezone"]) == ("Mon *-*-* 02:00:00", ["echo a:b", "echo c"],
                                                                        "Europe/Berlin")  # fmt: skip
    assert jobd.read("jobs/backup/cmd") == b"echo a:b\necho c"


BAD_DEFINITIONS = [
    (b"a:b", "want name:cronexpr:cmd"),
    (b"x:* * * * *:echo a:b", "want name:cronexpr:cmd"),
    (b":* * * * *:true", "invalid job name"),
    (b"../etc:* * * * *:true", "invalid job name"),
    (b"ok:61 * * * *:true", "cron"),
    (b"ok:* * * * *:", "command"),
    (b"ok\x00:* * * * *:true", "NUL"),
    (b"\xff\xfe:* * * * *:true", "UTF-8"),
    (b"name=x\ncron=* * * * *\ncalendar=daily\ncmd=true", "one of cron= and calendar="),
    (b"name=x\ncron=* * * * *\nrm=-rf\ncmd=true", "not a key"),
    (b"conf:* * * * *:true", "defined in the config file"),
]


def test_a_bad_definition_is_a_clear_error_and_changes_nothing(jobd: Jobd) -> None:
    before = jobd.schedules()
    for definition, says in BAD_DEFINITIONS:
        error = jobd.write("clone", definition)
        assert error is not None
        assert says in error, (definition, error)
    assert jobd.schedules() == before


def test_a_duplicate_name_is_refused_as_in_jobd(jobd: Jobd) -> None:
    assert jobd.write("clone", b"twice:* * * * *:echo one") is None
    error = jobd.write("clone", b"twice:* * * * *:echo two")
    assert error is not None
    assert "already has a schedule named 'twice'" in error
    assert jobd.schedules()["twice"]["cmds"] == ["echo one"]


def test_config_file_schedules_are_read_only(jobd: Jobd) -> None:
    before = jobd.schedules()
    for path, data in (("jobs/conf/ctl", b"stop"), ("jobs/conf/cmd", b"true")):
        error = jobd.write(path, data)
        assert error is not None
        assert "defined in the config file" in error
    assert jobd.remove("jobs/conf") is not None
    assert jobd.schedules() == before
    assert jobd.write("jobs/conf/ctl", b"run") is None  # running one now is an operate act: allowed


# (path, data) -> the least role that may do it; every other role is refused.
WRITES = {
    ("clone", b"made:* * * * *:true"): "admin",
    ("jobs/target/ctl", b"start"): "admin",
    ("jobs/target/ctl", b"stop"): "admin",
    ("jobs/target/cmd", b"echo other"): "admin",
    ("jobs/target/ctl", b"run"): "operate",
    ("jobs/conf/ctl", b"run"): "operate",
}
RANKS = {"anonymous": 1, READ: 1, OPERATE: 2, ADMIN: 3}


def test_every_role_against_every_write(jobd: Jobd) -> None:
    assert jobd.write("clone", b"target:0 0 1 1 *:true") is None
    before = jobd.schedules()
    manual = [r for r in jobd.barto.runs() if r["trigger"] == "manual"]
    for (path, data), needed in WRITES.items():
        for who, rank in RANKS.items():
            if rank >= {"operate": 2, "admin": 3}[needed]:
                continue
            error = jobd.write(path, data, aname="" if who == "anonymous" else who)
            assert error is not None, (path, data, who)
            assert f"this needs {needed}" in error, error
    for aname in ("", READ, OPERATE):
        assert jobd.remove("jobs/target", aname=aname) is not None
    assert jobd.schedules() == before  # nothing any refusal touched changed
    assert [r for r in jobd.barto.runs() if r["trigger"] == "manual"] == manual  # no refused run ran
    assert jobd.write("jobs/target/ctl", b"run", aname=OPERATE) is None
    assert jobd.remove("jobs/target", aname=ADMIN) is None


def test_programs_are_shown_and_controlled_by_role(jobd: Jobd) -> None:
    base = "workers/w1/programs/sleeper"
    wait_for(lambda: jobd.read(f"{base}/ctl") == b"RUNNING", 20, "the program to run")
    assert jobd.read(f"{base}/status").splitlines()[0] == b"state RUNNING"
    wait_for(lambda: jobd.read(f"{base}/tail") == b"up\n", 20, "its output")
    for aname in ("", READ):
        error = jobd.write(f"{base}/ctl", b"stop", aname=aname)
        assert error is not None
        assert "this needs operate" in error
    assert jobd.read(f"{base}/ctl") == b"RUNNING"
    error = jobd.write(f"{base}/ctl", b"kill -9", aname=OPERATE)
    assert error is not None
    assert "unknown command" in error
    assert jobd.write(f"{base}/ctl", b"stop", aname=OPERATE) is None
    wait_for(lambda: jobd.read(f"{base}/ctl") == b"STOPPED", 20, "the program to stop")


def test_a_read_client_cannot_touch_programs_and_odd_tokens_cannot_attach(jobd: Jobd) -> None:
    for aname, says in ((WORKER, "worker's credential"), ("token:not-a-token", "unknown token")):
        with pytest.raises(py9p.RpcError) as refused:
            jobd.client(aname)
        assert says in _text(refused.value)
    error = jobd.write("workers/w1/programs/nothing/ctl", b"stop", aname=READ)
    assert error is not None
    assert "incomplete walk" in error  # no program of that name: not found, before any role
    error = jobd.write("workers/w1/clone", b"x:* * * * *:true", aname=OPERATE)
    assert error is not None
    assert "has role operate; this needs admin" in error


def test_role_none_lets_only_token_holders_attach(barto: Barto, doors: Callable[[Barto, int], Jobd]) -> None:
    port = free_port()
    barto.start_server(SCHEDULES, settings() + f"[ninep]\nport = {port}\nrole = 'none'\n")
    made = doors(barto, port)
    with pytest.raises(py9p.RpcError) as refused:
        made.client("")
    assert "role = none" in _text(refused.value)
    assert made.read("workers", aname=READ) == b""  # no worker has connected: an empty directory
    assert {n.strip("/").rsplit("/", 1)[-1] for n in made.fs("9P2000.L", aname=READ).ls("", detail=False)} == {
        "workers", "runs"}  # no [ninep] worker: no /clone, no /jobs  # fmt: skip


def test_errors_reach_9p2000_l_clients_as_errnos(jobd: Jobd) -> None:
    c = jobd.client("", "9P2000.L")
    try:
        with pytest.raises(py9p.RpcError) as refused:
            c.walk("nothing")
        assert refused.value.args[0] == errno.ENOENT
    finally:
        c.fd.close()
    assert jobd.diod(DIODCAT, "jobs/nothing/ctl").returncode != 0


class Raw:
    """A 9P connection that sends what it is told, for the frames no client would send."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.dialect = Dialect.L

    def send(self, frame: bytes) -> None:
        self.sock.sendall(frame)

    def ask(self, kind: str, tag: int = 1, **fields: object) -> codec.Message:
        self.send(codec.encode(codec.Message(codec.TYPES[kind], tag, fields), self.dialect))
        return self.reply()

    def reply(self) -> codec.Message:
        head = self._exactly(4)
        (size,) = struct.unpack("<I", head)
        return codec.decode(head + self._exactly(size - 4), self.dialect)

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionError:
            return True

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def attach(self, msize: int = 65536, aname: str = "") -> None:
        assert self.ask("Tversion", codec.NOTAG, msize=msize, version="9P2000.L")["version"] == "9P2000.L"
        self.ask("Tattach", fid=1, afid=codec.NOFID, uname="", aname=aname, n_uname=0)


def test_versions_and_msize_are_negotiated(jobd: Jobd) -> None:
    raw = jobd.raw()
    raw.dialect = Dialect.P2000
    for asked, answered in (("9P2000.L", "9P2000.L"), ("9P2000.u", "9P2000.u"), ("9P2000.X", "9P2000"),
                            ("9P2000", "9P2000"), ("HTTP/1.1", "unknown")):  # fmt: skip
        reply = raw.ask("Tversion", codec.NOTAG, msize=1 << 30, version=asked)
        assert (reply["version"], reply["msize"]) == (answered, 1024 * 1024), asked


def test_reads_are_clamped_to_the_count_and_a_cat_sees_one_snapshot(jobd: Jobd) -> None:
    wait_for(lambda: jobd.barto.runs(schedule="tick", state="succeeded"), 20, "a tick")
    raw = jobd.raw()
    raw.attach()
    assert raw.ask("Twalk", fid=1, newfid=2, wnames=["jobs", "tick", "log"])["qids"]
    raw.ask("Tlopen", fid=2, flags=0)
    first = raw.ask("Tread", fid=2, offset=0, count=5)["data"]
    assert len(first) == 5  # jobd answered content[offset:], whatever the count (Linux: "bogus RREAD count")
    wait_for(lambda: len(jobd.barto.runs(schedule="tick")) >= 3, 20, "more ticks")
    rest, offset = b"", 5
    while chunk := raw.ask("Tread", fid=2, offset=offset, count=7)["data"]:
        assert len(chunk) <= 7
        rest, offset = rest + chunk, offset + len(chunk)
    whole = first + rest
    assert whole.endswith(b"\n")
    assert all(line.endswith(b":tick") for line in whole.splitlines())


@pytest.mark.parametrize(
    "frame",
    [
        struct.pack("<IBH", 3, 100, 0),  # a size under the header's
        struct.pack("<IBH", 1 << 31, 116, 1),  # past the msize
        struct.pack("<I", 20) + b"\x6e",  # begun, then nothing: the server waits FRAME_SECONDS, not for ever
    ],
)
def test_a_frame_whose_size_lies_closes_only_its_connection(jobd: Jobd, frame: bytes) -> None:
    raw = jobd.raw()
    raw.attach()
    raw.send(frame)
    if len(frame) < 7:
        raw.sock.shutdown(socket.SHUT_WR)
    assert raw.closed()
    assert jobd.diod(DIODCAT, "jobs/conf/cmd").stdout == "echo from the file"


def test_malformed_messages_are_answered_on_their_tag(jobd: Jobd) -> None:
    raw = jobd.raw()
    raw.attach()
    cases = [
        struct.pack("<IBH", 7, 99, 5),  # no such type (.L)
        struct.pack("<IBHI", 11, 116, 6, 1),  # a Tread cut short
        codec.encode(codec.message("Twalk", 7, fid=1, newfid=9, wnames=["a"]), Dialect.L)[:-1] + b"\xff",
    ]
    for number, frame in enumerate(cases, 5):
        raw.send(frame)
        reply = raw.reply()
        assert (reply.name, reply.tag) == ("Rlerror", number), reply
    assert raw.ask("Twalk", 8, fid=1, newfid=12, wnames=["runs"]).name == "Rwalk"
    for name, fields in (
        ("Tread", {"fid": 77, "offset": 0, "count": 10}),  # no such fid
        ("Twalk", {"fid": 1, "newfid": 1, "wnames": ["jobs\x00x"]}),  # a NUL in a name
        ("Twalk", {"fid": 12, "newfid": 3, "wnames": ["1" * 30]}),  # a run id out of range
        ("Tlcreate", {"fid": 1, "name": "new", "flags": 0, "mode": 0o644, "gid": 0}),
        ("Tmkdir", {"dfid": 1, "name": "jobs2", "mode": 0o755, "gid": 0}),
        (
            "Tsetattr",
            {
                "fid": 1,
                "valid": 1,
                "mode": 0o777,
                "uid": 0,
                "gid": 0,
                "size": 0,
                "atime_sec": 0,
                "atime_nsec": 0,
                "mtime_sec": 0,
                "mtime_nsec": 0,
            },
        ),
        ("Txattrwalk", {"fid": 1, "newfid": 4, "name": "user.x"}),
    ):
        reply = raw.ask(name, 9, **fields)
        assert reply.name == "Rlerror", (name, reply)
    assert raw.ask("Twalk", 10, fid=1, newfid=11, wnames=["jobs"]).name == "Rwalk"  # still serving


def test_a_flush_answers_at_once_for_a_request_still_going(jobd: Jobd) -> None:
    base = "workers/w1/programs/stubborn/ctl"
    wait_for(lambda: jobd.read(base) == b"STOPPED", 20, "the worker to report its programs")
    assert jobd.write(base, b"start", aname=OPERATE) is None
    wait_for(lambda: jobd.read(base) == b"RUNNING", 20, "the stubborn program to run")
    raw = jobd.raw()
    raw.attach(aname=OPERATE)
    raw.ask("Twalk", fid=1, newfid=2, wnames=base.split("/"))
    raw.ask("Tlopen", fid=2, flags=1)
    raw.send(codec.encode(codec.Message(codec.TYPES["Twrite"], 5, {"fid": 2, "offset": 0, "data": b"stop"}), Dialect.L))
    time.sleep(0.5)  # the stop is under way: the program ignores TERM, so it takes its stopwaitsecs (4 s)
    flushed = raw.ask("Tflush", 6, oldtag=5)
    assert (flushed.name, flushed.tag) == ("Rflush", 6)  # answered instead of the write's Rwrite
    assert jobd.read(base) != b"STOPPED"  # before the stop it interrupted would have answered
    wait_for(lambda: jobd.read(base) == b"STOPPED", 20, "the worker to stop it all the same")
    assert raw.ask("Twalk", 7, fid=1, newfid=3, wnames=["runs"]).tag == 7  # and no Rwrite of tag 5 ever came


def test_a_truncation_is_accepted_on_writable_files_only(jobd: Jobd) -> None:
    raw = jobd.raw()
    raw.attach()
    setattr_size = {"valid": 0x8, "mode": 0, "uid": 0, "gid": 0, "size": 0, "atime_sec": 0, "atime_nsec": 0,
                    "mtime_sec": 0, "mtime_nsec": 0}  # fmt: skip
    for newfid, (name, answer) in enumerate((("ctl", "Rsetattr"), ("schedule", "Rlerror")), 2):
        raw.ask("Twalk", fid=1, newfid=newfid, wnames=["jobs", "conf", name])
        assert raw.ask("Tsetattr", fid=newfid, **setattr_size).name == answer, name
    assert raw.ask("Tsetattr", fid=2, **{**setattr_size, "size": 5}).name == "Rlerror"  # only to 0
    assert jobd.read("jobs/conf/ctl") == b"started"  # nothing changed


def test_flush_answers_and_connections_are_bounded(jobd: Jobd) -> None:
    raw = jobd.raw()
    raw.attach()
    assert raw.ask("Tflush", 3, oldtag=99).name == "Rflush"
    others = [jobd.connect() for _ in range(15)]
    time.sleep(0.5)
    assert jobd.raw().closed()  # the 17th while 16 are open: closed at once
    for sock in others:
        sock.close()
    wait_for(lambda: jobd.diod(DIODCAT, "jobs/conf/cmd").returncode == 0, 10, "room again")


def test_a_client_that_does_not_read_its_replies_stops_being_read(jobd: Jobd) -> None:
    raw = jobd.raw()
    raw.attach()
    raw.ask("Twalk", fid=1, newfid=2, wnames=["jobs", "conf", "cmd"])
    raw.ask("Tlopen", fid=2, flags=0)
    frames = codec.encode(codec.Message(codec.TYPES["Tread"], 3, {"fid": 2, "offset": 0, "count": 100}), Dialect.L)
    batch = frames * 10_000
    raw.sock.settimeout(2)
    assert _send_until_blocked(raw.sock, batch, 5_000) < 5_000  # it stopped reading long before 50 million
    assert jobd.diod(DIODCAT, "jobs/conf/cmd").stdout == "echo from the file"  # the others are served


def _send_until_blocked(sock: socket.socket, batch: bytes, most: int) -> int:
    """How many times ``batch`` was sent before a send blocked for the socket's timeout (``most``:
    it never did)."""
    deadline = time.monotonic() + 60
    for sent in range(most):
        if time.monotonic() > deadline:
            break
        try:
            sock.sendall(batch)
        except TimeoutError:
            return sent
    return most


def test_a_standby_refuses_9p_naming_the_leader(on_postgresql: Barto, doors: Callable[[Barto, int], Jobd]) -> None:
    barto = on_postgresql
    ports, nine = {"a": barto.port, "b": free_port()}, {"a": free_port(), "b": free_port()}
    barto.start_server(SCHEDULES, f"[ninep]\nport = {nine['a']}\n", name="a", port=ports["a"])
    leader = doors(barto, nine["a"])
    barto.start_server(SCHEDULES, f"[ninep]\nport = {nine['b']}\n", name="b", port=ports["b"])
    wait_for(lambda: _listening(nine["b"]), 10, "b's 9P")
    asked = f"http://127.0.0.1:{ports['b']}/v1/clients"
    wait_for(lambda: httpx.get(asked, timeout=5).status_code == 307, 15, "b to know who leads")  # it redirects there
    standby = Jobd(barto, nine["b"])
    try:
        assert leader.read("workers") == b""  # no worker has connected: an empty directory, served
        with pytest.raises(py9p.RpcError) as refused:
            standby.client("")
        leads = f"{socket.gethostname()}:{ports['a']}"
        assert f"this server is a standby; the leader is {leads}" in _text(refused.value)
    finally:
        standby.close()
