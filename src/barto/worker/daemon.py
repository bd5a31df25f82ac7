"""What ``[taskmasterd]`` asks of the bartoc process itself, done once at start, before any
program or run: its working directory, umask, resource minimums, user, and pid file — as
supervisord does for ``[supervisord]`` (docs/programs.md, "[taskmasterd]").
"""

from __future__ import annotations

import contextlib
import os
import pwd
import resource
from collections.abc import Iterator
from pathlib import Path

from barto.config.worker import Taskmasterd
from barto.errors import Invalid


class StartError(Invalid):
    """bartoc cannot become what ``[taskmasterd]`` asks (exit 1, naming the key)."""

    code = "cannot_start"


@contextlib.contextmanager
def prepared(section: Taskmasterd, base: Path) -> Iterator[None]:
    """Apply ``section`` to this process (paths relative to ``base``); the pid file is removed
    when the block ends.

    Raises:
        StartError: naming the key that cannot be honoured.
    """
    if section.directory is not None:
        try:
            os.chdir(base / section.directory)
        except OSError as error:
            raise StartError(f"taskmasterd.directory: cannot enter {section.directory}: {error.strerror}") from None
    os.umask(section.umask)
    _at_least(resource.RLIMIT_NOFILE, section.minfds, "minfds", "open files")
    _at_least(resource.RLIMIT_NPROC, section.minprocs, "minprocs", "processes")
    if section.user is not None:
        _become(section.user)
    pidfile = base / section.pidfile if section.pidfile else None
    if pidfile is not None:
        try:
            pidfile.write_text(f"{os.getpid()}\n")
        except OSError as error:
            raise StartError(f"taskmasterd.pidfile: cannot write {pidfile}: {error.strerror}") from None
    try:
        yield
    finally:
        if pidfile is not None:
            with contextlib.suppress(OSError):
                pidfile.unlink()


def _at_least(limit: int, wanted: int, key: str, what: str) -> None:
    """Raise the soft limit to ``wanted`` if it is lower; refuse when the hard limit is lower."""
    soft, hard = resource.getrlimit(limit)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        raise StartError(f"taskmasterd.{key}: {wanted} {what} wanted, this process may have at most {hard}")
    resource.setrlimit(limit, (wanted, hard))


def _become(user: str) -> None:
    """Switch to ``user`` (from root), as supervisord's ``user``: uid, gid and groups, no login."""
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise StartError(f"taskmasterd.user: no user {user!r}") from None
    if os.getuid() == entry.pw_uid:
        return
    if os.getuid() != 0:
        raise StartError(f"taskmasterd.user: switching to {user!r} needs bartoc to start as root")
    os.setgroups([])
    os.initgroups(entry.pw_name, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
