"""CacheService: the seed's cache operations (JSON values with a TTL) on a pluggable backend.

Generic: it knows nothing of what is cached. What the users domain caches, and how it
stays correct, is ``nexus.users.caching``.

A cache must never fail a request: a backend error is logged, counted as the
``CacheErrors`` metric and reads as a miss.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from nexus.cache.backend import CacheBackend, CacheBackendError, NotAnIntegerError
from nexus.observability import logger, metrics
from nexus.services import Service, inject
from nexus.settings import CacheSettings


class CacheService(Service):
    def __init__(self, backend: CacheBackend = inject(), settings: CacheSettings = inject()) -> None:
        super().__init__()
        self._backend = backend
        self.default_ttl = settings.cache_default_ttl_seconds

    @property
    def backend_name(self) -> str:
        """The backend's ``name`` (``"dynamodb"`` or ``"redis"``)."""
        return self._backend.name

    def _failed(self, operation: str, key: str, exc: Exception) -> None:
        logger.warning("cache operation failed", operation=operation, key=key, error=str(exc))
        metrics.add_metric(name="CacheErrors", unit=MetricUnit.Count, value=1)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self._backend.get(key)
        except CacheBackendError as exc:
            self._failed("get", key, exc)
            return default
        return default if value is None else value

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        try:
            self._backend.set(key, value, ttl or self.default_ttl)
        except CacheBackendError as exc:
            self._failed("set", key, exc)

    def set_if_newer(self, key: str, value: Any, version: int, ttl: int | None = None) -> bool:
        """Store unless a live value of an equal or higher ``version`` is there; True if stored.

        A backend error is a value not stored (False).
        """
        try:
            return self._backend.set_if_newer(key, value, version, ttl or self.default_ttl)
        except CacheBackendError as exc:
            self._failed("set_if_newer", key, exc)
            return False

    def delete(self, key: str) -> bool:
        try:
            return self._backend.delete(key)
        except CacheBackendError as exc:
            self._failed("delete", key, exc)
            return False

    def exists(self, key: str) -> bool:
        try:
            return self._backend.exists(key)
        except CacheBackendError as exc:
            self._failed("exists", key, exc)
            return False

    def increment(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        """Atomically add ``amount``; unlike the other operations this one raises on failure,
        since a made-up count would be wrong rather than merely slow."""
        try:
            return self._backend.increment(key, amount, ttl or self.default_ttl)
        except NotAnIntegerError:
            raise
        except CacheBackendError as exc:
            self._failed("increment", key, exc)
            raise

    def ping(self) -> None:
        self._backend.ping()
