"""The base class of every service: an idempotent initialize/cleanup lifecycle."""

from __future__ import annotations


class ServiceNotInitializedError(RuntimeError):
    """A service was used before ``initialize()`` (or after ``cleanup()``)."""

    def __init__(self, service_name: str) -> None:
        super().__init__(f"{service_name} is not initialized: call initialize() before using it")
        self.service_name = service_name


class Service:
    """Base of every service in the layer.

    ``initialize()`` and ``cleanup()`` may be called any number of times; only the
    first call of each (after the other) does work. Public operations call
    ``validate_initialization()`` first so that misuse fails loudly and by name.
    """

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

    def validate_initialization(self) -> None:
        if not self._initialized:
            raise ServiceNotInitializedError(type(self).__name__)

    def _setup(self) -> None:
        """Override for service-specific initialization."""

    def _teardown(self) -> None:
        """Override for service-specific cleanup."""
