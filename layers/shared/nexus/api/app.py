"""Building blocks of every HTTP function: the resolver, the entry point, the responses."""

from __future__ import annotations

import base64
import binascii
import inspect
import json
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from aws_lambda_powertools.event_handler.openapi.compat import field_annotation_is_sequence
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from nexus import container
from nexus.api.auth import BEARER_SCHEME, require_scope, scope_prefix, token_subject
from nexus.api.errors import error_response, from_pydantic_errors, status_for
from nexus.entrypoints import Handler, wrap
from nexus.errors import BadRequestError, NexusError, NotFoundError, PayloadTooLargeError
from nexus.observability import logger, metrics

DEFAULT_BODY_LIMIT = 16 * 1024


def _request_id(app: APIGatewayHttpResolver) -> str:
    return str(app.current_event.request_context.request_id or "")


JSON_BODY_REQUIRED = "Request body must be JSON: send Content-Type: application/json"
NESTED_TOO_DEEPLY = "Request body is not valid JSON: nested too deeply"
_BODY_METHODS = frozenset({"POST", "PATCH"})  # the methods of the routes that read a body


def _content_type(event: dict[str, Any]) -> str:
    headers = event.get("headers") or {}
    found = next((str(value) for name, value in headers.items() if name.lower() == "content-type"), "")
    return found.split(";", 1)[0].strip().lower()


def _check_body(event: dict[str, Any], limit: int) -> None:
    """413 over the route's limit; 400 for a body that is not UTF-8, or that a POST or PATCH
    sends as another type than JSON (API.md: a form or multipart body would otherwise reach
    Powertools' own form parsers, whose errors are not ours: a multipart type without a
    boundary was a 500)."""
    raw = event.get("body") or ""
    method = str((event.get("requestContext") or {}).get("http", {}).get("method", "")).upper()
    if raw and method in _BODY_METHODS and _content_type(event) not in ("", "application/json"):
        raise BadRequestError(JSON_BODY_REQUIRED)
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


def _json_body(text: str) -> Any:
    """The body's JSON; nested past the interpreter's recursion limit (a hostile body), a 400."""
    try:
        return json.loads(text)
    except RecursionError:
        raise BadRequestError(NESTED_TOO_DEEPLY) from None


class _HttpEvent(APIGatewayProxyEventV2):
    """Payload 2.0 with the query read from ``rawQueryString``.

    ``queryStringParameters`` joins a repeated key's values with commas, so a tag that contains a
    comma would be split in two. Here the declared list parameters (``repeatable``) keep every
    value and any other parameter its last one (API.md: a parameter given twice, the last counts).
    """

    repeatable: frozenset[str] = frozenset()

    @property
    def resolved_query_string_parameters(self) -> dict[str, list[str]]:
        raw = self.raw_event.get("rawQueryString") or ""
        found = parse_qs(raw, keep_blank_values=True)
        return {key: values if key in self.repeatable else values[-1:] for key, values in found.items()}


class NexusResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver, validating every route from its declared parameters.

    ``scope`` is the token scope the function requires (set by ``lambda_entrypoint``); the OpenAPI
    document states it, with summaries and descriptions from the handlers' docstrings and each
    operation id the handler's name.
    """

    scope: str | None = None
    _repeatable: frozenset[str] | None = None

    def _to_proxy_event(self, event: dict[str, Any]) -> _HttpEvent:
        if self._repeatable is None:
            self._repeatable = frozenset(
                param.alias
                for route in self._static_routes + self._dynamic_routes
                for param in route.dependant.query_params
                if field_annotation_is_sequence(param.field_info.annotation)  # type: ignore[arg-type]
            )
        proxy = _HttpEvent(event, self._json_body_deserializer)
        proxy.repeatable = self._repeatable
        return proxy

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

        bearer = HTTPBearer(bearerFormat="JWT", description="An access token with the scope the operation names")
        kwargs["security_schemes"] = kwargs.get("security_schemes") or {BEARER_SCHEME: bearer}
        for route in self._static_routes + self._dynamic_routes:
            summary, _, description = (inspect.getdoc(route.func) or "").partition("\n")
            route.summary = route.summary or summary.strip().removesuffix(".") or None
            route.description = route.description or description.strip() or None
            route.operation_id = route.func.__name__
            if self.scope is not None:
                route.security = [{BEARER_SCHEME: [self.scope]}]
        return super().get_openapi_schema(**kwargs)


def create_app() -> NexusResolver:
    """An HTTP API resolver whose every error answers with API.md's error body.

    Powertools validates each request against the route's declared path, query, header and body
    parameters (``Annotated[..., Query()]`` and so on, with the pydantic types of the schemas);
    its errors are mapped to API.md's 400/422 in ``nexus.api.errors`` (docs/PERFORMANCE.md has
    what the validation costs at cold start).
    """
    app = NexusResolver(enable_validation=True, json_body_deserializer=_json_body)

    @app.exception_handler(RequestValidationError)
    def handle_invalid(error: RequestValidationError) -> Response[Any]:
        return error_response(from_pydantic_errors(error.errors()), _request_id(app))

    @app.exception_handler(RequestUnsupportedContentType)
    def handle_content_type(_: RequestUnsupportedContentType) -> Response[Any]:
        error = BadRequestError(JSON_BODY_REQUIRED)
        return error_response(error, _request_id(app))

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


_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def audit(event: dict[str, Any], answer: dict[str, Any]) -> None:
    """Who did what: one line per write request, answered or refused, with the caller's ``sub``,
    the route, the status, the user it touched (the path's, or the one a POST created) and the
    API Gateway request id (the log line's correlation id, and ``request_id`` here)."""
    context = event.get("requestContext") or {}
    method = (context.get("http") or {}).get("method", "")
    if method not in _WRITES:
        return
    user_id = (event.get("pathParameters") or {}).get("user_id")
    location = (answer.get("headers") or {}).get("Location", "")
    if user_id is None and location.startswith("/users/"):
        user_id = location.removeprefix("/users/")
    logger.info(
        "write",
        operation=event.get("routeKey", ""),
        status=answer.get("statusCode"),
        caller=token_subject(event),
        user_id=user_id,
        request_id=context.get("requestId", ""),
    )


def _render(response: Response[Any], event: dict[str, Any]) -> dict[str, Any]:
    builder: ResponseBuilder[Any] = ResponseBuilder(response, serializer=partial(json.dumps, separators=(",", ":")))
    return builder.build(APIGatewayProxyEventV2(event))


def json_response[M: BaseModel](status: int, body: M, headers: dict[str, str] | None = None) -> Response[M]:
    """A JSON answer whose body is the route's documented model (Powertools serializes it)."""
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


def lambda_entrypoint(
    app: NexusResolver,
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
    app.scope = scope

    def route(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        rejection = _rejection(event, scope, prefix, body_limit)
        if rejection is not None:
            request_id = str((event.get("requestContext") or {}).get("requestId", ""))
            answer = _render(error_response(rejection, request_id), event)
        else:
            answer = app.resolve(event, context)
        audit(event, answer)
        return answer

    return wrap(route, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
