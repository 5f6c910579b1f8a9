"""Building blocks of every HTTP function: the resolver, the entry point, the responses."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from nexus import container
from nexus.api.auth import require_scope, scope_prefix
from nexus.api.errors import error_response, from_pydantic_errors, status_for
from nexus.entrypoints import Handler, wrap
from nexus.errors import (
    BadRequestError,
    FieldError,
    NexusError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from nexus.observability import logger, metrics

DEFAULT_BODY_LIMIT = 16 * 1024


def _request_id(app: APIGatewayHttpResolver) -> str:
    return str(app.current_event.request_context.request_id or "")


def _check_body(event: dict[str, Any], limit: int) -> None:
    """413 over the route's limit, 400 for a body that is not UTF-8."""
    raw = event.get("body") or ""
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode()
    except (binascii.Error, ValueError):
        raise BadRequestError("Request body is not valid base64") from None
    if len(data) > limit:
        raise PayloadTooLargeError(f"Request body is over {limit} bytes")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("Request body is not UTF-8") from None


def create_app() -> APIGatewayHttpResolver:
    """An HTTP API resolver whose every error answers with API.md's error body.

    Powertools' validation middleware is off: routes validate their own input with
    ``parse_json_body``/``parse_query``/``parse_header`` (the same pydantic models), which
    costs nothing at import and on routes that take no input (docs/PERFORMANCE.md).
    """
    app = APIGatewayHttpResolver(enable_validation=False)

    @app.exception_handler(NexusError)
    def handle_expected(error: NexusError) -> Response[Any]:
        if status_for(error) >= 500:
            # A server-side fault of our own (an email template, an outbound request), never the caller's.
            logger.error("request failed on the server side", code=error.code, error=str(error))
        return error_response(error, _request_id(app))

    @app.exception_handler(RouteNotFoundError)
    def handle_no_route(_: RouteNotFoundError) -> Response[Any]:
        event = app.current_event
        return error_response(NotFoundError(f"No route for {event.http_method} {event.path}"), _request_id(app))

    @app.exception_handler(Exception)
    def handle_unexpected(error: Exception) -> Response[Any]:
        logger.exception("unhandled error", request_id=_request_id(app))
        metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
        return error_response(error, _request_id(app))

    return app


def _rejection(event: dict[str, Any], scope: str | None, prefix: str, body_limit: int) -> NexusError | None:
    """What API Gateway and the route's limits refuse before the route parses anything."""
    try:
        if scope is not None:
            require_scope(event, scope, prefix)
        _check_body(event, body_limit)
    except NexusError as error:
        return error
    return None


def _render(response: Response[Any], event: dict[str, Any]) -> dict[str, Any]:
    builder: ResponseBuilder[Any] = ResponseBuilder(response, serializer=partial(json.dumps, separators=(",", ":")))
    return builder.build(APIGatewayProxyEventV2(event))


def parse_query[M: BaseModel](app: APIGatewayHttpResolver, model: type[M]) -> M:
    """Validate the query string into ``model``; repeated keys become lists.

    Read from ``rawQueryString``: payload 2.0's ``queryStringParameters`` joins
    repeated keys with commas, which would split a value that contains one.
    """
    raw = app.current_event.raw_event.get("rawQueryString") or ""
    values: dict[str, Any] = {}
    for key, found in parse_qs(raw, keep_blank_values=True).items():
        field = model.model_fields.get(key)
        is_list = field is not None and getattr(field.annotation, "__origin__", None) in (list, tuple)
        values[key] = found if is_list else found[-1]
    try:
        return model.model_validate(values)
    except PydanticValidationError as exc:
        raise from_pydantic_errors(exc.errors(), source="query") from None


def parse_json_body[T](app: APIGatewayHttpResolver, parse: Callable[[Any], T]) -> T:
    """Decode the JSON body (400 if it is not JSON) and validate it with ``parse`` (422)."""
    try:
        body = json.loads(app.current_event.decoded_body or "")
    except ValueError:
        raise BadRequestError("Request body is not valid JSON") from None
    if body is None:
        raise BadRequestError("Request body is missing: send a JSON object")
    try:
        return parse(body)
    except PydanticValidationError as exc:
        raise from_pydantic_errors(exc.errors(), source="body") from None


def parse_header[T](app: APIGatewayHttpResolver, name: str, parse: Callable[[str], T]) -> T | None:
    """The header ``name`` (any case) through ``parse``, or None when absent; a bad value is a 422."""
    value = app.current_event.headers.get(name)
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise ValidationError([FieldError(name.lower(), str(exc))]) from None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


def lambda_entrypoint(
    app: APIGatewayHttpResolver,
    *services: type,
    scope: str | None,
    body_limit: int = DEFAULT_BODY_LIMIT,
) -> Handler:
    """The function's handler.

    Cold start builds ``services``. Every invocation is checked for the token's ``scope``
    (None: no auth) and the body limit before routing, so that a refused request is
    refused before its body is read.
    """
    container.start(*services)
    prefix = scope_prefix()

    def route(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        rejection = _rejection(event, scope, prefix, body_limit)
        if rejection is not None:
            request_id = str((event.get("requestContext") or {}).get("requestId", ""))
            return _render(error_response(rejection, request_id), event)
        return app.resolve(event, context)

    return wrap(route, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
