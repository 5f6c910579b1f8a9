"""AWS round trips per composite operation: exact, so that an extra call fails the build.

Counted with botocore's ``before-call`` hook on every client the handlers create (see
``devkit/aws_calls.py``; ``make bench`` prints the same counts), on the DynamoDB cache
backend. The physical limits (issue 13): create 3 (transaction, SendEmail, PutRecords) and at
most 2 more with an Idempotency-Key; get 1, hit or miss; an unfiltered page 2 (counters,
Query); a filtered page 3 (counters, Query, the users: issue 23); update and delete 3; a
consumer batch 1 write transaction.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from devkit.api_client import ApiClient
from devkit.aws_calls import PHYSICAL_LIMITS, CallCounter, count_aws_calls, run_scenarios
from devkit.handlers import lambda_context, load_function
from local.provisioning import LocalResources
from local.template import Template
from tests.integration.test_welcome_email import SENDER, _queued_retries, _sqs_event

EXPECTED: dict[str, dict[str, int]] = {
    # The physical limit: the user transaction, user_created (PutRecords), the welcome email
    # (SendEmail). No cache entry (on the DynamoDB backend users are not cached) and no record
    # of the welcome: only its retry path, after SES fails, marks the user item.
    "create_user": {"dynamodb.TransactWriteItems": 1, "kinesis.PutRecords": 1, "sesv2.SendEmail": 1},
    # The same plus the request's idempotency record: PutItem (in progress), UpdateItem (done).
    "create_user_idempotent": {
        "dynamodb.PutItem": 1,
        "dynamodb.TransactWriteItems": 1,
        "dynamodb.UpdateItem": 1,
        "kinesis.PutRecords": 1,
        "sesv2.SendEmail": 1,
    },
    # A retry with the same key: the conditional PutItem fails and returns the stored record.
    "create_user_idempotent_replay": {"dynamodb.PutItem": 1},
    # The user item, whether or not a cache entry was there: the cache is not read.
    "get_user_hit": {"dynamodb.GetItem": 1},
    "get_user_miss": {"dynamodb.GetItem": 1},
    # Read the version, the conditioned transaction, user_updated.
    "update_user": {"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1, "kinesis.PutRecords": 1},
    # The counter shards (total, generation: one BatchGetItem) and the Query, every time: an
    # unfiltered page on one list shard is not cached (a hit would cost what the Query costs).
    "list_users_miss": {"dynamodb.BatchGetItem": 1, "dynamodb.Query": 1},
    "list_users_hit": {"dynamodb.BatchGetItem": 1, "dynamodb.Query": 1},
    # A filtered page: the counters (with one tag's shards for its total), the family's Query,
    # and one BatchGetItem of the users behind its entries. Not cached on one list shard.
    "list_users_one_tag": {"dynamodb.BatchGetItem": 2, "dynamodb.Query": 1},
    "list_users_filters": {"dynamodb.BatchGetItem": 2, "dynamodb.Query": 1},
    "list_users_search": {"dynamodb.BatchGetItem": 2, "dynamodb.Query": 1},
    # A page with a next cursor: the signing key is read then (no page before needed one)...
    "list_users_first_cursor": {
        "dynamodb.BatchGetItem": 1,
        "dynamodb.Query": 1,
        "secretsmanager.GetSecretValue": 1,
    },
    # ...and cached: the next page checks its cursor with no second read (one per environment).
    "list_users_next_page": {"dynamodb.BatchGetItem": 1, "dynamodb.Query": 1},
    # The counter shards: one BatchGetItem.
    "user_stats": {"dynamodb.BatchGetItem": 1},
    # Any days, any type: one Query per bucket of count items (4) and one of the old day items.
    "event_stats_90_days": {"dynamodb.Query": 5},
    # Read the version, the conditioned transaction, user_deleted.
    "delete_user": {"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1, "kinesis.PutRecords": 1},
    # Two POST /events of 500: one PutRecords each.
    "track_1000_events": {"kinesis.PutRecords": 2},
    "consumer_batch_100": {"dynamodb.TransactWriteItems": 1},
}


@pytest.fixture
def counter(aws: LocalResources) -> Iterator[CallCounter]:
    with count_aws_calls() as counter:
        yield counter


def test_aws_calls_per_composite_operation(counter: CallCounter, aws: LocalResources, template: Template) -> None:
    assert run_scenarios(counter, aws, template) == EXPECTED


@pytest.mark.parametrize("scenario", sorted(PHYSICAL_LIMITS))
def test_the_counts_are_at_the_physical_limit_make_bench_prints(scenario: str) -> None:
    assert sum(EXPECTED[scenario].values()) <= PHYSICAL_LIMITS[scenario]


def test_aws_calls_of_a_welcome_email_retry(counter: CallCounter, aws: LocalResources, template: Template) -> None:
    ses = boto3.client("ses")
    ses.delete_identity(Identity=SENDER)
    with counter.window() as sign_up:
        assert ApiClient(template).post("/users", {"username": "later", "email": "later@example.com"}).status == 201
    ses.verify_email_identity(EmailAddress=SENDER)
    retry = load_function("send_welcome_email")
    event = _sqs_event(_queued_retries(aws))

    with counter.window() as first:
        assert retry.handler(event, lambda_context("SendWelcomeEmailFunction")) == {"batchItemFailures": []}
    with counter.window() as redelivered:
        assert retry.handler(event, lambda_context("SendWelcomeEmailFunction")) == {"batchItemFailures": []}

    # SES refused: the retry is queued (SendMessage) instead of sent.
    assert dict(sign_up) == {
        "dynamodb.TransactWriteItems": 1,
        "kinesis.PutRecords": 1,
        "sesv2.SendEmail": 1,
        "sqs.SendMessage": 1,
    }
    # The lease (a conditional UpdateItem that returns the user), the send, the marker.
    assert dict(first) == {"dynamodb.UpdateItem": 2, "sesv2.SendEmail": 1}
    # The lease's condition fails; one read says why (already sent): no send.
    assert dict(redelivered) == {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 1}
