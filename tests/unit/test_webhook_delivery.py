"""WebhookPublishing's delivery rules, with a fake HTTP, a fake clock and a fake Lambda context.

The rules (nexus/operations/publish_webhooks.py): every subscriber in stream order and stopping at
its first failure; one deadline (remaining time minus the safety margin) for everything;
the response is a checkpoint: every record from the first one not accepted by all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from nexus.http import DeadlineExceededError, HTTPResult, OutboundRequestError
from nexus.observability import metrics
from nexus.operations.publish_webhooks import WebhookPublishing
from nexus.settings import WebhookSettings

FAST = "https://fast.example/hooks"
SLOW = "https://slow.example/hooks"


class Clock:
    """A monotonic clock that moves only when told (thread-safe)."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class Context:
    """A Lambda context whose remaining time runs down with ``clock``."""

    def __init__(self, clock: Callable[[], float], remaining_ms: int) -> None:
        self._end = clock() + remaining_ms / 1000
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._end - self._clock()) * 1000), 0)


Behaviour = Callable[[str, float], HTTPResult]


class FakeHttp:
    """Records every POST per URL; ``behaviours[url](event_id, deadline)`` answers it."""

    def __init__(self, behaviours: dict[str, Behaviour]) -> None:
        self.behaviours = behaviours
        self.received: dict[str, list[str]] = {url: [] for url in behaviours}
        self.deadlines: list[float] = []

    def post(self, url: str, *, data: bytes, headers: dict[str, str], deadline: float | None = None) -> HTTPResult:
        assert deadline is not None
        self.deadlines.append(deadline)
        event_id = headers["Nexus-Event-Id"]
        result = self.behaviours[url](event_id, deadline)
        self.received[url].append(event_id)
        return result


def ok(event_id: str, deadline: float) -> HTTPResult:
    return HTTPResult(200, {}, {})


