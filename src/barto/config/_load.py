"""Loading one program's configuration: TOML file, then env overrides, then flags.

Precedence, highest first: command-line flag > environment variable > file > default.
Environment variables are ``<PREFIX>_<KEY>`` with ``__`` between nested keys
(``BARTOS_MARIADB__PASSWORD`` -> ``mariadb.password``); names are case-insensitive. Values from
the environment and strings in the file are converted to the key's type (``port = "20000"``).
"""

from __future__ import annotations

import logging
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from barto.config._locate import locate
from barto.config.errors import ConfigError
from barto.config.secrets import SECRET_KEYS
from barto.errors import Invalid

T = TypeVar("T")
Origin = dict[tuple[str | int, ...], str]
Check = Callable[[Any], None]

log = logging.getLogger("barto.config")

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_PART = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]|\['([^']*)'\]|(\[\.\.\.\])")
_ANY_KEY = "[...]"  # msgspec's path names a dict value without its key


class Source(msgspec.Struct, frozen=True, kw_only=True):
    """Where a configuration comes from."""

    path: Path
    required: bool  # True when the user named the file; the XDG default may be absent
    env: Mapping[str, str]
    prefix: str  # "BARTOS", "BARTOC" or "BARTO_CLI"
    flags: Mapping[str, Any]  # top-level keys set by command-line flags (None = not given)


def load(source: Source, schema: type[T], check: Callable[[T], None] | None = None) -> T:
    """Read, overlay and validate one configuration.

    Raises:
        ConfigError: naming file and line (or env var or flag), key and problem.
    """
    text = _read(source)
    data = _parse(text, source.path)
    origin: Origin = {}
    _overlay_env(data, schema, source, origin)
    for key, value in source.flags.items():
        if value is not None:
            data[key] = value
            origin[(key,)] = f"--{key.replace('_', '-')}"
    try:
        _read_secret_files(data, ())
        config = msgspec.convert(data, schema, strict=False)
        if check is not None:
            check(config)
    except KeyedError as error:
        raise _located(error.path, str(error), text, source.path, origin) from None
    except msgspec.ValidationError as error:
        path, message = _split(str(error))
        path = _resolve(path, data, schema, str(error))
        if message.startswith("Invalid enum value") and (choices := _choices(schema, path)):
            message = f"{message} (one of {', '.join(repr(c) for c in choices)})"
        raise _located(path, message, text, source.path, origin) from None
    return config


def _choices(schema: Any, path: tuple[str | int, ...]) -> list[Any]:
    """The values a ``Literal`` field at ``path`` of ``schema`` takes (empty: not a Literal)."""
    kind: Any = schema
    for part in path:
        kind = next((k for k in _members(kind) if _child(k, part) is not None), None)
        if kind is None:
            return []
        kind = _child(kind, part)
    return [value for member in _members(kind) if typing.get_origin(member) is Literal for value in member.__args__]


def _members(kind: Any) -> list[Any]:
    """The types a field may hold: the members of a union, the type under ``Annotated``."""
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        return _members(typing.get_args(kind)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(kind) for m in _members(arg)]
    return [kind]


def _child(kind: Any, part: str | int) -> Any:
    """The type of ``part`` inside ``kind`` (a struct's field, a list's item, a dict's value)."""
    origin = typing.get_origin(kind)
    if origin is list and isinstance(part, int):
        return typing.get_args(kind)[0]
    if origin is dict and isinstance(part, str):
        return typing.get_args(kind)[1]
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct) and isinstance(part, str):
        return typing.get_type_hints(kind, include_extras=True).get(part)
    return None


class KeyedError(Invalid, ValueError):
    """A semantic problem found after decoding, at a key path (raised by ``check`` functions)."""

    code = "bad_config"

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        super().__init__(message)


def _read(source: Source) -> str:
    try:
        return source.path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if source.required:
            raise ConfigError(str(source.path), "", "no such config file") from None
        return ""
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(source.path), "", f"cannot read the config file: {error}") from None


def _parse(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"at line (\d+)", str(error))
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise ConfigError(where, "", f"invalid TOML: {error}") from None


