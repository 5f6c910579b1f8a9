"""Analytics events as the API takes them and as they travel on the stream (API.md)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from nexus.timeutil import to_iso, utc_now
from nexus.validation import has_control_characters

EVENT_TYPE_PATTERN = r"^[a-z0-9_.:]{1,64}$"
MAX_EVENTS_PER_REQUEST = 500
# One event on the stream; Kinesis takes up to 1 MiB a record, the API far less.
MAX_EVENT_BYTES = 32 * 1024
# How far a client's timestamp may be from the time the API accepts the event.
MAX_EVENT_AGE = timedelta(days=90)
MAX_CLOCK_SKEW = timedelta(minutes=5)


def _no_control_characters(text: str) -> str:
    if has_control_characters(text):
        raise ValueError("must not contain control characters")
    return text


EventType = Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_no_control_characters)]
_REQUIRED_PROPERTIES = {"page_view": "page", "user_action": "action"}


class AnalyticsEvent(BaseModel):
    """One event: ``page_view`` needs ``properties.page``; ``user_action`` needs ``properties.action``."""

    model_config = ConfigDict(extra="forbid")

    event_type: EventType
    user_id: UserId | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        required = _REQUIRED_PROPERTIES.get(self.event_type)
        if required and not isinstance(self.properties.get(required), str):
            raise ValueError(f"a {self.event_type} event needs a string properties.{required}")
        if self.timestamp is not None:
            if self.timestamp.tzinfo is None:
                raise ValueError("timestamp needs a time zone (e.g. a trailing Z)")
            now = utc_now()
            if not now - MAX_EVENT_AGE <= self.timestamp <= now + MAX_CLOCK_SKEW:
                raise ValueError("timestamp must be within the last 90 days and not in the future")
        if len(self.to_record()) > MAX_EVENT_BYTES:
            raise ValueError(f"event is over {MAX_EVENT_BYTES} bytes")
        return self

    def to_record(self) -> bytes:
        """The stream record: compact JSON with the timestamp normalized to UTC ``Z``."""
        body = {
            "event_type": self.event_type,
            "user_id": self.user_id,
            "properties": self.properties,
            "timestamp": to_iso(self.timestamp or utc_now()),
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class TrackEventsRequest(BaseModel):
    """Body of ``POST /events``: one event, or ``{"events": [...]}`` with 1 to 500."""

    model_config = ConfigDict(extra="forbid")

    events: list[AnalyticsEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)

    @classmethod
    def from_body(cls, body: Any) -> TrackEventsRequest:
        if isinstance(body, dict) and "events" in body:
            return cls.model_validate(body)
        return cls(events=[AnalyticsEvent.model_validate(body)])


class RecordedEvent(BaseModel):
    """An event read back from the stream by the consumer (timestamp always set)."""

    model_config = ConfigDict(extra="forbid")

    event_type: EventType
    user_id: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime

    @property
    def day(self) -> str:
        return self.timestamp.date().isoformat()


class EventStatsQuery(BaseModel):
    """The query string of ``GET /stats/events``."""

    model_config = ConfigDict(extra="ignore")

    event_type: EventType | None = None
    days: int = Field(default=7, ge=1, le=90)
