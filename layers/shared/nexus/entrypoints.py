"""What every function's handler does around its own work: cold start, logs, metrics, scope.

HTTP functions use ``nexus.api.lambda_entrypoint``, which adds the resolver on top of
``wrap``. Stream and queue triggers use ``event_entrypoint`` from here, so that they never
import Powertools' event handler (its resolvers, their event classes and asyncio).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus import collector, container, deadline, snapstart
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
            collector.resume()

    return handler


def event_entrypoint(function: Handler, *services: type) -> Handler:
    """A stream or queue trigger's handler; cold start builds ``services``."""
    container.start(*services)
    return wrap(function)
