"""What a cold start does not load (issue 13): each function imports what its first request uses.

Each function is cold-started in a fresh interpreter (``import app``, as the runtime does) with
the environment the template gives it; the modules it loaded are compared with what it must
leave alone. ``make bench`` measures what each of these saves (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from local.account import FAKE_CREDENTIALS
from local.provisioning import LocalResources
from local.template import ROOT, Template

TEMPLATE = Template()
FUNCTIONS = TEMPLATE.functions()

# Powertools' other resolvers (AppSync's imports asyncio), its other event classes, boto3.
NEVER = {
    "asyncio",
    "aws_lambda_powertools.event_handler.appsync",
    "aws_lambda_powertools.event_handler.bedrock_agent",
    "aws_lambda_powertools.utilities.data_classes.code_pipeline_job_event",
    "boto3",
}
# A sign-up without an Idempotency-Key, and the reads, need no idempotency record.
IDEMPOTENCY = {"aws_lambda_powertools.utilities.idempotency"}
EMAIL = {"jinja2", "nexus.email.service"}
# Raw MIME (email.policy's header classes) is only for a message with attachments.
MIME = {"email.policy"}
HTTP_API = {"aws_lambda_powertools.event_handler.api_gateway"}


@pytest.fixture(scope="module")
def environments() -> Iterator[dict[str, dict[str, str]]]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_CREDENTIALS.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            resources = LocalResources(TEMPLATE, boto3.Session()).create_all()
            yield {name: resources.environment(function) for name, function in FUNCTIONS.items()}


def _cold_start_modules(name: str, environment: dict[str, str]) -> set[str]:
    function = FUNCTIONS[name]
    code = "import sys, json, app; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code],
        cwd=function.code_uri,
        env={
            **environment,
            **FAKE_CREDENTIALS,
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join([str(function.code_uri), str(ROOT / "layers" / "shared")]),
            # Unreachable: a cold start that called AWS would fail here.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    ("name", "unused"),
    [
        ("GetUserFunction", NEVER | IDEMPOTENCY | EMAIL),
        ("ListUsersFunction", NEVER | IDEMPOTENCY | EMAIL),
        ("CreateUserFunction", NEVER | IDEMPOTENCY | MIME),
        # Powertools' BatchProcessor is defined beside its async twin (batch/base.py imports asyncio).
        ("CountEventsFunction", (NEVER - {"asyncio"}) | IDEMPOTENCY | EMAIL | HTTP_API),
        # Triggers never load the HTTP resolver, not even for the names of the token scopes.
        ("PreTrafficHookFunction", (NEVER - {"asyncio"}) | IDEMPOTENCY | EMAIL | HTTP_API),
        # Powertools' parameters utility (the webhook secrets) imports boto3.
        ("PublishWebhooksFunction", (NEVER - {"asyncio", "boto3"}) | IDEMPOTENCY | EMAIL | HTTP_API),
        ("SendWelcomeEmailFunction", (NEVER - {"asyncio"}) | IDEMPOTENCY | HTTP_API),
    ],
)
def test_a_cold_start_loads_nothing_its_first_request_does_not_use(
    name: str, unused: set[str], environments: dict[str, dict[str, str]]
) -> None:
    loaded = _cold_start_modules(name, environments[name])

    assert "app" in loaded
    assert not unused & loaded, f"{name} loaded {sorted(unused & loaded)} at cold start"


def test_the_layer_has_no_pydantic_plugin_the_template_turns_off() -> None:
    """PYDANTIC_DISABLE_PLUGINS=__all__ (template.yaml's Globals) skips the plugin search; it
    must not drop a plugin the layer ships (the dev venv, checked here, holds the layer's
    requirements and more)."""
    from importlib.metadata import entry_points

    assert TEMPLATE.globals["Environment"]["Variables"]["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    assert not list(entry_points(group="pydantic"))
