"""CacheService: the seed's cache operations on a pluggable backend, plus user and list caching.

A cache must never fail a request: a backend error is logged, counted as the
``CacheErrors`` metric and reads as a miss.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from nexus.cache.backend import CacheBackend, CacheBackendError, NotAnIntegerError
from nexus.observability import logger, metrics
from nexus.services import Service, inject
from nexus.settings import CacheSettings
from nexus.users.schemas import User, UserPage

_TOMBSTONE = {"deleted": True}


def user_cache_key(user_id: str) -> str:
    return f"user:{user_id}"


def user_list_cache_key(generation: int, *parts: str) -> str:
    digest = hashlib.sha256("\x1e".join(parts).encode()).hexdigest()[:32]
    return f"users:list:{generation}:{digest}"


class CacheService(Service):
    def __init__(self, backend: CacheBackend = inject(), settings: CacheSettings = inject()) -> None:
        super().__init__()
        self._backend = backend
        self.default_ttl = settings.cache_default_ttl_seconds
        self.user_ttl = settings.user_cache_ttl_seconds
        self.list_ttl = settings.list_cache_ttl_seconds

    def _failed(self, operation: str, key: str, exc: Exception) -> None:
        logger.warning("cache operation failed", operation=operation, key=key, error=str(exc))
        metrics.add_metric(name="CacheErrors", unit=MetricUnit.Count, value=1)

    # The seed's operations ---------------------------------------------------------

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

    # Users -----------------------------------------------------------------------------
    # Entries carry the user's version and are written with set_if_newer, so a slow
    # cache fill can never overwrite a newer user, and a delete leaves a tombstone that
    # keeps a concurrent fill from resurrecting the user.

    def set_user_cache(self, user: User, ttl: int | None = None) -> None:
        key = user_cache_key(user.id)
        try:
            self._backend.set_if_newer(key, user.model_dump(), user.version, ttl or self.user_ttl)
        except CacheBackendError as exc:
            self._failed("set_user_cache", key, exc)

    def get_user_cache(self, user_id: str) -> User | None:
        """The cached user, or None on a miss (a deleted user's tombstone is a miss too)."""
        cached = self.get(user_cache_key(user_id))
        if not isinstance(cached, dict) or cached == _TOMBSTONE:
            return None
        return User.model_validate(cached)

    def invalidate_user_cache(self, user_id: str, deleted_version: int) -> None:
        key = user_cache_key(user_id)
        try:
            self._backend.set_if_newer(key, _TOMBSTONE, deleted_version, self.user_ttl)
        except CacheBackendError as exc:
            self._failed("invalidate_user_cache", key, exc)

    # Lists -----------------------------------------------------------------------------
    # Keys include the users table's write generation, which every write bumps in its
    # own transaction: after a write completes no reader can see a list cached before it.

    def cache_user_list(self, generation: int, key_parts: tuple[str, ...], page: UserPage) -> None:
        self.set(user_list_cache_key(generation, *key_parts), page.model_dump(), self.list_ttl)

    def get_cached_user_list(self, generation: int, key_parts: tuple[str, ...]) -> UserPage | None:
        cached = self.get(user_list_cache_key(generation, *key_parts))
        return UserPage.model_validate(cached) if isinstance(cached, dict) else None

    def cache_user_total(self, generation: int, filters_fingerprint: str, total: int) -> None:
        self.set(user_list_cache_key(generation, "total", filters_fingerprint), total, self.list_ttl)

    def get_cached_user_total(self, generation: int, filters_fingerprint: str) -> int | None:
        cached = self.get(user_list_cache_key(generation, "total", filters_fingerprint))
        return cached if type(cached) is int else None
