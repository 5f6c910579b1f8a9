"""How the local gateway turns an invocation into HTTP, and reads tokens (no server needed)."""

from __future__ import annotations

import base64
import json

import pytest

from local.gateway import function_reply
from local.runtime import Invocation
from local.template import Template
from local.tokens import InvalidToken, bearer_claims, make_token
from local.triggers import event_sources, passes_filters


def invocation(payload: object, error: str | None = None, cold: bool = False) -> Invocation:
    return Invocation(payload, cold, 1.0, error)


def test_structured_result_maps_status_headers_cookies_and_base64_body() -> None:
    reply = function_reply(
        invocation(
            {
                "statusCode": 201,
                "headers": {"Location": "/users/1", "Content-Type": "application/octet-stream"},
                "cookies": ["a=1; Path=/", "b=2"],
                "body": base64.b64encode(b"\xff\x00").decode(),
                "isBase64Encoded": True,
            }
        )
    )
    assert reply.status == 201
    assert ("Location", "/users/1") in reply.headers
    assert [value for name, value in reply.headers if name == "Set-Cookie"] == ["a=1; Path=/", "b=2"]
    assert reply.body == b"\xff\x00"


def test_a_result_without_status_code_is_a_json_200() -> None:
    reply = function_reply(invocation({"hello": "world"}, cold=True))
    assert (reply.status, json.loads(reply.body), reply.state) == (200, {"hello": "world"}, "cold")


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        ("Sandbox.Timedout", 500, "Internal Server Error"),  # the function's Timeout: a function error
        ("Runtime.ExitError", 500, "Internal Server Error"),
        ("Timeout", 503, "Service Unavailable"),  # no answer within the integration's 30 s
    ],
)
def test_failures_are_the_gateways_errors(error: str, status: int, message: str) -> None:
    reply = function_reply(invocation({"errorMessage": "x", "errorType": error}, error=error))
    assert (reply.status, json.loads(reply.body)) == (status, {"message": message})


def test_a_malformed_result_is_a_500() -> None:
    reply = function_reply(invocation({"statusCode": "abc"}))
    assert reply.status == 500


def test_token_round_trip_and_rejections() -> None:
    claims = bearer_claims(f"Bearer {make_token('users:read', subject='me')}")
    assert (claims["sub"], claims["scope"]) == ("me", "users:read")
    for header in (
        None,
        "",
        "Bearer",
        "Basic abc",
        "Bearer a.b",
        "Bearer !!.??.zz",
        f"Bearer {make_token(lifetime=-5)}",
    ):
        with pytest.raises(InvalidToken):
            bearer_claims(header)


def test_filter_criteria_of_the_template(template: Template) -> None:
    (webhooks,) = [source for source in event_sources(template) if source.function == "PublishWebhooksFunction"]
    user = {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "USER#01JD"}}}}
    username = {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "USERNAME#alice"}}}}
    other = {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "EMAIL#a@b.io"}}}}
    assert passes_filters(webhooks, user)
    assert not passes_filters(webhooks, other)
    # "USERNAME#" starts with "USER" but not with the pattern's "USER#".
    assert not passes_filters(webhooks, username)


def test_every_stream_and_queue_trigger_is_polled(template: Template) -> None:
    kinds = {(source.function, source.kind) for source in event_sources(template)}
    declared = {
        (name, event["Type"])
        for name, resource in template.of_type("AWS::Serverless::Function").items()
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] != "HttpApi"
    }
    assert kinds == declared
