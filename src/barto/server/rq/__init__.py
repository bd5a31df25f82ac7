"""Schedules whose runs are Python RQ jobs: the server's own worker ``@rq`` (docs/rq.md)."""
