"""LogLevel=DEBUG (the dev profile) shows the layer's own debug lines, never secrets or emails.

In Lambda, the function's ``ApplicationLogLevel`` sets the root logger's level: at DEBUG,
botocore (and pynamodb, urllib3) would log every request and response body — the cursor key
from Secrets Manager, the webhook secret from SSM, users' email addresses. Here the root logger
is at DEBUG with a handler that keeps every line, around a sign-up, a page with a cursor and a
webhook delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import boto3
import pytest
from pytest_httpserver import HTTPServer

from devkit.api_client import ApiClient
from devkit.handlers import lambda_context, load_function
from local.provisioning import LocalResources
from local.template import Template
from tests.integration.test_webhooks import _secret, _stream_event

EMAIL = "very.private.person@example.com"


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.__dict__}")


@pytest.fixture
def debug_lines() -> Iterator[list[str]]:
    root = logging.getLogger()
    keep, level = Keep(), root.level
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    yield keep.lines
    root.removeHandler(keep)
    root.setLevel(level)


def test_debug_logging_shows_no_secret_and_no_email(
    aws: LocalResources,
    template: Template,
    monkeypatch: pytest.MonkeyPatch,
    httpserver: HTTPServer,
    debug_lines: list[str],
) -> None:
    monkeypatch.setenv("WEBHOOK_URLS", httpserver.url_for("/hooks/users"))
    monkeypatch.setenv("LOCAL_MODE", "true")
    monkeypatch.setenv("HTTP_RETRIES", "0")
    httpserver.expect_request("/hooks/users", method="POST").respond_with_data("ok")
    api = ApiClient(template)

    assert api.post("/users", {"username": "private", "email": EMAIL}).status == 201
    assert api.post("/users", {"username": "other", "email": "other@example.com"}).status == 201
    assert api.get("/users", query={"limit": "1"}).json()["next_cursor"]  # reads the cursor key
    delivered = load_function("publish_webhooks").handler(_stream_event(aws), lambda_context("PublishWebhooksFunction"))
    assert delivered == {"batchItemFailures": []}  # reads the webhook secret

    cursor_key = boto3.client("secretsmanager").get_secret_value(SecretId=aws.physical["CursorSigningSecret"]["Ref"])[
        "SecretString"
    ]
    webhook_secret = _secret().decode()
    assert len(debug_lines) > 10, "DEBUG lines were written (the layer's and the libraries' at INFO)"
    for secret in (EMAIL, cursor_key, webhook_secret):
        leaked = [line[:200] for line in debug_lines if secret in line]
        assert leaked == [], f"{secret[:6]}... appears in {len(leaked)} log lines"
