"""The idempotency table, as Powertools' DynamoDB persistence layer, built at its first use.

Importing Powertools' idempotency utility loads boto3 and the persistence layer, a share of the
create function's cold start (docs/PERFORMANCE.md has the measurement). Only a sign-up with an
``Idempotency-Key`` needs it, so a cold start without one does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus import aws
from nexus.services import Service, inject
from nexus.settings import IdempotencySettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer


class IdempotencyStore(Service):
    """The environment's one idempotency store (``layer``), on the shared DynamoDB client."""

    def __init__(self, settings: IdempotencySettings = inject()) -> None:
        super().__init__()
        self.table_name = settings.idempotency_table_name
        self.ttl_seconds = settings.idempotency_ttl_seconds
        self._layer: BasePersistenceLayer | None = None

    @property
    def layer(self) -> BasePersistenceLayer:
        if self._layer is None:
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

            self._layer = DynamoDBPersistenceLayer(table_name=self.table_name, boto3_client=aws.client("dynamodb"))
        return self._layer
