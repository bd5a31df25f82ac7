"""The interactive side of ``barto-cli ctl``: a supervisorctl-like shell with history and tab
completion of commands and program names."""

from __future__ import annotations

import cmd
import contextlib
import readline
from collections.abc import Callable
from pathlib import Path
from typing import Any

Ask = Callable[[dict[str, Any]], dict[str, Any]]
Show = Callable[[Any], None]


class Shell(cmd.Cmd):
    """``<prompt>> status``, ``stop web``, ``signal HUP web`` ...; ``exit``, ``quit`` or Ctrl-D leave."""

    def __init__(self, ask: Ask, show: Show, commands: tuple[str, ...], prompt: str) -> None:
        super().__init__()
        self.prompt = f"{prompt}> "
        self._ask, self._show, self._commands = ask, show, commands

    def default(self, line: str) -> None:
        words = line.split()
        if words[0] not in self._commands:
            print(f"*** unknown command {words[0]!r}; one of: {', '.join(self._commands)}")
            return
        try:
            self._run(words)
        except OSError as error:  # the socket is gone (bartoc stopped): say so, stay in the shell
            print(f"*** {error}")

    def _run(self, words: list[str]) -> None:
        request: dict[str, Any] = {"command": words[0]}
        rest = words[1:]
        if words[0] == "signal" and rest:
            request["signal"], rest = rest[0], rest[1:]
        if rest:
            request.update(target="program", name=rest[0])
        answer = self._ask(request)
        if answer.get("status") == 200:
            self._show(answer["content"])
        else:
            print(f"*** {answer.get('error', {}).get('message', answer)}")

    def emptyline(self) -> bool:
        return False

    def do_exit(self, _: str) -> bool:
        """Leave the shell."""
        return True

    do_quit = do_exit

    def do_EOF(self, _: str) -> bool:
        """Leave the shell (Ctrl-D)."""
        print()
        return True

    def completenames(self, text: str, *ignored: Any) -> list[str]:
        return [c + " " for c in (*self._commands, "exit", "quit") if c.startswith(text)]

    def completedefault(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        """Program and process names, as the worker has them now."""
        answer = self._ask({"command": "status"})
        names = {p["name"] for p in answer.get("content") or []} | {p["program"] for p in answer.get("content") or []}
        return sorted(n for n in names if n.startswith(text))


def interact(shell: Shell, history: Path) -> None:
    """Run ``shell`` with its history kept in ``history`` across sessions."""
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    readline.set_history_length(1000)
    readline.set_completer_delims(" ")
    try:
        shell.cmdloop()
    finally:
        with contextlib.suppress(OSError):
            readline.write_history_file(history)