def _overlay_env(data: dict[str, Any], schema: type, source: Source, origin: Origin) -> None:
    """Apply ``<PREFIX>_A__B=value`` as ``data[a][b] = value``; unknown names are logged, not fatal."""
    head = source.prefix + "_"
    for name in sorted(source.env):
        if not name.upper().startswith(head) or name.upper() == head:
            continue
        path = tuple(name[len(head) :].lower().split("__"))
        if not _known(schema, path):
            log.warning("ignoring environment variable %s: %s has no key %s", name, source.prefix, ".".join(path))
            continue
        node = data
        for part in path[:-1]:
            child = node.get(part)
            node = node.setdefault(part, {}) if not isinstance(child, dict) else child
        value = source.env[name]
        if not value.isascii() and not _is_utf8(value):  # undecodable bytes (surrogateescape)
            raise ConfigError(f"environment variable {name}", _dotted(path), "not valid UTF-8")
        node[path[-1]] = value
        origin[path] = f"environment variable {name}"


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _read_secret_files(data: dict[str, Any], at: tuple[str, ...]) -> None:
    """``<secret>_file = PATH`` in any table sets ``<secret>`` to the file's content, stripped:
    secrets can live in systemd credentials or mounted secret files instead of the config.

    Raises:
        KeyedError: when both are given, or the file cannot be read.
    """
    for key in list(data):
        if isinstance(data[key], dict):
            _read_secret_files(data[key], (*at, key))
        elif (stem := key.removesuffix("_file")) in SECRET_KEYS and stem != key:
            if stem in data:
                raise KeyedError((*at, key), f"give {stem} or {key}, not both")
            try:
                data[stem] = Path(data.pop(key)).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise KeyedError((*at, key), f"cannot read the secret: {error.strerror}: {error.filename}") from None


def _known(schema: Any, path: tuple[str, ...]) -> bool:
    if path and (stem := path[-1].removesuffix("_file")) in SECRET_KEYS and stem != path[-1]:
        path = (*path[:-1], stem)  # BARTOS_API_KEY_FILE names a file holding api_key
    info = msgspec.inspect.type_info(schema)
    for part in path:
        info = _unwrap(info)
        if isinstance(info, msgspec.inspect.StructType):
            fields = {f.encode_name: f.type for f in info.fields}
            if part not in fields:
                return False
            info = fields[part]
        elif isinstance(info, msgspec.inspect.DictType):
            info = info.value_type
        else:
            return False
    return True


def _unwrap(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    """The struct or dict inside an ``X | None``."""
    if isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            if isinstance(member, msgspec.inspect.StructType | msgspec.inspect.DictType):
                return member
    return info


def _located(path: tuple[str | int, ...], message: str, text: str, file: Path, origin: Origin) -> ConfigError:
    for length in range(len(path), 0, -1):
        if path[:length] in origin:
            return ConfigError(origin[path[:length]], _dotted(path), message)
    line = locate(text, path) if path else None
    return ConfigError(f"{file}:{line}" if line else str(file), _dotted(path), message)


def _split(message: str) -> tuple[tuple[str | int, ...], str]:
    """msgspec's "Expected `int`, got `str` - at `$.actix.port`" -> (("actix", "port"), "...")."""
    match = _AT.match(message)
    assert match is not None  # the pattern matches every string
    path: list[str | int] = []
    for name, index, quoted, any_key in _PART.findall(match["path"] or ""):
        path.append(int(index) if index else name or quoted or any_key)
    text = match["msg"]
    missing = re.match(r"Object missing required field `([^`]+)`", text)
    if missing:
        path.append(missing.group(1))
        text = "required key is missing"
    unknown = re.match(r"Object contains unknown field `([^`]+)`", text)
    if unknown:
        path.append(unknown.group(1))
        text = "unknown key (check its spelling)"
    return tuple(path), text


def _resolve(path: tuple[str | int, ...], data: dict[str, Any], schema: type, error: str) -> tuple[str | int, ...]:
    """Fill in the dict key msgspec left out of ``path``: the one whose value alone fails the same way."""
    if _ANY_KEY not in path:
        return path
    at = path.index(_ANY_KEY)
    node: Any = data
    for part in path[:at]:
        node = node[part]
    for key in list(node):
        trial = {k: v for k, v in node.items() if k == key}
        if _fails_with(data, path[:at], trial, schema, error):
            return _resolve((*path[:at], key, *path[at + 1 :]), data, schema, error)
    return path[:at]


def _fails_with(data: dict[str, Any], where: tuple[str | int, ...], value: Any, schema: type, error: str) -> bool:
    """Whether ``data`` with ``value`` put at ``where`` fails validation with ``error``."""

    def put(node: Any, parts: tuple[str | int, ...]) -> Any:
        if not parts:
            return value
        copy = list(node) if isinstance(node, list) else dict(node)
        copy[parts[0]] = put(node[parts[0]], parts[1:])  # type: ignore[index]
        return copy

    try:
        msgspec.convert(put(data, where), schema, strict=False)
    except msgspec.ValidationError as other:
        return str(other) == error
    return False


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
