"""Composite user reads: get (cache-aside) and get by username.

Pages live in ``user_listing`` (the one composite that signs cursors), changes in
``user_commands`` (with analytics) and sign-up in ``registration`` (with idempotency and
email), so the read functions never import them.
"""

from __future__ import annotations

from nexus.services import Service, inject
from nexus.users import User, UserService
from nexus.users.caching import UserCache
from nexus.users.values import UserId, Username, user_not_found, username_not_found


class UserQueries(Service):
    def __init__(
        self,
        users: UserService = inject(),
        cache: UserCache | None = inject(),
    ) -> None:
        super().__init__()
        self._users = users
        self._cache = cache

    def get_user(self, user_id: UserId) -> User:
        """Cache-aside when the deployment caches users (Redis); otherwise one table read."""
        cached = self._cache.get_user(user_id) if self._cache else None
        if cached is not None:
            return cached
        user = self._users.get_user_by_id(user_id)
        if user is None:
            raise user_not_found(user_id)
        if self._cache:
            self._cache.put_user(user)
        return user

    def get_user_by_username(self, username: Username) -> User:
        user = self._users.get_user_by_username(username)
        if user is None:
            raise username_not_found(username)
        return user
