"""Shared fixtures: emulated AWS built from template.yaml, and the layer's registry reset."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws
from pytest_httpserver import HTTPServer

from devkit.redis_server import RedisServer, redis_server
from local import strict_dynamodb
from local.account import FAKE_CREDENTIALS
from local.provisioning import LocalResources
from local.template import Template
from nexus import aws as aws_clients
from nexus.observability import metrics
from nexus.services import registry

# botocore's loader keeps each JSON model it parses (service models, endpoints, rule sets), but
# per session, and the tests make a new session per test (the `aws` fixture's boto3.Session(),
# nexus.aws.reset()): each test parsed the same files again, about half of the fixture's time.
# One loader per test process instead: the same files, parsed once. Only this process: the
# local runner's workers and the CLI subprocesses load as Lambda does.
botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)  # type: ignore[attr-defined]

# moto's DynamoDB as strict as DynamoDB where the design depends on it (transaction conflicts),
# metered, and rolling back a cancelled transaction item by item (local/strict_dynamodb.py).
strict_dynamodb.install()


@pytest.fixture(autouse=True)
def _strict_dynamodb_reset() -> Iterator[None]:
    strict_dynamodb.conflicts.reset()
    strict_dynamodb.meter.reset()
    yield
    strict_dynamodb.conflicts.reset()


@pytest.fixture(scope="session")
def template() -> Template:
    return Template()


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    yield
    registry.reset()
    aws_clients.reset()
    # Powertools caches parameters process-wide (5 min): each test's moto has its own values.
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()


@pytest.fixture(autouse=True)
def _no_metrics_from_earlier_tests() -> None:
    # The layer's Metrics is process-wide; a previous test's teardown may have added to it.
    metrics.clear_metrics()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, template: Template) -> Iterator[LocalResources]:
    """In-process moto with every resource of the template, and the functions' environment set."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        resources = LocalResources(template, boto3.Session()).create_all()
        # Every function runs in this one process: the Globals and each function's own variables.
        for function in template.functions().values():
            for name, value in resources.environment(function).items():
                monkeypatch.setenv(name, value)
        yield resources


@pytest.fixture(scope="session")
def redis_auth(template: Template) -> Iterator[RedisServer]:
    """One real redis-server for the session, its ``nexus`` user given the template's access string."""
    with redis_server(str(template.resources["RedisAppUser"]["Properties"]["AccessString"])) as server:
        yield server


@pytest.fixture
def table_items(aws: LocalResources) -> Callable[[str], list[dict[str, Any]]]:
    """Every item of a table (by logical id), to assert that nothing else was written."""

    def scan(logical_id: str) -> list[dict[str, Any]]:
        client = aws.client("dynamodb")
        return client.scan(TableName=aws.physical[logical_id]["Ref"], ConsistentRead=True)["Items"]

    return scan


@pytest.fixture
def server_stack(monkeypatch: pytest.MonkeyPatch, template: Template) -> Iterator[LocalResources]:
    """moto in server mode over real HTTP (serialized, see devkit/moto_server.py), with the
    template's resources, the create function's environment and its composite started."""
    from devkit.moto_server import serialized_moto_server
    from nexus import container
    from nexus.operations.registration import UserRegistration

    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with serialized_moto_server() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        resources = LocalResources(template, boto3.Session(), endpoint).create_all()
        for name, value in resources.environment(template.functions()["CreateUserFunction"]).items():
            monkeypatch.setenv(name, value)
        container.start(UserRegistration)
        yield resources


@pytest.fixture
def slow_receiver() -> Iterator[HTTPServer]:
    """A second local receiver that serves requests in threads, so one slow answer holds only itself."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()
