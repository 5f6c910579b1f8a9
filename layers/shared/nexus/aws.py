"""One botocore session and one client per AWS service for the execution environment.

Every client a botocore session creates re-reads the service's JSON model; pynamodb
and boto3 would each make their own session, and a client per table. Sharing one
session and one client per service keeps the init phase short (see docs/PERFORMANCE.md).
botocore, not boto3: boto3 would also import s3transfer, which nothing here uses.
Region, credentials and ``AWS_ENDPOINT_URL`` come from the environment, as usual.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from pynamodb.models import Model

# botocore's standard retry mode (3 attempts, backoff with jitter) for every client.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


@functools.cache
def session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def client(service: str) -> Any:
    return session().create_client(service, config=_CONFIG)


def share_dynamodb_client(model: type[Model]) -> None:
    """Give a pynamodb model's connection the environment's one DynamoDB client.

    pynamodb would otherwise build a botocore session and a client of its own per model
    (and per thread); ``_client`` is where its connection keeps the client it made.
    """
    model._get_connection().connection._client = client("dynamodb")


def reset() -> None:
    """Forget the session and clients (tests switch between emulated endpoints)."""
    client.cache_clear()
    session.cache_clear()
