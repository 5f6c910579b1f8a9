"""Composite read: user totals from the users table's exact counters."""

from __future__ import annotations

from nexus.services import Service, inject
from nexus.timeutil import to_iso, utc_now
from nexus.users import UserService
from nexus.users.schemas import UserStats


class UserStatistics(Service):
    def __init__(self, users: UserService = inject()) -> None:
        super().__init__()
        self._users = users

    def user_stats(self) -> UserStats:
        """One strongly consistent read of the counters item."""
        counts = self._users.get_counts()
        return UserStats(
            total_users=counts.total,
            active_users=counts.active,
            inactive_users=counts.total - counts.active,
            activity_rate=counts.active / counts.total if counts.total else 0,
            generated_at=to_iso(utc_now()),
        )
