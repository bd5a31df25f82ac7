"""bartos's 9P door against diod (Debian's 9P server) in the same run, with the same client.

1. Tread round trips per second of a small file, on one connection and across 50 at once.
2. ``cat`` of a job's log of 100,000 lines (one run of ``seq``): walk, open, Tread until empty.
3. 1,000 listings of ``/jobs`` holding 10,000 jobs (walk, Tlopen, Treaddir until empty, clunk).

diod serves a directory holding the same bytes: a file with the small file's text, a file with
the log's text, and 10,000 empty directories. The client is our own codec over asyncio (9P2000.L,
msize 65536), the same for both servers, so the figures differ only by the server. Prints a
table and one JSON line.

    uv run python bench/ninep.py [--reads 20000] [--lines 100000] [--jobs 10000] [--listings 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from barto.ninep import codec
from barto.ninep.codec import NOFID, NOTAG, Dialect, Message

BIN = Path(sys.executable).parent
MSIZE = 65536
NEVER = "2099-01-01 00:00:00"


class Client:
    """One 9P2000.L connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.fids = 100

    @classmethod
    async def attach(cls, port: int, aname: str) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        made = cls(reader, writer)
        await made.ask("Tversion", tag=NOTAG, msize=MSIZE, version="9P2000.L")
        await made.ask("Tattach", fid=1, afid=NOFID, uname="root", aname=aname, n_uname=0)
        return made

    async def ask(self, kind: str, tag: int = 1, **fields: Any) -> Message:
        self.writer.write(codec.encode(Message(codec.TYPES[kind], tag, fields), Dialect.L))
        head = await self.reader.readexactly(4)
        (size,) = struct.unpack("<I", head)
        reply = codec.decode(head + await self.reader.readexactly(size - 4), Dialect.L)
        if reply.name == "Rlerror":
            raise OSError(reply["ecode"], f"{kind}: {os.strerror(reply['ecode'])}")
        return reply

    async def open(self, path: str) -> int:
        self.fids += 1
        await self.ask("Twalk", fid=1, newfid=self.fids, wnames=[p for p in path.split("/") if p])
        await self.ask("Tlopen", fid=self.fids, flags=0)
        return self.fids

    async def cat(self, path: str) -> int:
        fid, offset = await self.open(path), 0
        while data := (await self.ask("Tread", fid=fid, offset=offset, count=MSIZE - 24))["data"]:
            offset += len(data)
        await self.ask("Tclunk", fid=fid)
        return offset

    async def listing(self, path: str) -> int:
        fid, offset, names = await self.open(path), 0, 0
        while data := (await self.ask("Treaddir", fid=fid, offset=offset, count=MSIZE - 24))["data"]:
            at = 0
            while at < len(data):
                (offset,) = struct.unpack_from("<Q", data, at + 13)
                (length,) = struct.unpack_from("<H", data, at + 22)
                at += 24 + length
                names += 1
        await self.ask("Tclunk", fid=fid)
        return names

    def close(self) -> None:
        self.writer.close()


