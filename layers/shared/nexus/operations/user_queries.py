"""Composite user reads: get (cache-aside), get by username, list pages with exact totals.

Changes live in ``user_commands`` (with analytics) and sign-up in ``registration`` (with
idempotency and email), so the read functions never import them.
"""

from __future__ import annotations

from nexus.cache import CacheService
from nexus.errors import NotFoundError
from nexus.services import Service, inject
from nexus.settings import Settings
from nexus.users import User, UserFilters, UserPage, UserService
from nexus.users.cursor import CursorCodec
from nexus.users.schemas import ULID_PATTERN, USERNAME_RE


def user_not_found(user_id: str) -> NotFoundError:
    return NotFoundError(f"No user with id {user_id!r}")


class UserQueries(Service):
    def __init__(
        self,
        users: UserService = inject(),
        cache: CacheService = inject(),
        settings: Settings = inject(),
    ) -> None:
        super().__init__()
        self._users = users
        self._cache = cache
        self._cursors = CursorCodec(settings.cursor_signing_key.get_secret_value().encode())

    def get_user(self, user_id: str) -> User:
        """Cache-aside: one cache read on a hit; cache read, table read and cache fill on a miss."""
        self.validate_initialization()
        if not ULID_PATTERN.match(user_id):
            raise user_not_found(user_id)
        cached = self._cache.get_user_cache(user_id)
        if cached is not None:
            return cached
        user = self._users.get_user_by_id(user_id)
        if user is None:
            raise user_not_found(user_id)
        self._cache.set_user_cache(user)
        return user

    def get_user_by_username(self, username: str) -> User:
        self.validate_initialization()
        user = self._users.get_user_by_username(username) if USERNAME_RE.match(username) else None
        if user is None:
            raise NotFoundError(f"No user named {username!r}")
        return user

    def list_users(self, filters: UserFilters, limit: int, cursor: str | None = None) -> UserPage:
        """One page newest first, served from a cache keyed by the table's write generation."""
        self.validate_initialization()
        after_id = self._cursors.decode(cursor, filters) if cursor else None
        counts = self._users.get_counts()
        page_key = (filters.fingerprint(), str(limit), after_id or "")
        cached = self._cache.get_cached_user_list(counts.generation, page_key)
        if cached is not None:
            return cached
        items, has_more = self._users.list_users(filters, limit, after_id)
        page = UserPage(
            items=items,
            next_cursor=self._cursors.encode(items[-1].id, filters) if has_more else None,
            total=self._total(filters, counts.total, counts.generation),
        )
        self._cache.cache_user_list(counts.generation, page_key, page)
        return page

    def _total(self, filters: UserFilters, all_users: int, generation: int) -> int:
        if filters.is_empty:
            return all_users
        fingerprint = filters.fingerprint()
        total = self._cache.get_cached_user_total(generation, fingerprint)
        if total is None:
            total = self._users.count_users(filters)
            self._cache.cache_user_total(generation, fingerprint, total)
        return total
