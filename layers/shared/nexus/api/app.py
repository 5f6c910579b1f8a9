"""Building blocks of every HTTP function: the resolver (admission, routing, errors), the entry
point, the responses."""

from __future__ import annotations

import base64
import binascii
import inspect
import json
from collections.abc import Mapping
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
from nexus.api.auth import BEARER_SCHEME, Caller, require_scope, scope_prefix, verified_caller
from nexus.api.errors import error_response, from_pydantic_errors, status_for
from nexus.entrypoints import Handler, wrap
from nexus.errors import BadRequestError, NexusError, NotFoundError, PayloadTooLargeError
from nexus.observability import logger, metrics
from nexus.services import registry
from nexus.services.registry import ServiceKey

DEFAULT_BODY_LIMIT = 16 * 1024


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


class NexusResolver[Operation](APIGatewayHttpResolver):
    """Powertools' HTTP API resolver for one function: its composite, its scope, its body limit.

    Every request is admitted before it is routed (the token's scope, then the body's size and
    type), and a refusal is rendered by the same exception handler as every other error. The
    OpenAPI document states the scope, with summaries and descriptions from the handlers'
    docstrings and each operation id the handler's name.
    """

    def __init__(self, operation: ServiceKey[Operation], *, scope: str | None, body_limit: int) -> None:
        super().__init__(enable_validation=True, json_body_deserializer=_json_body)
        self.operation_key = operation
        self.scope = scope
        self.body_limit = body_limit
        self.scope_prefix = ""  # JWT_SCOPE_PREFIX, read at cold start by lambda_entrypoint
        self._repeatable: frozenset[str] | None = None

    @property
    def operation(self) -> Operation:
        """The function's composite, built at cold start."""
        return registry.get(self.operation_key)

    @property
    def caller(self) -> Caller:
        """The current request's verified caller (a function with a scope admits no other)."""
        caller = self.context.get("caller")
        if not isinstance(caller, Caller):
            raise RuntimeError("no verified caller: this function's routes take no token")
        return caller

    async def resolve_async(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        """Refused: admission runs in the synchronous path only (``_resolve``), and the functions
        are synchronous; an async entry would route without the scope and body checks."""
        raise NotImplementedError("NexusResolver resolves synchronously: call resolve()")

    def _resolve(self) -> ResponseBuilder[Any]:
        event = self.current_event.raw_event
        caller = verified_caller(event)
        try:
            if self.scope is not None:
                require_scope(caller, self.scope, self.scope_prefix)
            _check_body(event, self.body_limit)
        except NexusError as refusal:
            built: ResponseBuilder[Any] = ResponseBuilder(self.answer(refusal), self._serializer)
        else:
            self.context["caller"] = caller
            built = super()._resolve()
        audit(event, built.response, caller)
        return built

    def answer(self, error: Exception) -> Response[Any]:
        """Every error's answer, refusals included: API.md's error body (``nexus.api.errors``)."""
        request_id = str(self.current_event.request_context.request_id or "")
        if not isinstance(error, NexusError):
            logger.exception("unhandled error", request_id=request_id)
            metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
        elif status_for(error) >= 500:
            # A server-side fault of our own (an email template, an outbound request), never the caller's.
            logger.error("request failed on the server side", code=error.code, error=str(error))
        return error_response(error, request_id)

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


def create_app[Operation](
    operation: ServiceKey[Operation], *, scope: str | None, body_limit: int = DEFAULT_BODY_LIMIT
) -> NexusResolver[Operation]:
    """The function's resolver: its routes call ``app.operation`` (the composite the cold start
    builds), every request needs ``scope`` (None: no auth), and every error answers with API.md's
    error body.

    Powertools validates each request against the route's declared path, query, header and body
    parameters (``Annotated[..., Query()]`` and so on, with the pydantic types of the schemas);
    its errors are mapped to API.md's 400/422 in ``nexus.api.errors`` (docs/PERFORMANCE.md has
    what the validation costs at cold start).
    """
    app = NexusResolver(operation, scope=scope, body_limit=body_limit)
    # Powertools' own errors become the project's, then every error takes the one path: answer().
    app.exception_handler(RequestValidationError)(lambda error: app.answer(from_pydantic_errors(error.errors())))
    app.exception_handler(RequestUnsupportedContentType)(lambda _: app.answer(BadRequestError(JSON_BODY_REQUIRED)))
    app.exception_handler(RouteNotFoundError)(
        lambda _: app.answer(NotFoundError(f"No route for {app.current_event.http_method} {app.current_event.path}"))
    )
    app.exception_handler(Exception)(app.answer)
    return app


_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def audit(event: dict[str, Any], answer: Response[Any], caller: Caller | None) -> None:
    """Who did what: one line per write request, answered or refused, with the caller's ``sub``,
    the route, the status, the user it touched (the path's, or the one a POST created) and the
    API Gateway request id (the log line's correlation id, and ``request_id`` here)."""
    context = event.get("requestContext") or {}
    method = (context.get("http") or {}).get("method", "")
    if method not in _WRITES:
        return
    user_id = (event.get("pathParameters") or {}).get("user_id")
    location = str(answer.headers.get("Location", ""))
    if user_id is None and location.startswith("/users/"):
        user_id = location.removeprefix("/users/")
    logger.info(
        "write",
        operation=event.get("routeKey", ""),
        status=answer.status_code,
        caller=caller.subject if caller is not None else "",
        user_id=user_id,
        request_id=context.get("requestId", ""),
    )


def json_response[M: BaseModel](status: int, body: M, headers: dict[str, str] | None = None) -> Response[M]:
    """A JSON answer whose body is the route's documented model (Powertools serializes it)."""
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


def lambda_entrypoint(app: NexusResolver[Any]) -> Handler:
    """The function's handler: the cold start builds ``app``'s composite (and reads
    JWT_SCOPE_PREFIX); every invocation is resolved by ``app``."""
    container.start(app.operation_key)
    app.scope_prefix = scope_prefix()
    return wrap(app.resolve, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
