"""The users domain's cache entries: users (versioned, with tombstones) and list pages (per write
generation). Which of them a deployment keeps is decided where the services are wired
(``nexus.container``): docs/decisions.md, "What is cached depends on the cache backend"."""

from __future__ import annotations

import hashlib

from nexus.cache import CacheService
from nexus.users.schemas import User, UserFilters, UserPage

_TOMBSTONE = {"deleted": True}


def user_cache_key(user_id: str) -> str:
    return f"user:{user_id}"


def user_list_cache_key(generation: int, *parts: str) -> str:
    digest = hashlib.sha256("\x1e".join(parts).encode()).hexdigest()[:32]
    return f"users:list:{generation}:{digest}"


class UserCache:
    """Cached users: written with ``set_if_newer`` by version, so a slow fill never overwrites a
    newer user, and a deletion's tombstone keeps a late fill from bringing the user back."""

    def __init__(self, cache: CacheService, ttl_seconds: int) -> None:
        self._cache = cache
        self.ttl_seconds = ttl_seconds

    def get_user(self, user_id: str) -> User | None:
        """The cached user, or None on a miss (a deleted user's tombstone is a miss too)."""
        cached = self._cache.get(user_cache_key(user_id))
        if not isinstance(cached, dict) or cached == _TOMBSTONE:
            return None
        return User.model_validate(cached)

    def put_user(self, user: User) -> None:
        """Cache ``user`` unless a newer version (or its tombstone) is cached."""
        self._cache.set_if_newer(user_cache_key(user.id), user.model_dump(), user.version, self.ttl_seconds)

    def user_deleted(self, user_id: str, deleted_version: int) -> None:
        """Replace the cached user by a tombstone of the deletion's version."""
        self._cache.set_if_newer(user_cache_key(user_id), _TOMBSTONE, deleted_version, self.ttl_seconds)


class PageCache:
    """Cached list pages, keyed by the users table's write generation (every write bumps it in its
    own transaction): after a write completes, no reader is served a page cached before it."""

    def __init__(self, cache: CacheService, ttl_seconds: int) -> None:
        self._cache = cache
        self.ttl_seconds = ttl_seconds

    @staticmethod
    def _key(generation: int, filters: UserFilters, limit: int, after_id: str | None) -> str:
        return user_list_cache_key(generation, filters.fingerprint(), str(limit), after_id or "")

    def get(self, generation: int, filters: UserFilters, limit: int, after_id: str | None) -> UserPage | None:
        cached = self._cache.get(self._key(generation, filters, limit, after_id))
        return UserPage.model_validate(cached) if isinstance(cached, dict) else None

    def put(self, generation: int, filters: UserFilters, limit: int, after_id: str | None, page: UserPage) -> None:
        self._cache.set(self._key(generation, filters, limit, after_id), page.model_dump(), self.ttl_seconds)
