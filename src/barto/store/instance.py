"""One bartos per SQLite database: SQLite is the single-server store.

Several servers on one database need a database server's locking and a leader lease (issue 5:
PostgreSQL or MariaDB). On SQLite a second bartos would schedule every slot twice over (the
UNIQUE claims would keep runs single, but two schedulers, two sets of timers and a file shared
between machines over NFS are not a setup anyone should run by accident), so it is refused.
"""

from __future__ import annotations

import fcntl
import os

from sqlalchemy.engine import make_url

from barto.store.sql import StoreError


def hold_sqlite(url: str) -> int | None:
    """For a SQLite URL, an exclusive lock beside the file, held until the process exits (the
    returned descriptor); None for PostgreSQL and MariaDB.

    Raises:
        StoreError: when another bartos holds the lock.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    path = f"{parsed.database}.bartos.lock"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(
            f"another bartos is serving {parsed.database}: SQLite is for one server; "
            "for several, use PostgreSQL or MariaDB (docs/operations.md)"
        ) from None
    return fd
