"""Composite analytics operation: accept events (they reach Kinesis at the end of the invocation).

The stats reads live in ``user_stats`` and ``event_stats``: each function imports and
builds only the store it reads.
"""

from __future__ import annotations

from nexus.analytics import AnalyticsService, TrackEventsRequest
from nexus.services import Service, inject


class AnalyticsOperations(Service):
    def __init__(self, analytics: AnalyticsService = inject()) -> None:
        super().__init__()
        self._analytics = analytics

    def track_events(self, request: TrackEventsRequest) -> int:
        """Buffer the events (flushed at the end of the invocation); return how many were accepted."""
        for event in request.events:
            self._analytics.record(event)
        return len(request.events)
