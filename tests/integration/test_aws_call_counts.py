"""AWS round trips per composite operation: exact, so that an extra call fails the build.

Counted with botocore's ``before-call`` hook on every client the handlers create (see
``tests/aws_calls.py``; ``make bench`` prints the same counts). Targets (issue 7): create
≤ 4 calls besides idempotency; get 1 on a cache hit, 3 on a miss; a list page 1 Query plus
the cache; a consumer batch 1 write transaction.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.resources import LocalResources
from local.template import Template
from tests.aws_calls import CallCounter, count_aws_calls, run_scenarios

EXPECTED: dict[str, dict[str, int]] = {
    # The user transaction, its cache entry (PutItem), user_created (PutRecords), the welcome
    # email (SendEmail) and the welcome's own idempotency record (PutItem, UpdateItem: sent at
    # most once per user).
    "create_user": {
        "dynamodb.PutItem": 2,
        "dynamodb.TransactWriteItems": 1,
        "dynamodb.UpdateItem": 1,
        "kinesis.PutRecords": 1,
        "sesv2.SendEmail": 1,
    },
    # The same plus the request's idempotency record: PutItem (in progress), UpdateItem (done).
    "create_user_idempotent": {
        "dynamodb.PutItem": 3,
        "dynamodb.TransactWriteItems": 1,
        "dynamodb.UpdateItem": 2,
        "kinesis.PutRecords": 1,
        "sesv2.SendEmail": 1,
    },
    # A retry with the same key: the conditional PutItem fails and returns the stored record.
    "create_user_idempotent_replay": {"dynamodb.PutItem": 1},
    "get_user_hit": {"dynamodb.GetItem": 1},
    # Cache read, table read, cache fill.
    "get_user_miss": {"dynamodb.GetItem": 2, "dynamodb.PutItem": 1},
    # Read the version, the conditioned transaction, the cache refresh, user_updated.
    "update_user": {
        "dynamodb.GetItem": 1,
        "dynamodb.PutItem": 1,
        "dynamodb.TransactWriteItems": 1,
        "kinesis.PutRecords": 1,
    },
    # Counter item (generation), cached page miss, the Query, the page cached.
    "list_users_miss": {"dynamodb.GetItem": 2, "dynamodb.PutItem": 1, "dynamodb.Query": 1},
    "list_users_hit": {"dynamodb.GetItem": 2},
    # A page with a next cursor: the signing key is read then (no page before needed one)...
    "list_users_first_cursor": {
        "dynamodb.GetItem": 2,
        "dynamodb.PutItem": 1,
        "dynamodb.Query": 1,
        "secretsmanager.GetSecretValue": 1,
    },
    # ...and cached: the next page checks its cursor with no second read (one per environment).
    "list_users_next_page": {"dynamodb.GetItem": 2, "dynamodb.PutItem": 1, "dynamodb.Query": 1},
    "delete_user": {
        "dynamodb.GetItem": 1,
        "dynamodb.PutItem": 1,
        "dynamodb.TransactWriteItems": 1,
        "kinesis.PutRecords": 1,
    },
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
