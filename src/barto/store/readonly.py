"""The gate in front of ``barto-cli query``: one SELECT, nothing else."""

from __future__ import annotations

import re

from barto.errors import Invalid

_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_STRING = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`")
_WRITES = re.compile(
    r"\b(insert|update|delete|replace|merge|create|drop|alter|truncate|attach|detach|pragma|vacuum|reindex|"
    r"grant|revoke|set|lock|call|load|copy|into)\b",
    re.IGNORECASE,
)


class NotASelectError(Invalid, ValueError):
    """The text is not a single read-only SELECT."""

    code = "not_a_select"


def check_select(sql: str) -> str:
    """Return ``sql`` without a trailing semicolon if it is one SELECT (or WITH ... SELECT).

    This is a first gate only; the statement also runs on a read-only connection.

    Raises:
        NotASelectError: for anything else, with the reason.
    """
    bare = _STRING.sub("''", _COMMENT.sub(" ", sql)).strip().rstrip(";").strip()
    if not bare:
        raise NotASelectError("the query is empty")
    if ";" in bare:
        raise NotASelectError("only one statement is allowed")
    if not re.match(r"(select|with)\b", bare, re.IGNORECASE):
        raise NotASelectError("only SELECT queries are allowed")
    word = _WRITES.search(bare)
    if word:
        raise NotASelectError(f"{word.group(1).upper()} is not allowed in a query")
    return sql.strip().rstrip(";").rstrip()
