"""``[btu]`` (ours): what BTU Scheduler did, from its own channels (docs/btu.md): the web
servers' Unix socket and the SQL table of schedules, refreshed every so often.

BTU's own ``btu_scheduler.toml`` loads as is, named by ``[btu] file``: its ``mysql_*``,
``rq_host``/``rq_port``, ``socket_path``, ``socket_file_group_owner``,
``full_refresh_internal_secs`` (BTU's spelling) and ``time_zone_string`` are used, every other
key is ignored as BTU ignores unknown ones; a key of ``[btu]`` itself wins over the file's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import msgspec

from barto.config._load import KeyedError, Source, load
from barto.config.common import _Section

if TYPE_CHECKING:
    from barto.config.server import ServerConfig

SOCKET_PATH = "/tmp/btu_scheduler.sock"  # BTU's default, where Frappe's SchedulerAPI looks
REFRESH_SECONDS = 300.0
FILE_REDIS = "btu"  # the [redis.<name>] made of the file's rq_host and rq_port


class Btu(_Section, frozen=True, kw_only=True):
    """``[btu]``. ``database_url``: the Frappe site's MariaDB (``mysql://user:pw@host/db``); none:
    no SQL source, the socket's requests name schedules that cannot be read. ``redis``: the
    ``[redis.<name>]`` the schedules enqueue into. ``time_zone``: the calendars' zone when
    ``tabSingles`` has no BTU Configuration ``cron_time_zone``."""

    file: str | None = None
    socket_path: str | None = None
    socket_group: str | None = None
    database_url: str | None = None
    redis: str | None = None
    full_refresh_interval_secs: float | None = None
    time_zone: str | None = None


class BtuFile(msgspec.Struct, frozen=True, kw_only=True):
    """The keys of BTU's ``btu_scheduler.toml`` that mean something here (the rest are ignored)."""

    full_refresh_internal_secs: int | None = None
    time_zone_string: str | None = None
    mysql_user: str | None = None
    mysql_password: str = ""
    mysql_host: str | None = None
    mysql_port: int = 3306
    mysql_database: str | None = None
    rq_host: str | None = None
    rq_port: int = 6379
    socket_path: str | None = None
    socket_file_group_owner: str | None = None


@dataclass(frozen=True)
class BtuSettings:
    """``[btu]`` with the file's keys and the defaults filled in."""

    socket_path: str
    socket_group: str | None
    database_url: str | None
    redis: str
    refresh_seconds: float
    time_zone: str | None
    file_redis_url: str | None  # [redis.btu], from the file's rq_host and rq_port


def read_file(path: str) -> BtuFile:
    """BTU's config file, as BTU reads it.

    Raises:
        ConfigError: naming the file, line and key.
    """
    source = Source(path=Path(path), required=True, env={}, prefix="BTU_SCHEDULER", flags={})
    return load(source, BtuFile, _check_file)


def _check_file(file: BtuFile) -> None:
    if file.full_refresh_internal_secs is not None and file.full_refresh_internal_secs < 1:
        raise KeyedError(("full_refresh_internal_secs",), "must be at least 1")
    for key in ("mysql_port", "rq_port"):
        if not 1 <= getattr(file, key) <= 65535:
            raise KeyedError((key,), "must be a port, 1 to 65535")
    if file.mysql_host is not None and (file.mysql_user is None or file.mysql_database is None):
        missing = "mysql_user" if file.mysql_user is None else "mysql_database"
        raise KeyedError((missing,), "mysql_host is set: set mysql_user and mysql_database too")


def settings(btu: Btu, file: BtuFile | None) -> BtuSettings:
    """``[btu]`` over the file's keys over the defaults."""
    file = file or BtuFile()
    database = btu.database_url or _file_database_url(file)
    redis = btu.redis or (FILE_REDIS if file.rq_host is not None else "default")
    return BtuSettings(
        socket_path=btu.socket_path or file.socket_path or SOCKET_PATH,
        socket_group=btu.socket_group or file.socket_file_group_owner,
        database_url=database,
        redis=redis,
        refresh_seconds=btu.full_refresh_interval_secs or file.full_refresh_internal_secs or REFRESH_SECONDS,
        time_zone=btu.time_zone or file.time_zone_string,
        file_redis_url=f"redis://{file.rq_host}:{file.rq_port}/0" if file.rq_host is not None else None,
    )


def _file_database_url(file: BtuFile) -> str | None:
    if file.mysql_host is None or file.mysql_user is None or file.mysql_database is None:
        return None
    credentials = f"{quote(file.mysql_user, safe='')}:{quote(file.mysql_password, safe='')}"
    return f"mysql://{credentials}@{file.mysql_host}:{file.mysql_port}/{quote(file.mysql_database, safe='')}"


def check_btu(btu: Btu, redis: set[str]) -> None:
    """``[btu]``'s own keys, and (reading ``file``) the ``[redis]`` it will use exists.

    Raises:
        KeyedError: at ``[btu]``'s offending key.
        ConfigError: in BTU's file.
    """
    for key in ("socket_path", "file"):
        value = getattr(btu, key)
        if value is not None and (not value or "\0" in value):
            raise KeyedError(("btu", key), "must be a path")
    if btu.full_refresh_interval_secs is not None and not 1 <= btu.full_refresh_interval_secs <= 86400:
        raise KeyedError(("btu", "full_refresh_interval_secs"), "must be from 1 to 86400")
    if btu.database_url is not None and btu.database_url.partition("://")[0].partition("+")[0] not in (
        "mysql",
        "mariadb",
    ):
        raise KeyedError(("btu", "database_url"), "BTU's schedules are in MariaDB: mysql://user:password@host/db")
    resolved = settings(btu, read_file(btu.file) if btu.file is not None else None)
    if resolved.redis not in redis and not (resolved.redis == FILE_REDIS and resolved.file_redis_url):
        raise KeyedError(("btu", "redis"), f"no [redis.{resolved.redis}] (there are: {', '.join(redis) or 'none'})")


def with_file(config: ServerConfig) -> ServerConfig:
    """``config`` with ``[btu] file`` read into ``[btu]`` (its own keys winning) and, if the file
    names a Redis, ``[redis.btu]`` (unless the config has one)."""
    assert config.btu is not None and config.btu.file is not None  # noqa: PT018  # checked by the caller
    file = read_file(config.btu.file)
    merged = settings(config.btu, file)
    btu = Btu(
        socket_path=merged.socket_path, socket_group=merged.socket_group, database_url=merged.database_url,
        redis=merged.redis, full_refresh_interval_secs=merged.refresh_seconds, time_zone=merged.time_zone,
    )  # fmt: skip
    from barto.config.server import Redis

    redis = dict(config.redis)
    if merged.file_redis_url is not None and FILE_REDIS not in redis:
        redis[FILE_REDIS] = Redis(url=merged.file_redis_url)
    return msgspec.structs.replace(config, btu=btu, redis=redis)
