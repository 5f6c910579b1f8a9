"""Kinesis trigger: count each analytics event exactly once, per type per UTC day."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.entrypoints import event_entrypoint
from nexus.operations.count_events import EventCountConsumer
from nexus.services import get_service


def count_events(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return get_service(EventCountConsumer).handle(event, context)


handler = event_entrypoint(count_events, EventCountConsumer)
