"""What the users domain caches, per cache backend, and how cached users and pages stay correct.

What is cached depends on what a cache read costs (README, "Cache"; docs/decisions.md):

- **DynamoDB backend**: a cache hit is one GetItem, exactly what reading the user item
  costs, and a miss adds a GetItem and a PutItem. So users are not cached, nor are pages on
  one list shard: an unfiltered page is one Query, a filtered one a Query and a BatchGetItem
  of at most a page of users, both bounded by the page. With several list shards a page is
  a Query per shard: pages are cached then. Totals are counters, read with the generation
  anyway: never cached.
- **Redis backend**: a read is sub-millisecond and not a DynamoDB request: everything is
  cached.

Correctness, whatever is cached:

- A cached user carries its version and is written with ``set_if_newer``, so a slow
  fill never overwrites a newer user; a delete leaves a tombstone (the deletion's version)
  that keeps a concurrent fill from resurrecting the user.
- Page keys include the users table's write generation (the sum of the counter shards'
  generations), which every write bumps in its own transaction: after a write completes no
  reader can be served a page cached before it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from nexus.cache import CacheService
from nexus.services import Service, inject
from nexus.settings import CacheSettings, UsersSettings
from nexus.users.schemas import User, UserFilters, UserPage

_TOMBSTONE = {"deleted": True}


def user_cache_key(user_id: str) -> str:
    return f"user:{user_id}"


def user_list_cache_key(generation: int, *parts: str) -> str:
    digest = hashlib.sha256("\x1e".join(parts).encode()).hexdigest()[:32]
    return f"users:list:{generation}:{digest}"


@dataclass(frozen=True)
class CachePolicy:
    """What is worth caching on a backend."""

    users: bool
    unfiltered_pages: bool
    filtered_pages: bool

    @classmethod
    def everything(cls) -> CachePolicy:
        return cls(users=True, unfiltered_pages=True, filtered_pages=True)

    @classmethod
    def for_backend(cls, backend: str, list_shards: int) -> CachePolicy:
        if backend == "dynamodb":
            # A hit costs one GetItem: cache only what costs more than one read.
            return cls(users=False, unfiltered_pages=list_shards > 1, filtered_pages=list_shards > 1)
        return cls.everything()

    def pages(self, filters: UserFilters) -> bool:
        return self.unfiltered_pages if filters.is_empty else self.filtered_pages


class UserCache(Service):
    """Users and list pages in the cache, as the backend's policy says.

    Every operation that the policy rules out is a no-op (a get returns None) and makes no
    call at all.
    """

    def __init__(
        self,
        cache: CacheService = inject(),
        cache_settings: CacheSettings = inject(),
        users_settings: UsersSettings = inject(),
        *,
        policy: CachePolicy | None = None,
    ) -> None:
        super().__init__()
        self._cache = cache
        self.policy = policy or CachePolicy.for_backend(cache.backend_name, users_settings.user_list_shards)
        self.user_ttl = cache_settings.user_cache_ttl_seconds
        self.list_ttl = cache_settings.list_cache_ttl_seconds

    # Users -----------------------------------------------------------------------------

    def get_user(self, user_id: str) -> User | None:
        """The cached user, or None on a miss (a deleted user's tombstone is a miss too)."""
        if not self.policy.users:
            return None
        cached = self._cache.get(user_cache_key(user_id))
        if not isinstance(cached, dict) or cached == _TOMBSTONE:
            return None
        return User.model_validate(cached)

    def put_user(self, user: User) -> None:
        """Cache ``user`` unless a newer version (or its tombstone) is cached."""
        if self.policy.users:
            self._cache.set_if_newer(user_cache_key(user.id), user.model_dump(), user.version, self.user_ttl)

    def user_deleted(self, user_id: str, deleted_version: int) -> None:
        """Replace the cached user by a tombstone of the deletion's version."""
        if self.policy.users:
            self._cache.set_if_newer(user_cache_key(user_id), _TOMBSTONE, deleted_version, self.user_ttl)

    # Lists -----------------------------------------------------------------------------

    @staticmethod
    def _page_key(generation: int, filters: UserFilters, limit: int, after_id: str | None) -> str:
        return user_list_cache_key(generation, filters.fingerprint(), str(limit), after_id or "")

    def get_page(self, generation: int, filters: UserFilters, limit: int, after_id: str | None) -> UserPage | None:
        if not self.policy.pages(filters):
            return None
        cached = self._cache.get(self._page_key(generation, filters, limit, after_id))
        return UserPage.model_validate(cached) if isinstance(cached, dict) else None

    def put_page(self, generation: int, filters: UserFilters, limit: int, after_id: str | None, page: UserPage) -> None:
        if self.policy.pages(filters):
            self._cache.set(self._page_key(generation, filters, limit, after_id), page.model_dump(), self.list_ttl)
