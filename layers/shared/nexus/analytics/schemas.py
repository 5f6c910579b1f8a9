"""Analytics events as the API takes them and as they travel on the stream (API.md)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

from nexus.text_rules import NO_CONTROL_CHARACTERS_PATTERN, has_control_characters
from nexus.timeutil import to_iso, utc_now

EVENT_TYPE_PATTERN = r"^[a-z0-9_.:]{1,64}$"
EVENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_EVENTS_PER_REQUEST = 500
# Every model here builds its validator when first used (defer_build): a cold start builds
# those of its own function only.

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
EventId = Annotated[
    str,
    StringConstraints(pattern=EVENT_ID_PATTERN),
    Field(
        description="The client's id of the event: sent again by the same caller within 24 hours, "
        "it is accepted and not counted again"
    ),
]
UserId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_no_control_characters),
    Field(json_schema_extra={"pattern": NO_CONTROL_CHARACTERS_PATTERN}),
]
_REQUIRED_PROPERTIES = {"page_view": "page", "user_action": "action"}


class AnalyticsEvent(BaseModel):
    """One event: ``page_view`` needs ``properties.page``; ``user_action`` needs ``properties.action``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    event_type: EventType
    event_id: EventId | None = None
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

    def to_record(self, caller: str = "") -> bytes:
        """The stream record: compact JSON with the timestamp normalized to UTC ``Z``, and with an
        ``event_id``, the caller it belongs to (ids are each caller's own)."""
        body: dict[str, Any] = {
            "event_type": self.event_type,
            "user_id": self.user_id,
            "properties": self.properties,
            "timestamp": to_iso(self.timestamp or utc_now()),
        }
        if self.event_id is not None:
            body["event_id"] = self.event_id
            body["caller"] = caller
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class TrackEventsRequest(BaseModel):
    """A batch body of ``POST /events``: ``{"events": [...]}`` with 1 to 500 events."""

    model_config = ConfigDict(extra="forbid", title="EventBatch", defer_build=True)

    events: list[AnalyticsEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)

    @classmethod
    def of(cls, body: AnalyticsEvent | TrackEventsRequest) -> TrackEventsRequest:
        """The batch a body stands for: itself, or a batch of its one event."""
        return body if isinstance(body, TrackEventsRequest) else cls(events=[body])


def _body_kind(body: Any) -> str:
    return "(batch)" if isinstance(body, dict | TrackEventsRequest) and _has_events(body) else "(event)"


def _has_events(body: dict[str, Any] | TrackEventsRequest) -> bool:
    return isinstance(body, TrackEventsRequest) or "events" in body


# The body of ``POST /events``: one event, or a batch when it has an ``events`` key. The tags in
# parentheses are left out of the field names of validation errors (``nexus.api.errors``).
TrackEventsBody = Annotated[
    Annotated[TrackEventsRequest, Tag("(batch)")] | Annotated[AnalyticsEvent, Tag("(event)")],
    Discriminator(_body_kind),
]


class RecordedEvent(BaseModel):
    """An event read back from the stream by the consumer (timestamp always set)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    event_type: EventType
    event_id: str | None = None
    caller: str | None = None
    user_id: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime

    @property
    def day(self) -> str:
        return self.timestamp.date().isoformat()

    @property
    def dedupe_key(self) -> str | None:
        """Whose id this is: the same key within 24 hours is the same event."""
        return None if self.event_id is None else f"{self.caller or ''}\x1f{self.event_id}"


# The query parameters of ``GET /stats/events``, as the handler declares them.
EventTypeFilter = Annotated[EventType, Field(description="Only this event type; absent: every type")]
StatsDays = Annotated[int, Field(ge=1, le=90, description="Days of the window, ending today (UTC)")]


class EventStats(BaseModel):
    """The answer of ``GET /stats/events``: ``by_day`` has every UTC day of the window, oldest first."""

    model_config = ConfigDict(defer_build=True)

    event_type: str | None
    days: int
    total: int
    by_day: dict[str, int]


class Accepted(BaseModel):
    """The answer of ``POST /events``: how many events were accepted for counting."""

    model_config = ConfigDict(defer_build=True)

    accepted: int
