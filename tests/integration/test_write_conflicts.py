"""Every write answers DynamoDB's transaction conflicts (issue 23): retried, never a 5xx.

moto never conflicts; ``local.strict_dynamodb`` makes it: ``cancel_next`` cancels chosen
transactions (and refuses plain writes to chosen items) deterministically, ``rate`` cancels a
share of all transactions at random. After each run the table's own rules are checked
(``local.invariants``): counters, tag counts, index entries and sentinels agree with the users.
"""

from __future__ import annotations

import random
from typing import Any

import boto3
import pytest

from devkit.api_client import ApiClient
from devkit.aws_calls import consumer_batch_event
from devkit.handlers import lambda_context, load_function
from devkit.users_api import Items, counts, tag_counts
from local import strict_dynamodb
from local.invariants import broken_rules
from local.provisioning import LocalResources
from local.template import Template
from nexus import conflicts as nexus_conflicts
from tests.integration.test_welcome_email import SENDER, _queued_retries, _sqs_event

conflicts = strict_dynamodb.conflicts


@pytest.fixture
def api(aws: LocalResources, template: Template) -> ApiClient:
    return ApiClient(template)


def assert_rules_hold(table_items: Items) -> None:
    assert broken_rules(table_items("UsersTable"), list_shards=1) == []


def users_table_write(key: strict_dynamodb.ItemKey) -> bool:
    return "UsersTable" in key[0]


def test_a_sign_up_cancelled_twice_by_conflicts_is_created_once(api: ApiClient, table_items: Items) -> None:
    conflicts.cancel_next(2, where=users_table_write)

    response = api.post("/users", {"username": "alice", "email": "alice@example.com", "tags": ["beta"]})

    assert response.status == 201, response.body
    assert conflicts.cancelled == 2
    assert counts(table_items) == (1, 1)
    assert tag_counts(table_items) == {"beta": 1}
    assert_rules_hold(table_items)


def test_an_update_and_a_delete_cancelled_by_conflicts_apply_once(api: ApiClient, table_items: Items) -> None:
    user = api.post("/users", {"username": "bob", "email": "bob@example.com", "tags": ["a"]}).json()

    conflicts.cancel_next(3, where=users_table_write)
    patched = api.patch(f"/users/{user['id']}", {"is_active": False, "tags": ["b"], "username": "robert"})
    assert patched.status == 200, patched.body
    assert (counts(table_items), tag_counts(table_items)) == ((1, 0), {"b": 1})
    assert_rules_hold(table_items)

    conflicts.cancel_next(3, where=users_table_write)
    assert api.delete(f"/users/{user['id']}").status == 204
    assert conflicts.cancelled == 6
    assert (counts(table_items), tag_counts(table_items)) == ((0, 0), {})
    assert_rules_hold(table_items)
    assert {item["pk"]["S"].split("#")[0] for item in table_items("UsersTable")} == {"COUNTER"}


def test_a_write_still_conflicting_when_its_time_is_spent_is_a_409_and_writes_nothing(
    api: ApiClient, table_items: Items, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Of the invocation's 10 s, 0.2 s of backoff, on a clock that only the waits move: the
    # number of attempts does not depend on how fast this machine runs the handler.
    waited = {"seconds": 0.0}

    def wait(seconds: float) -> None:
        waited["seconds"] += seconds

    backoff = nexus_conflicts.Backoff(sleep=wait, clock=lambda: waited["seconds"], rng=random.Random(5))
    monkeypatch.setattr(nexus_conflicts, "_backoff", backoff)
    monkeypatch.setattr(nexus_conflicts, "RESERVE_SECONDS", 9.8)
    conflicts.cancel_next(10_000, where=users_table_write)

    response = api.post("/users", {"username": "carol", "email": "carol@example.com"})

    assert (response.status, response.error_code) == (409, "concurrent_update")
    assert conflicts.cancelled >= 2, "retried while the budget lasted"
    assert waited["seconds"] <= 0.2
    assert table_items("UsersTable") == []


def test_the_welcome_lease_refused_by_a_transaction_on_the_user_is_taken_on_retry(
    api: ApiClient, aws: LocalResources
) -> None:
    ses = boto3.client("ses")
    ses.delete_identity(Identity=SENDER)
    user = api.post("/users", {"username": "dave", "email": "dave@example.com"}).json()
    ses.verify_email_identity(EmailAddress=SENDER)
    conflicts.cancel_next(2, where=lambda key: key[1] == f"USER#{user['id']}")

    retry = load_function("send_welcome_email")
    answer = retry.handler(_sqs_event(_queued_retries(aws)), lambda_context("SendWelcomeEmailFunction"))

    assert answer == {"batchItemFailures": []}
    assert conflicts.refused == 2
    assert "welcome_sent_at" in next(
        item
        for item in aws.client("dynamodb").scan(TableName=aws.physical["UsersTable"]["Ref"])["Items"]
        if item["pk"]["S"] == f"USER#{user['id']}"
    )


def test_the_analytics_checkpoint_cancelled_by_conflicts_counts_the_batch_once(api: ApiClient) -> None:
    consumer = load_function("count_events")
    conflicts.cancel_next(2, where=lambda key: "AnalyticsTable" in key[0])

    answer = consumer.handler(consumer_batch_event(50), lambda_context("CountEventsFunction"))

    assert answer == {"batchItemFailures": []}
    assert conflicts.cancelled == 2
    assert api.get("/stats/events", query={"event_type": "page_view"}).json()["total"] == 50


def test_mixed_writes_with_a_fifth_of_transactions_cancelled_never_answer_5xx(
    api: ApiClient, table_items: Items
) -> None:
    conflicts.rate = 0.2
    rng = random.Random(23)
    live: list[dict[str, Any]] = []
    statuses: list[int] = []
    for step in range(120):
        action = rng.choice(["create", "create", "update", "delete"]) if live else "create"
        if action == "create":
            name = f"user{rng.randrange(60)}"  # a name may be taken: a 409, never a 5xx
            body = {"username": name, "email": f"{name}@example.com", "tags": rng.sample(["a", "b", "c"], 2)}
            response = api.post("/users", body)
            if response.status == 201:
                live.append(response.json())
        elif action == "update":
            user = rng.choice(live)
            change = rng.choice([{"is_active": rng.random() < 0.5}, {"tags": rng.sample(["a", "b", "c", "d"], 1)}])
            response = api.patch(f"/users/{user['id']}", {**change, "full_name": f"Step {step}"})
        else:
            user = live.pop(rng.randrange(len(live)))
            response = api.delete(f"/users/{user['id']}")
        statuses.append(response.status)
        assert response.status in {200, 201, 204, 409}, (action, response.status, response.body)

    assert conflicts.cancelled >= 15, "about a fifth of some 120 transactions were cancelled"
    assert statuses.count(409) < statuses.count(201)
    assert_rules_hold(table_items)
    page = api.get("/users", query={"limit": "100"}).json()
    assert sorted(user["id"] for user in page["items"]) == sorted(user["id"] for user in live)
    assert page["total"] == len(live)
