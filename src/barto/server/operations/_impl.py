"""The registry that ties an implementation to its declared operation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from barto.api.operations import Operation

IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {}
F = TypeVar("F", bound=Callable[..., Any])


def implements(*operations: Operation) -> Callable[[F], F]:
    """Register the decorated function as the implementation of ``operations``."""

    def register(function: F) -> F:
        for operation in operations:
            if operation.name in IMPLEMENTATIONS:
                raise RuntimeError(f"{operation.name} is implemented twice")
            IMPLEMENTATIONS[operation.name] = function
        return function

    return register
