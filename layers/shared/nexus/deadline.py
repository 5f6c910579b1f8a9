"""The current invocation's time: what a retry loop may still spend.

``entrypoints.wrap`` sets the Lambda context for each invocation; code that waits (a
conflict's backoff) asks ``seconds_left()`` and stops early enough to answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_context: ContextVar[Any] = ContextVar("nexus_invocation_context", default=None)


@contextmanager
def invocation(context: Any) -> Iterator[None]:
    token = _context.set(context if hasattr(context, "get_remaining_time_in_millis") else None)
    try:
        yield
    finally:
        _context.reset(token)


def seconds_left() -> float | None:
    """The invocation's remaining time, or None outside an invocation (tests, scripts)."""
    context = _context.get()
    return None if context is None else context.get_remaining_time_in_millis() / 1000
