"""AnalyticsService on Kinesis: buffered tracking, an exactly-once counting consumer, stats."""

from nexus.analytics.schemas import AnalyticsEvent, TrackEventsRequest
from nexus.analytics.service import AnalyticsService

__all__ = ["AnalyticsEvent", "AnalyticsService", "TrackEventsRequest"]
