"""Composite analytics operations: accept events, read stats."""

from __future__ import annotations

from datetime import date

from nexus.analytics import AnalyticsService, TrackEventsRequest
from nexus.analytics.counts import EventCountStore
from nexus.services import Service, inject
from nexus.timeutil import to_iso, utc_now
from nexus.users import UserService


class AnalyticsOperations(Service):
    def __init__(self, analytics: AnalyticsService = inject()) -> None:
        super().__init__()
        self._analytics = analytics

    def track_events(self, request: TrackEventsRequest) -> int:
        """Buffer the events (flushed at the end of the invocation); return how many were accepted."""
        self.validate_initialization()
        for event in request.events:
            self._analytics.record(event)
        return len(request.events)


class StatsOperations(Service):
    def __init__(self, users: UserService = inject(), counts: EventCountStore = inject()) -> None:
        super().__init__()
        self._users = users
        self._counts = counts

    def user_stats(self) -> dict[str, object]:
        """From the users table's exact counters: one strongly consistent read."""
        self.validate_initialization()
        counts = self._users.get_counts()
        return {
            "total_users": counts.total,
            "active_users": counts.active,
            "inactive_users": counts.total - counts.active,
            "activity_rate": counts.active / counts.total if counts.total else 0,
            "generated_at": to_iso(utc_now()),
        }

    def event_stats(self, event_type: str | None, days: int, today: date | None = None) -> dict[str, object]:
        self.validate_initialization()
        by_day = self._counts.counts_by_day(event_type, days, today or utc_now().date())
        return {"event_type": event_type, "days": days, "total": sum(by_day.values()), "by_day": by_day}