async def reads_per_second(port: int, aname: str, path: str, connections: int, reads: int) -> float:
    """Tread round trips per second of ``path`` at offset 0, ``reads`` in all."""
    clients = [await Client.attach(port, aname) for _ in range(connections)]
    fids = [await c.open(path) for c in clients]

    async def loop(client: Client, fid: int) -> None:
        for _ in range(reads // connections):
            await client.ask("Tread", fid=fid, offset=0, count=4096)

    start = time.perf_counter()
    await asyncio.gather(*(loop(c, f) for c, f in zip(clients, fids, strict=True)))
    elapsed = time.perf_counter() - start
    for client in clients:
        client.close()
    return (reads // connections) * connections / elapsed


async def timed(work: Callable[[], Awaitable[object]], times: int) -> float:
    """The median seconds of ``work`` over ``times`` runs."""
    seconds = []
    for _ in range(times):
        start = time.perf_counter()
        await work()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


class Barto:
    """bartos with [ninep] and 10,000 config jobs on w1, a bartoc w1, and one big run's log."""

    def __init__(self, root: Path, jobs: int, lines: int) -> None:
        self.root, self.port, self.ninep = root, free_port(), free_port()
        rows = [f'  {{ name = "j{i:05d}", on_calendar = "{NEVER}", cmds = ["true"] }},' for i in range(jobs)]
        rows.append(f'  {{ name = "big", on_calendar = "{NEVER}", cmds = ["seq {lines}"] }},')
        rows.append(f'  {{ name = "small", on_calendar = "{NEVER}", cmds = ["echo 0123456789abcdef"] }},')
        config = root / "bartos.toml"
        config.write_text(
            f"[ninep]\nport = {self.ninep}\nworker = 'w1'\n[actix]\nip = '127.0.0.1'\nport = {self.port}\n"
            f"[database]\nurl = 'sqlite:///{root}/b.db'\n[schedules.w1]\nschedules = [\n" + "\n".join(rows) + "\n]\n"
        )
        (root / "w1.toml").write_text(f"name = 'w1'\n[bartos]\nhost = '127.0.0.1'\nport = {self.port}\n")
        env = {**os.environ, "HOME": str(root), "XDG_DATA_HOME": str(root / "d"), "XDG_STATE_HOME": str(root / "s")}
        self.procs = [subprocess.Popen([str(BIN / "bartos"), "-c", str(config), "-t", str(root / "s.log")], env=env)]
        wait_port(self.ninep)
        worker_env = {**env, "XDG_DATA_HOME": str(root / "wd"), "XDG_STATE_HOME": str(root / "ws")}
        self.procs.append(subprocess.Popen([str(BIN / "bartoc"), "-c", str(root / "w1.toml")], env=worker_env))
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        self._until(lambda: any(c["connected"] for c in self._get("/v1/clients", [])), "w1 to connect")
        for name in ("big", "small"):
            path = f"/v1/runs/{self.http.post(f'/v1/schedules/w1/{name}/run').json()['id']}"
            self._until(lambda: self._get(path, {}).get("state") == "succeeded", name)  # noqa: B023 - used at once

    def _get(self, path: str, otherwise: Any) -> Any:
        answer = self.http.get(path)
        return answer.json() if answer.status_code == 200 else otherwise

    def _until(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 120
        while not check():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            time.sleep(0.2)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            proc.wait(30)


def diod_tree(root: Path, log: bytes, small: bytes, jobs: int) -> Path:
    """The directory diod serves: the same bytes as barto's files, 10,000 directories."""
    tree = root / "export"
    (tree / "jobs").mkdir(parents=True)
    for i in range(jobs):
        (tree / "jobs" / f"j{i:05d}").mkdir()
    (tree / "log").write_bytes(log)
    (tree / "small").write_bytes(small)
    return tree


async def measure(port: int, aname: str, small: str, log: str, args: argparse.Namespace) -> dict[str, float]:
    one = await reads_per_second(port, aname, small, 1, args.reads)
    fifty = await reads_per_second(port, aname, small, 50, args.reads)
    client = await Client.attach(port, aname)
    cat = await timed(lambda: client.cat(log), 5)
    listings = await timed(lambda: client.listing("jobs"), 3)
    start = time.perf_counter()
    for _ in range(args.listings):
        await client.listing("jobs")
    all_listings = time.perf_counter() - start
    client.close()
    return {"reads_1": one, "reads_50": fifty, "cat_s": cat, "ls_s": listings, "ls_all_s": all_listings}


async def main_async(args: argparse.Namespace) -> None:
    diod = shutil.which("diod") or "/usr/sbin/diod"
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        barto = Barto(root, args.jobs, args.lines)
        try:
            probe = await Client.attach(barto.ninep, "")
            log_bytes = b"".join([await _read(probe, "jobs/big/log")])
            small_bytes = await _read(probe, "jobs/small/log")
            names = await probe.listing("jobs")
            probe.close()
            assert names == args.jobs + 2, names
            tree = diod_tree(root, log_bytes, small_bytes, args.jobs + 2)
            port = free_port()
            peer = subprocess.Popen([diod, "-f", "-n", "-l", f"127.0.0.1:{port}", "-e", str(tree)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            try:
                wait_port(port)
                ours = await measure(barto.ninep, "", "jobs/small/log", "jobs/big/log", args)
                theirs = await measure(port, str(tree), "small", "log", args)
            finally:
                peer.terminate()
                peer.wait(10)
        finally:
            barto.close()
    report(ours, theirs, len(log_bytes), args)


async def _read(client: Client, path: str) -> bytes:
    fid, offset, out = await client.open(path), 0, b""
    while data := (await client.ask("Tread", fid=fid, offset=offset, count=MSIZE - 24))["data"]:
        out, offset = out + data, offset + len(data)
    await client.ask("Tclunk", fid=fid)
    return out


def report(ours: dict[str, float], theirs: dict[str, float], log_bytes: int, args: argparse.Namespace) -> None:
    rows = [
        ("Tread round trips/s, 1 connection", "reads_1", "{:,.0f}", True),
        ("Tread round trips/s, 50 connections", "reads_50", "{:,.0f}", True),
        (f"cat of a {args.lines:,}-line log ({log_bytes:,} B), s", "cat_s", "{:.3f}", False),
        (f"ls of /jobs ({args.jobs:,} jobs), s", "ls_s", "{:.3f}", False),
        (f"{args.listings:,} ls of /jobs, s", "ls_all_s", "{:.1f}", False),
    ]
    print(f"{'':48} {'barto':>12} {'diod':>12} {'barto/diod':>11}")
    for label, key, form, higher in rows:
        ratio = ours[key] / theirs[key]
        print(f"{label:48} {form.format(ours[key]):>12} {form.format(theirs[key]):>12} {ratio:>10.2f}x"
              + ("" if higher else " (time)"))  # fmt: skip
    print(json.dumps({"bench": "ninep", "barto": ours, "diod": theirs, "log_bytes": log_bytes, **vars(args)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--listings", type=int, default=1000)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
