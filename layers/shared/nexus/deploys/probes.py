"""The request each function's new version is sent before it takes traffic.

A probe goes through the function's real handler (resolver, scope check, services) and changes
nothing: a read of a user id no user can have (all zeros is a ULID of time 0), a listing of
one, the health check, or a write refused by validation before any AWS call. A trigger gets an
empty batch, which proves its cold start (settings, clients, wiring). docs/decisions.md
(2026-12-06, safe deploys) says why probes are requests and not a test mode in the layer.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from nexus.scopes import ALL_SCOPES

# A well-formed id that no user has: ULIDs carry their creation time, and this one's is 1970.
ABSENT_USER_ID = "0" * 26
EMPTY_BATCH: dict[str, Any] = {"Records": []}


@dataclass(frozen=True)
class HttpProbe:
    """An API Gateway (payload 2.0) request and the statuses that mean the version works."""

    method: str
    route: str  # the route key's path, e.g. /users/{user_id}
    path: str
    accepted: frozenset[int]
    body: str | None = None
    query: str = ""

    def event(self, scope_prefix: str) -> dict[str, Any]:
        scopes = [scope_prefix + scope for scope in ALL_SCOPES]
        now = time.time()
        route_key = f"{self.method} {self.route}"
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": {"content-type": "application/json", "user-agent": "nexus-pre-traffic-check"},
            "requestContext": {
                "accountId": "pre-traffic-check",
                "apiId": "pre-traffic-check",
                "authorizer": {
                    "jwt": {"claims": {"sub": "pre-traffic-check", "scope": " ".join(scopes)}, "scopes": scopes}
                },
                "domainName": "pre-traffic-check",
                "domainPrefix": "pre-traffic-check",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "nexus-pre-traffic-check",
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route_key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,
        }
        if self.query:
            event["queryStringParameters"] = dict(part.split("=", 1) for part in self.query.split("&"))
        parameters = _path_parameters(self.route, self.path)
        if parameters:
            event["pathParameters"] = parameters
        if self.body is not None:
            event["body"] = self.body
        return event

    def verdict(self, answer: Any) -> str | None:
        """None when ``answer`` is an accepted status, else what is wrong with it."""
        status = answer.get("statusCode") if isinstance(answer, dict) else None
        if status in self.accepted:
            return None
        return (
            f"{self.method} {self.path} answered {status!r}, expected one of {sorted(self.accepted)}: {_start(answer)}"
        )


@dataclass(frozen=True)
class TriggerProbe:
    """An empty batch: the trigger must start and report no failed record."""

    def event(self, scope_prefix: str) -> dict[str, Any]:
        del scope_prefix
        return dict(EMPTY_BATCH)

    def verdict(self, answer: Any) -> str | None:
        if answer == {"batchItemFailures": []}:
            return None
        return f"an empty batch answered {_start(answer)}, expected no failed record"


type Probe = HttpProbe | TriggerProbe

_READ = frozenset({200})
_ABSENT = frozenset({404})
_REFUSED = frozenset({422})  # validation_error, before any AWS call

# By the function's logical id (tests/integration/test_pre_traffic.py: every deployed function has
# one, and each, run on emulated AWS, is accepted and writes nothing).
PROBES: dict[str, Probe] = {
    "CreateUserFunction": HttpProbe("POST", "/users", "/users", _REFUSED, body="{}"),
    "GetUserFunction": HttpProbe("GET", "/users/{user_id}", f"/users/{ABSENT_USER_ID}", _ABSENT),
    "GetUserByUsernameFunction": HttpProbe(
        # Anyone may register this name: found or not, the read worked.
        "GET",
        "/users/by-username/{username}",
        "/users/by-username/pre_traffic_check",
        _READ | _ABSENT,
    ),
    "UpdateUserFunction": HttpProbe(
        "PATCH", "/users/{user_id}", f"/users/{ABSENT_USER_ID}", _ABSENT, body=json.dumps({"full_name": "Probe"})
    ),
    "DeleteUserFunction": HttpProbe("DELETE", "/users/{user_id}", f"/users/{ABSENT_USER_ID}", _ABSENT),
    "ListUsersFunction": HttpProbe("GET", "/users", "/users", _READ, query="limit=1"),
    "HealthFunction": HttpProbe("GET", "/health", "/health", _READ),
    "TrackEventsFunction": HttpProbe("POST", "/events", "/events", _REFUSED, body=json.dumps({"events": []})),
    "EventStatsFunction": HttpProbe("GET", "/stats/events", "/stats/events", _READ, query="days=1"),
    "UserStatsFunction": HttpProbe("GET", "/stats/users", "/stats/users", _READ),
    "CountEventsFunction": TriggerProbe(),
    "SendWelcomeEmailFunction": TriggerProbe(),
    "PublishWebhooksFunction": TriggerProbe(),
}


def _path_parameters(route: str, path: str) -> dict[str, str]:
    return {
        name[1:-1]: value
        for name, value in zip(route.split("/"), path.split("/"), strict=True)
        if name.startswith("{") and name.endswith("}")
    }


def _start(answer: Any) -> str:
    return json.dumps(answer, default=str)[:300]
