"""``barto-cli`` configuration: barto's ``barto-cli.toml``."""

from __future__ import annotations

from barto.config.common import BartosLink, Tracing, _Section


class Taskmasterctl(_Section, frozen=True, kw_only=True):
    """``[taskmasterctl]`` (the taskmaster seed's): where ``barto-cli ctl`` talks, and its shell."""

    serverurl: str = "unix:///tmp/taskmaster.sock"
    prompt: str = "taskmaster"
    history: str = "/tmp/taskmaster_history.txt"


class CliConfig(_Section, frozen=True, kw_only=True):
    """Everything ``barto-cli`` reads from ``barto-cli.toml``, the environment and its flags."""

    name: str = "barto-cli"
    bartos: BartosLink = BartosLink()
    tracing: Tracing = Tracing()
    verbose: int = 0
    quiet: int = 0
    enable_std_output: bool = False
    timeout_seconds: float = 10.0
    taskmasterctl: Taskmasterctl = Taskmasterctl()
