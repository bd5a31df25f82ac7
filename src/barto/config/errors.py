"""The one error configuration loading raises."""

from __future__ import annotations

from barto.errors import Invalid


class ConfigError(Invalid):
    """A config file, an environment variable or a flag holds something unusable.

    The message names where (``file:line``, or the environment variable), the key and what is
    wrong, so that a user can fix it without reading code.
    """

    def __init__(self, where: str, key: str, message: str) -> None:
        self.where = where
        self.key = key
        self.message = message
        super().__init__("bad_config", f"{where}: {key}: {message}" if key else f"{where}: {message}")
