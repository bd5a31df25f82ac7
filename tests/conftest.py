"""Shared test settings: hypothesis profiles and the rule for tests that need an oracle."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def require_or_skip(available: bool, what: str) -> None:
    """Skip loudly when ``what`` is missing locally; fail when CI=true, where it is required."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"NOT TESTED: {what} is not available on this machine")


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the loop barto runs on (uvloop in production)."""
    return "asyncio"
