"""Composite user changes: update (cached user refreshed) and delete (tombstoned), both tracked."""

from __future__ import annotations

from nexus.analytics import AnalyticsService
from nexus.services import Service, inject
from nexus.users import User, UserChanges, UserService
from nexus.users.caching import UserCache
from nexus.users.values import UserId, user_not_found


class UserCommands(Service):
    def __init__(
        self,
        users: UserService = inject(),
        cache: UserCache | None = inject(),
        analytics: AnalyticsService = inject(),
    ) -> None:
        super().__init__()
        self._users = users
        self._cache = cache
        self._analytics = analytics

    def update_user(self, user_id: UserId, changes: UserChanges) -> User:
        """Update, refresh the cache with the new version, record ``user_updated``."""
        user = self._users.update_user(user_id, changes)
        if user is None:
            raise user_not_found(user_id)
        if self._cache:
            self._cache.put_user(user)
        self._analytics.track_event("user_updated", user.id, {"fields": sorted(changes.model_fields_set)})
        return user

    def delete_user(self, user_id: UserId) -> User:
        """Delete, replace the cached user by a tombstone, record ``user_deleted``."""
        deleted = self._users.delete_user(user_id)
        if deleted is None:
            raise user_not_found(user_id)
        if self._cache:
            self._cache.user_deleted(user_id, deleted.version)
        self._analytics.track_event("user_deleted", user_id)
        return deleted
