"""API Gateway's HTTP API in front of the functions, as it serves the template's routes.

Per request: the route (API Gateway's 404 when none), the JWT authorizer emulated (claims decoded,
signature not checked; 401 without a readable token), a payload 2.0 event, the route's function,
and its result mapped back to HTTP. A function error or timeout is API Gateway's 500 "Internal
Server Error"; an integration that does not answer within its 30 s is its 503. Local only: a
cold start that failed to import answers a 500 naming the file and line (local.diagnosis).
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from local.events import RouteMatch, build_http_event, match_route
from local.functions import Functions
from local.http_server import Reply, Request
from local.runtime import Invocation
from local.template import Route
from local.tokens import InvalidToken, bearer_claims


class Gateway:
    def __init__(self, routes: list[Route], functions: Functions) -> None:
        self.routes = routes
        self.functions = functions

    def dispatch(self, request: Request) -> Reply:
        found = match_route(self.routes, request.method, request.path)
        if not isinstance(found, RouteMatch):
            # API Gateway answers an unknown path and a known path's unknown method alike.
            return Reply.message(404, "Not Found")
        claims: dict[str, Any] | None = None
        if found.route.auth:
            try:
                claims = bearer_claims(request.headers.get("authorization"))
            except InvalidToken:
                return Reply.message(401, "Unauthorized", function=found.route.function)
        request_id = _request_id()
        event = build_http_event(
            method=request.method,
            path=request.path,
            route_key=found.route.route_key,
            raw_query=request.raw_query,
            headers=request.headers,
            body=request.body,
            path_parameters=found.path_parameters,
            claims=claims,
            source_ip=request.source_ip,
            request_id=request_id,
        )
        invocation = self.functions.invoke(found.route.function, event)
        reply = function_reply(invocation)
        if invocation.failed and invocation.cold:
            failure = self.functions.cold_start_failure(found.route.function)
            if failure is not None:
                document = {"message": "Internal Server Error", "local": failure.document()}
                reply = Reply.json(500, document, state="cold")
        reply.function = found.route.function
        reply.headers.append(("apigw-requestid", request_id))
        return reply


def _request_id() -> str:
    # Shaped like API Gateway's ids ("JKJaXmPLvHcESHA=").
    return base64.b64encode(secrets.token_bytes(10)).decode("ascii")


def function_reply(invocation: Invocation) -> Reply:
    """An integration response (payload format 2.0) as API Gateway turns it into HTTP."""
    state = "cold" if invocation.cold else "warm"
    if invocation.error == "Timeout":
        return Reply.message(503, "Service Unavailable", state=state)
    payload = invocation.payload
    if invocation.failed:
        return Reply.message(500, "Internal Server Error", state=state)
    if not (isinstance(payload, dict) and "statusCode" in payload):
        # Without a statusCode, API Gateway takes the result as a JSON body of a 200.
        return Reply.json(200, payload, state=state)
    try:
        return _structured_reply(payload, state)
    except (TypeError, ValueError):
        return Reply.message(500, "Internal Server Error", state=state)


def _structured_reply(payload: dict[str, Any], state: str) -> Reply:
    headers = [(str(k), str(v)) for k, v in (payload.get("headers") or {}).items()]
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in payload.get("cookies") or [])
    body = payload.get("body")
    if body is None:
        data = b""
    elif payload.get("isBase64Encoded"):
        data = base64.b64decode(body, validate=True)
    else:
        data = str(body).encode()
    return Reply(int(payload["statusCode"]), headers, data, state=state)
