"""API Gateway HTTP API (payload 2.0) events and route matching, as API Gateway does them."""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.template import Route

_PARAMETER = re.compile(r"\{([^}+]+)\+?\}")


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


def _route_pattern(path: str) -> re.Pattern[str]:
    pattern = ""
    position = 0
    for match in _PARAMETER.finditer(path):
        pattern += re.escape(path[position : match.start()])
        greedy = match.group(0).endswith("+}")
        pattern += f"(?P<{match.group(1)}>{'.+' if greedy else '[^/]+'})"
        position = match.end()
    pattern += re.escape(path[position:])
    return re.compile(f"^{pattern}$")


def _specificity(route: Route) -> tuple[int, int]:
    # API Gateway prefers the most specific route: more literal segments first.
    segments = route.path.strip("/").split("/")
    literal = sum(1 for s in segments if not s.startswith("{"))
    return (-literal, -len(segments))


def match_route(routes: list[Route], method: str, path: str) -> RouteMatch | str | None:
    """The route serving ``method path``; "method" if only the method does not match; None if none."""
    path_matched = False
    for route in sorted(routes, key=_specificity):
        found = _route_pattern(route.path).match(path)
        if not found:
            continue
        path_matched = True
        if route.method in (method.upper(), "ANY"):
            return RouteMatch(route, {k: unquote(v) for k, v in found.groupdict().items()})
    return "method" if path_matched else None


def build_http_event(
    *,
    method: str,
    path: str,
    route_key: str,
    raw_query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    path_parameters: dict[str, str] | None = None,
    claims: dict[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
    stage: str = "$default",
    request_id: str | None = None,
) -> dict[str, Any]:
    """An event shaped as API Gateway sends it (and as ``sam local generate-event`` shows)."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if raw_query:
        query: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if claims is not None:
        scopes = claims.get("scope")
        event["requestContext"]["authorizer"] = {
            "jwt": {
                "claims": {k: v if isinstance(v, str) else _flatten(v) for k, v in claims.items()},
                "scopes": scopes.split() if isinstance(scopes, str) else None,
            }
        }
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def _flatten(value: Any) -> str:
    # API Gateway passes non-string claims as strings; lists look like "[a b]".
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return str(value)