def user_record(number: int, *, kind: str = "user") -> dict[str, Any]:
    user_id = f"01JD00000000000000000000{number:02d}"
    image = {
        "pk": {"S": f"USER#{user_id}"},
        "kind": {"S": kind},
        "user_id": {"S": user_id},
        "username": {"S": f"user{number}"},
        "is_active": {"BOOL": True},
        "created_at": {"S": "2026-11-26T10:00:00.000Z"},
    }
    return {
        "eventID": f"e{number}",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795687200,
            "Keys": {"pk": image["pk"]},
            "NewImage": image,
            "SequenceNumber": str(100 + number),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def batch(count: int) -> dict[str, Any]:
    return {"Records": [user_record(n) for n in range(1, count + 1)]}


def sequences(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def publisher(http: FakeHttp, clock: Callable[[], float], **options: Any) -> WebhookPublishing:
    settings = WebhookSettings.model_construct(webhook_urls=tuple(http.behaviours))
    service = WebhookPublishing(settings, http, secrets=lambda: {"*": (b"secret",)}, monotonic=clock, **options)  # type: ignore[arg-type]
    service.initialize()
    return service


def emitted() -> dict[str, float]:
    found: dict[str, float] = {}
    for name, metric in metrics.metric_set.items():
        found[name] = sum(metric["Value"])
    return found


def test_every_subscriber_gets_every_record_in_stream_order() -> None:
    clock = Clock()
    http = FakeHttp({FAST: ok, SLOW: ok})

    response = publisher(http, clock).handle(batch(3), Context(clock, 30_000))

    assert response == {"batchItemFailures": []}
    assert http.received == {FAST: ["evt_e1", "evt_e2", "evt_e3"], SLOW: ["evt_e1", "evt_e2", "evt_e3"]}
    assert emitted() == {"WebhooksDelivered": 6}


def test_the_deadline_is_the_remaining_time_less_the_margin() -> None:
    clock = Clock(now=500.0)
    http = FakeHttp({FAST: ok})

    publisher(http, clock, safety_margin_seconds=2.0).handle(batch(2), Context(clock, 30_000))

    assert http.deadlines == [528.0, 528.0]


def test_a_failing_subscriber_stops_there_and_the_checkpoint_is_its_record() -> None:
    clock = Clock()

    def refuse_second(event_id: str, deadline: float) -> HTTPResult:
        return HTTPResult(503 if event_id == "evt_e2" else 200, {}, {})

    http = FakeHttp({FAST: ok, SLOW: refuse_second})

    response = publisher(http, clock).handle(batch(4), Context(clock, 30_000))

    # The other subscriber got everything; this one stopped at its failure (no reordering).
    assert http.received == {FAST: ["evt_e1", "evt_e2", "evt_e3", "evt_e4"], SLOW: ["evt_e1", "evt_e2"]}
    # Lambda retries a stream from the first reported record: records 2, 3 and 4.
    assert sequences(response) == ["102", "103", "104"]
    assert emitted() == {"WebhooksDelivered": 5, "WebhookDeliveryFailures": 1, "WebhooksDeferred": 3}


def test_a_refused_or_unreachable_subscriber_is_a_failure() -> None:
    clock = Clock()

    def unreachable(event_id: str, deadline: float) -> HTTPResult:
        raise OutboundRequestError("connection refused", host="slow.example", attempts=3)

    http = FakeHttp({FAST: ok, SLOW: unreachable})

    response = publisher(http, clock).handle(batch(2), Context(clock, 30_000))

    assert sequences(response) == ["101", "102"]
    assert http.received[FAST] == ["evt_e1", "evt_e2"]
    assert emitted()["WebhookDeliveryFailures"] == 1


def test_what_the_deadline_cuts_off_is_reported_not_sent() -> None:
    clock = Clock()

    def four_seconds_each(event_id: str, deadline: float) -> HTTPResult:
        if deadline - clock() < 0.1:  # as HTTPService does
            raise DeadlineExceededError("no time left", host="slow.example")
        clock.advance(4.0)
        return HTTPResult(200, {}, {})

    http = FakeHttp({SLOW: four_seconds_each})

    # 10 s left, 2 s margin: two 4-second deliveries fit, the third would not.
    response = publisher(http, clock, safety_margin_seconds=2.0).handle(batch(5), Context(clock, 10_000))

    assert http.received[SLOW] == ["evt_e1", "evt_e2"]
    assert len(http.deadlines) == 2  # the third not even tried: no time was left
    assert sequences(response) == ["103", "104", "105"]
    assert emitted() == {"WebhooksDelivered": 2, "WebhooksDeferred": 3}  # running out of time is no failure


def test_with_no_time_left_nothing_is_sent_and_everything_is_reported() -> None:
    clock = Clock()

    http = FakeHttp({FAST: ok})

    response = publisher(http, clock, safety_margin_seconds=2.0).handle(batch(2), Context(clock, 1_500))

    assert http.deadlines == []  # not even tried
    assert sequences(response) == ["101", "102"]
    assert emitted() == {"WebhooksDeferred": 2}


def test_an_unreadable_record_is_the_checkpoint() -> None:
    clock = Clock()
    http = FakeHttp({FAST: ok})
    event = batch(3)
    del event["Records"][1]["dynamodb"]["NewImage"]["username"]

    response = publisher(http, clock).handle(event, Context(clock, 30_000))

    assert http.received[FAST] == ["evt_e1"]
    assert sequences(response) == ["102", "103"]


def test_records_of_other_items_are_skipped_and_never_block() -> None:
    clock = Clock()
    http = FakeHttp({FAST: ok})
    event = {"Records": [user_record(1, kind="sentinel"), user_record(2), user_record(3, kind="counter")]}

    response = publisher(http, clock).handle(event, Context(clock, 30_000))

    assert response == {"batchItemFailures": []}
    assert http.received[FAST] == ["evt_e2"]


def test_no_subscribers_means_nothing_to_do() -> None:
    clock = Clock()
    settings = WebhookSettings.model_construct(webhook_urls=())
    service = WebhookPublishing(settings, FakeHttp({}), secrets=lambda: {"*": (b"secret",)}, monotonic=clock)  # type: ignore[arg-type]
    service.initialize()

    assert service.handle(batch(2), Context(clock, 30_000)) == {"batchItemFailures": []}


def test_a_subscriber_that_hangs_past_the_deadline_does_not_hold_the_batch() -> None:
    """Real time: a request that ignores its deadline (a server trickling its answer)."""
    release = threading.Event()

    def hang(event_id: str, deadline: float) -> HTTPResult:
        release.wait(10)
        return HTTPResult(200, {}, {})

    http = FakeHttp({FAST: ok, SLOW: hang})
    started = time.monotonic()
    try:
        # 2.3 s left, 2 s margin: the deadline is 0.3 s away; 0.5 s of grace after it.
        response = publisher(http, time.monotonic, safety_margin_seconds=2.0).handle(
            batch(3), Context(time.monotonic, 2_300)
        )
        elapsed = time.monotonic() - started
    finally:
        release.set()

    assert elapsed < 1.5
    assert http.received[FAST] == ["evt_e1", "evt_e2", "evt_e3"]
    assert sequences(response) == ["101", "102", "103"]


def test_subscribers_are_served_concurrently_by_a_bounded_pool() -> None:
    """Real time: 12 subscribers taking 0.3 s each; one after another would take 3.6 s."""
    urls = [f"https://hook{n}.example/" for n in range(12)]

    def slow(event_id: str, deadline: float) -> HTTPResult:
        time.sleep(0.3)
        return HTTPResult(200, {}, {})

    http = FakeHttp(dict.fromkeys(urls, slow))
    started = time.monotonic()

    response = publisher(http, time.monotonic, max_workers=10).handle(batch(1), Context(time.monotonic, 30_000))

    elapsed = time.monotonic() - started
    assert response == {"batchItemFailures": []}
    assert all(received == ["evt_e1"] for received in http.received.values())
    assert 0.6 <= elapsed < 1.5  # two rounds of at most 10 at once
