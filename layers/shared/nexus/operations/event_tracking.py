"""Composite analytics operation: accept events once Kinesis has them.

The stats reads live in ``user_stats`` and ``event_stats``: each function imports and
builds only the store it reads.
"""

from __future__ import annotations

from nexus.analytics import AnalyticsService, TrackEventsRequest
from nexus.errors import EventsNotAcceptedError
from nexus.services import Service, inject


class EventTracking(Service):
    def __init__(self, analytics: AnalyticsService = inject()) -> None:
        super().__init__()
        self._analytics = analytics

    def track_events(self, request: TrackEventsRequest, caller: str) -> int:
        """Put the request's events on the stream; return how many were accepted (all of them).

        An ``event_id`` sent twice in one request is sent once (and accepted twice); one sent
        again in a later request is dropped by the consumer. Raises ``EventsNotAcceptedError``
        when the stream did not take every event after its retries.
        """
        seen: set[str] = set()
        unique = []
        for event in request.events:
            if event.event_id is None or event.event_id not in seen:
                unique.append(event)
            if event.event_id is not None:
                seen.add(event.event_id)
        not_accepted = self._analytics.put(unique, caller)
        if not_accepted:
            raise EventsNotAcceptedError(not_accepted, len(unique))
        return len(request.events)
