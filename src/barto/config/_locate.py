"""Find the line of a key in TOML text, so that config errors can say ``file:line: key``.

``tomllib`` keeps no positions, so this is a small scanner of its own: it walks the statements
of the document (headers and ``key = value``), skips values with the TOML rules for strings,
arrays and inline tables, and descends into arrays and inline tables to reach paths such as
``schedules.barto.schedules[0].on_calendar``. When a key is absent (a missing field) it
answers with the line of the nearest enclosing table or key that exists.
"""

from __future__ import annotations

import re

Path = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_STRING_OPENERS = ('"""', "'''", '"', "'")


def locate(text: str, path: Path) -> int | None:
    """The 1-based line where ``path`` (or its deepest existing ancestor) is written, or None."""
    best: tuple[int, int] = (0, -1)  # (matched depth, offset)
    table: Path = ()
    counts: dict[Path, int] = {}
    pos = _skip_blank(text, 0)
    while pos < len(text):
        if text.startswith("[", pos):
            table, pos = _header(text, pos, counts)
            best = _better(best, _common(table, path), pos)
        else:
            start = pos
            key, pos = _key(text, pos)
            full = table + key
            pos = _skip_inline_ws(text, pos) + 1  # the "="
            depth = _common(full, path)
            if depth == len(full):
                found = _descend(text, pos, path[depth:])
                best = _better(best, len(path) if found is not None else depth, found or start)
            pos = _skip_value(text, pos)
        pos = _skip_blank(text, pos)
    return text.count("\n", 0, best[1]) + 1 if best[1] >= 0 else None


def _better(best: tuple[int, int], depth: int, offset: int) -> tuple[int, int]:
    return (depth, offset) if depth > best[0] else best


def _common(a: Path, b: Path) -> int:
    """Length of the common prefix, or 0 when ``a`` is not a prefix of ``b``."""
    return len(a) if b[: len(a)] == a else 0


def _header(text: str, pos: int, counts: dict[Path, int]) -> tuple[Path, int]:
    is_array = text.startswith("[[", pos)
    key, pos = _key(text, pos + (2 if is_array else 1))
    pos = text.index("]", pos) + (2 if is_array else 1)
    if is_array:
        counts[key] = counts.get(key, -1) + 1
        key = (*key, counts[key])
    return key, pos


def _key(text: str, pos: int) -> tuple[Path, int]:
    """A (dotted) key; quoted parts are unquoted."""
    parts: list[str | int] = []
    while True:
        pos = _skip_inline_ws(text, pos)
        if text[pos] in "\"'":
            end = _skip_string(text, pos)
            parts.append(text[pos + 1 : end - 1])
            pos = end
        else:
            match = _BARE_KEY.match(text, pos)
            if match is None:
                raise ValueError(f"no key at offset {pos}")
            parts.append(match.group())
            pos = match.end()
        pos = _skip_inline_ws(text, pos)
        if not text.startswith(".", pos):
            return tuple(parts), pos
        pos += 1


def _descend(text: str, pos: int, rest: Path) -> int | None:
    """Offset of ``rest`` inside the value at ``pos``; None if it is not there."""
    pos = _skip_blank(text, pos)
    if not rest:
        return pos
    head = rest[0]
    if isinstance(head, int) and text.startswith("[", pos):
        return _descend_array(text, pos + 1, head, rest[1:])
    if isinstance(head, str) and text.startswith("{", pos):
        return _descend_table(text, pos + 1, head, rest[1:])
    return None


def _descend_array(text: str, pos: int, index: int, rest: Path) -> int | None:
    for _ in range(index):
        pos = _skip_blank(text, pos)
        if text.startswith("]", pos):
            return None
        pos = _skip_blank(text, _skip_value(text, pos))
        pos += text.startswith(",", pos)
    pos = _skip_blank(text, pos)
    if text.startswith("]", pos):
        return None
    found = _descend(text, pos, rest)
    return pos if found is None else found


def _descend_table(text: str, pos: int, head: str, rest: Path) -> int | None:
    while True:
        pos = _skip_blank(text, pos)
        if pos >= len(text) or text.startswith("}", pos):
            return None
        start = pos
        key, pos = _key(text, pos)
        pos = _skip_inline_ws(text, pos) + 1
        if key == (head,):
            found = _descend(text, pos, rest)
            return start if found is None else found
        pos = _skip_blank(text, _skip_value(text, pos))
        pos += text.startswith(",", pos)


def _skip_value(text: str, pos: int) -> int:
    """Offset just after the value starting at ``pos`` (which may span lines)."""
    pos = _skip_inline_ws(text, pos)
    if text.startswith(_STRING_OPENERS, pos):
        return _skip_string(text, pos)
    if text.startswith(("[", "{"), pos):
        close = "]" if text[pos] == "[" else "}"
        pos += 1
        while True:
            pos = _skip_blank(text, pos)
            if pos >= len(text) or text.startswith(close, pos):
                return pos + 1
            if close == "}":
                pos = _skip_inline_ws(text, _key(text, pos)[1]) + 1
            pos = _skip_blank(text, _skip_value(text, pos))
            pos += text.startswith(",", pos)
    match = re.compile(r"[^,\]}\s#]*").match(text, pos)
    return match.end() if match else pos


def _skip_string(text: str, pos: int) -> int:
    for opener in _STRING_OPENERS:
        if text.startswith(opener, pos):
            end = pos + len(opener)
            while not text.startswith(opener, end):
                if end >= len(text):
                    return end
                end += 2 if opener[0] == '"' and text[end] == "\\" else 1
            return end + len(opener)
    return pos


def _skip_inline_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _skip_blank(text: str, pos: int) -> int:
    """Skip spaces, newlines and comments."""
    while pos < len(text):
        if text[pos] in " \t\r\n":
            pos += 1
        elif text[pos] == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        else:
            break
    return pos
