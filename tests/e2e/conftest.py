from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Barto


@pytest.fixture
def barto(tmp_path: Path) -> Iterator[Barto]:
    """A server, workers and CLI in ``tmp_path``, all stopped after the test."""
    env = Barto(tmp_path)
    try:
        yield env
    finally:
        env.close()
