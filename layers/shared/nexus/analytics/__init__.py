"""AnalyticsService on Kinesis: buffered tracking, and the counts' store (``counts``).

The counting consumer is ``nexus.operations.count_events``."""

from nexus.analytics.schemas import AnalyticsEvent, TrackEventsRequest
from nexus.analytics.service import AnalyticsService

__all__ = ["AnalyticsEvent", "AnalyticsService", "TrackEventsRequest"]
