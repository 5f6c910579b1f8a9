"""What every function's handler does around its own work: cold start, logs, metrics, scope.

HTTP functions use ``nexus.api.lambda_entrypoint``, which adds the resolver on top of
``wrap``. Stream and queue triggers use ``event_entrypoint`` from here, so that they never
import Powertools' event handler (its resolvers, their event classes and asyncio).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus import cold_start_gc, container, deadline, snapstart
from nexus.observability import logger, metrics
from nexus.services import registry

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def wrap(function: Handler, *, correlation_id_path: str | None = None) -> Handler:
    """``function`` with the Lambda context in every log line, metrics flushed at the end,
    and the services' per-invocation scope (e.g. the analytics buffer's flush) around it.
    The first invocation, answered or failed, ends the cold start's collector pause."""

    snapstart.register()  # restored SnapStart copies renew their random state and clients

    @logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            with deadline.invocation(context), registry.invocation(context):
                return function(event, context)
        finally:
            cold_start_gc.resume()

    return handler


class EventConsumer(Protocol):
    """A trigger's composite: one event (a batch, a hook's call) in, Lambda's answer out."""

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]: ...


def event_entrypoint(consumer: type[EventConsumer]) -> Handler:
    """A stream, queue or hook trigger's handler: the cold start builds ``consumer``; every
    event goes to its ``handle``."""
    container.start(consumer)

    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return registry.get(consumer).handle(event, context)

    return wrap(handle)
