"""The synthetic file tree's contracts, and the clone definitions, on their own."""

from __future__ import annotations

import errno

import pytest

from barto.jobd.fs import File, FsError, Handle, one_line
from barto.jobd.namespace import parse_definition

pytestmark = pytest.mark.anyio


class Growing(File):
    """A file whose bytes are whatever the test sets."""

    grows = True

    def __init__(self, text: bytes) -> None:
        super().__init__("/log")
        self.text = text

    async def content(self) -> bytes:
        return self.text


async def test_an_open_reads_one_snapshot_and_takes_only_what_was_added() -> None:
    file = Growing(b"one\ntwo\n")
    handle = Handle(file)
    assert await handle.read(0, 4) == b"one\n"
    file.text = b"one\ntwo\nthree\n"
    assert await handle.read(4, 100) == b"two\n"  # still the first snapshot: a cat sees one text
    assert await handle.read(8, 100) == b"three\n"  # at its end it looks again: tail -f sees the growth
    file.text = b"two\nthree\nfour\n"  # the window moved: the old text is not its beginning
    assert await handle.read(14, 100) == b""
    assert await handle.size() == 14


async def test_a_file_that_does_not_grow_is_never_looked_at_again() -> None:
    file = Growing(b"stopped")
    file.grows = False
    handle = Handle(file)
    assert await handle.read(0, 100) == b"stopped"
    file.text = b"stopped and more"
    assert await handle.read(7, 100) == b""


def test_one_trailing_newline_is_dropped_and_nul_or_bad_utf8_refused() -> None:
    assert one_line(b"start\n") == "start"
    assert one_line(b"start\n\n") == "start\n"
    for bad in (b"st\x00art", b"\xff"):
        with pytest.raises(FsError) as refused:
            one_line(bad)
        assert refused.value.errno == errno.EINVAL


def test_the_short_form_is_jobds_and_the_long_form_takes_colons() -> None:
    assert parse_definition("hello:0 0/5 * * * ? *:echo hi") == {
        "name": "hello", "cron": "0 0/5 * * * ? *", "cron_dialect": "jobd", "cmds": ["echo hi"], "enabled": False,
    }  # fmt: skip
    long = parse_definition("name=b\ncalendar=daily\ncmd=echo a:b\ncmd=true")
    assert long == {"name": "b", "on_calendar": "daily", "cmds": ["echo a:b", "true"], "enabled": False}
    for bad in ("a:b", "a b:* * * * *:x", "name=x\ncmd=true", "name=x\ncron=1\ncron=2\ncmd=x", "name=x\nnoequals"):
        with pytest.raises(FsError):
            parse_definition(bad)
