"""Composite read: exact event counts per UTC day, from the consumer's counters."""

from __future__ import annotations

from datetime import date

from nexus.analytics.counts import EventCountStore
from nexus.analytics.schemas import EventStats
from nexus.services import Service, inject
from nexus.timeutil import utc_now


class EventStatistics(Service):
    def __init__(self, counts: EventCountStore = inject()) -> None:
        super().__init__()
        self._counts = counts

    def event_stats(self, event_type: str | None, days: int, today: date | None = None) -> EventStats:
        by_day = self._counts.counts_by_day(event_type, days, today or utc_now().date())
        return EventStats(event_type=event_type, days=days, total=sum(by_day.values()), by_day=by_day)
