"""config._locate: the line of a key in TOML text, for errors that say file:line: key."""

from __future__ import annotations

import tomllib

import pytest

from barto.config._locate import locate

DOC = '''\
# a comment with [brackets] and "quotes" = 1
title = "x = [not a table]"
text = """
[not.a.header]
fake = 1
"""
literal = \'\'\'
also = "not a key"
\'\'\'
a.b.c = 1
"odd key" = 2
'lit.key' = 3

[actix]
ip = "127.0.0.1"   # trailing comment ]
port = "20000"

[schedules.w1]
schedules = [
  { name = "one", on_calendar = "*:*:0/2", cmds = ["echo [1]", 'echo "2"'] },
  { name = "two", on_calendar = "daily", cmds = [
      "true",
      "false",
    ] },
]

[[programs.web]]
cmd = "a"

[[programs.web]]
cmd = "b"
env = { A = "1", B = { C = "2" } }
'''


def test_the_document_is_valid_toml() -> None:
    tomllib.loads(DOC)  # the cases below are about real TOML, not something near it


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("title",), 2),
        (("text",), 3),
        (("literal",), 7),
        (("a", "b", "c"), 10),
        (("odd key",), 11),
        (("lit.key",), 12),
        (("actix", "ip"), 15),
        (("actix", "port"), 16),
        (("schedules", "w1", "schedules", 0, "on_calendar"), 20),
        (("schedules", "w1", "schedules", 1, "name"), 21),
        (("schedules", "w1", "schedules", 1, "on_calendar"), 21),
        (("schedules", "w1", "schedules", 1, "cmds", 1), 23),
        (("programs", "web", 0, "cmd"), 28),
        (("programs", "web", 1, "cmd"), 31),
        (("programs", "web", 1, "env", "B", "C"), 32),
    ],
)
def test_keys_are_found_on_their_line(path: tuple[str | int, ...], line: int) -> None:
    assert locate(DOC, path) == line


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("actix", "tls"), 14),  # a missing key: its table's header
        (("schedules", "w1", "schedules", 1, "timezone"), 21),  # missing in an inline table: the table
        (("programs", "web", 1, "args"), 30),  # missing in the second [[programs.web]]: its header
    ],
)
def test_a_missing_key_points_at_the_nearest_existing_parent(path: tuple[str | int, ...], line: int) -> None:
    assert locate(DOC, path) == line


def test_nothing_matching_is_none() -> None:
    assert locate(DOC, ("nowhere",)) is None
    assert locate("", ("x",)) is None
