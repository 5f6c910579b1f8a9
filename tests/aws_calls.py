"""AWS calls per composite operation, counted with botocore's event hooks.

Every botocore client created while ``count_aws_calls()`` is active (boto3's and
pynamodb's alike: both go through ``botocore.session.Session.create_client``) gets a
``before-call`` handler, which fires once per API call (retries are not extra calls).
``run_scenarios`` drives the real handlers through ``tests.api_client.ApiClient`` and
returns ``{"scenario": {"service.Operation": count}}``; the test
``tests/integration/test_aws_call_counts.py`` asserts these exactly and ``make bench``
prints them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import botocore.session

from local.resources import LocalResources
from local.template import Template
from tests.api_client import ApiClient
from tests.conftest import lambda_context, load_function
from tests.kinesis import kinesis_event, kinesis_record

CONSUMER_BATCH = 100  # the template's BatchSize for CountEventsFunction


class CallCounter:
    """Counts API calls by ``service.Operation`` while a window is open."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def record(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    @contextmanager
    def window(self) -> Iterator[Counter[str]]:
        """The calls made inside the ``with`` block (earlier ones are discarded)."""
        self.calls = Counter()
        seen: Counter[str] = Counter()
        yield seen
        seen.update(self.calls)


@contextmanager
def count_aws_calls() -> Iterator[CallCounter]:
    """Hook every botocore client created inside the block; restore ``create_client`` after."""
    counter = CallCounter()
    original = botocore.session.Session.create_client

    def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-call.*.*", counter.record)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


def _event_data(number: int) -> bytes:
    moment = datetime.now(UTC).isoformat()
    event = {"event_type": "page_view", "user_id": f"u{number % 7}", "properties": {"page": "/"}, "timestamp": moment}
    return json.dumps(event).encode()


def consumer_batch_event(size: int = CONSUMER_BATCH, first_sequence: int = 1000) -> dict[str, Any]:
    """A Kinesis batch of ``size`` valid events, as Lambda hands it to CountEventsFunction."""
    return kinesis_event([kinesis_record(_event_data(n), first_sequence + n) for n in range(size)])


def _counted(counter: CallCounter, operation: Callable[[], Any]) -> dict[str, int]:
    with counter.window() as seen:
        operation()
    return dict(sorted(seen.items()))


def run_scenarios(counter: CallCounter, aws: LocalResources, template: Template) -> dict[str, dict[str, int]]:
    """Each composite operation once, through the real handlers; its calls by operation.

    Call inside ``count_aws_calls()`` (and moto): the handlers' clients are created by their
    cold start here, so they carry the counting hook.
    """
    api = ApiClient(template)
    body = {"username": "counted", "email": "counted@example.com", "full_name": "Counted User"}
    results: dict[str, dict[str, int]] = {}

    def create(json_body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        response = api.post("/users", json_body, headers=headers)
        assert response.status == 201, response.body
        return str(response.json()["id"])

    api.module("CreateUserFunction")  # cold starts outside the windows (they make no AWS call)
    created: list[str] = []
    results["create_user"] = _counted(counter, lambda: created.append(create(body)))
    user_id = created[0]
    keyed = {"username": "counted2", "email": "counted2@example.com"}
    key = {"Idempotency-Key": "bench-key-0001"}
    results["create_user_idempotent"] = _counted(counter, lambda: create(keyed, key))
    results["create_user_idempotent_replay"] = _counted(counter, lambda: create(keyed, key))

    def get(expected: int = 200) -> None:
        response = api.get(f"/users/{user_id}")
        assert response.status == expected, response.body

    api.module("GetUserFunction")
    results["get_user_hit"] = _counted(counter, get)  # create_user cached the user
    cache_table = aws.physical["CacheTable"]["Ref"]
    aws.client("dynamodb").delete_item(TableName=cache_table, Key={"key": {"S": f"user:{user_id}"}})
    results["get_user_miss"] = _counted(counter, get)

    def update() -> None:
        response = api.patch(f"/users/{user_id}", {"full_name": "Renamed"})
        assert response.status == 200, response.body

    api.module("UpdateUserFunction")
    results["update_user"] = _counted(counter, update)

    def list_page() -> None:
        response = api.get("/users", query={"limit": "20"})
        assert response.status == 200, response.body

    api.module("ListUsersFunction")
    results["list_users_miss"] = _counted(counter, list_page)
    results["list_users_hit"] = _counted(counter, list_page)
    cursors: list[str] = []

    def page_of_one(cursor: str | None = None) -> None:
        response = api.get("/users", query={"limit": "1", **({"cursor": cursor} if cursor else {})})
        assert response.status == 200, response.body
        cursors.append(str(response.json()["next_cursor"]))

    # The first page with a cursor reads the signing secret; later ones find it cached.
    results["list_users_first_cursor"] = _counted(counter, page_of_one)
    results["list_users_next_page"] = _counted(counter, lambda: page_of_one(cursors[0]))

    def delete() -> None:
        response = api.delete(f"/users/{user_id}")
        assert response.status == 204, response.body

    api.module("DeleteUserFunction")
    results["delete_user"] = _counted(counter, delete)

    events = {
        "events": [{"event_type": "page_view", "user_id": f"u{n % 7}", "properties": {"page": "/"}} for n in range(500)]
    }

    def track_1000() -> None:
        for _ in range(2):
            response = api.post("/events", events)
            assert response.status == 202, response.body

    api.module("TrackEventsFunction")
    results["track_1000_events"] = _counted(counter, track_1000)

    consumer = load_function("count_events")

    def consume() -> None:
        response = consumer.handler(consumer_batch_event(), lambda_context("CountEventsFunction"))
        assert response == {"batchItemFailures": []}, response

    results["consumer_batch_100"] = _counted(counter, consume)
    return results
