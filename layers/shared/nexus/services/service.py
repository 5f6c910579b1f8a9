"""The base class of every service: an idempotent initialize/cleanup lifecycle, enforced.

Every public method a subclass defines is guarded: calling it before ``initialize()`` (or
after ``cleanup()``) raises ``ServiceNotInitializedError`` naming the service. The registry
initializes what it builds, so services never check by hand.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

# The lifecycle itself is callable at any time.
_UNGUARDED = frozenset({"initialize", "cleanup", "begin_invocation", "end_invocation", "is_initialized"})


class ServiceNotInitializedError(RuntimeError):
    """A service was used before ``initialize()`` (or after ``cleanup()``)."""

    def __init__(self, service_name: str) -> None:
        super().__init__(f"{service_name} is not initialized: call initialize() before using it")
        self.service_name = service_name


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def guarded(self: Service, /, *args: Any, **kwargs: Any) -> Any:
        if not self._initialized:
            raise ServiceNotInitializedError(type(self).__name__)
        return method(self, *args, **kwargs)

    return guarded


class Service:
    """Base of every service in the layer.

    ``initialize()`` and ``cleanup()`` may be called any number of times; only the
    first call of each (after the other) does work. Public methods and properties of a
    subclass refuse to run on an uninitialized instance, so misuse fails loudly and by name.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, member in list(vars(cls).items()):
            if name.startswith("_") or name in _UNGUARDED:
                continue
            if isinstance(member, property) and member.fget is not None:
                setattr(cls, name, property(_guarded(member.fget), member.fset, member.fdel, member.__doc__))
            elif callable(member) and not isinstance(member, type | staticmethod | classmethod):
                setattr(cls, name, _guarded(member))

    def __init__(self) -> None:
        self._initialized = False

    @property
    def is_initialized(self) -> bool:
        return self._initialized

    def initialize(self) -> None:
        if self._initialized:
            return
        self._setup()
        self._initialized = True

    def cleanup(self) -> None:
        if not self._initialized:
            return
        self._teardown()
        self._initialized = False

    def begin_invocation(self, context: object) -> None:
        """Runs at the start of every Lambda invocation with its context."""

    def end_invocation(self) -> None:
        """Runs at the end of every Lambda invocation (e.g. to flush a buffer)."""

    def _setup(self) -> None:
        """Override for service-specific initialization."""

    def _teardown(self) -> None:
        """Override for service-specific cleanup."""
