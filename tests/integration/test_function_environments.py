"""Each function's environment in template.yaml carries what its services read, and only that.

Each function is cold-started here (its handler module imported) with exactly the environment
the template gives it, resolved to in-process moto's resources, as Lambda would set it. The
settings sections its services built (nexus/settings.py) say which variables it reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from devkit.handlers import load_function
from local.account import FAKE_CREDENTIALS
from local.provisioning import LocalResources
from local.template import Template
from nexus import aws as aws_clients
from nexus.services import registry
from nexus.services.registry import key_of
from nexus.settings import SECTIONS

TEMPLATE = Template()
FUNCTIONS = TEMPLATE.functions()
# Read by every function (Powertools, the local endpoint): template.yaml's Globals.
EVERY_FUNCTION = set(TEMPLATE.globals["Environment"]["Variables"])
# Read by the HTTP entrypoint (nexus.api.auth), not by a service.
HTTP_ENTRYPOINT = {"JWT_SCOPE_PREFIX"}
SECTION_VARIABLES = set().union(*(section.variables() for section in SECTIONS))


@pytest.fixture(scope="module")
def resources() -> Iterator[LocalResources]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_CREDENTIALS.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            yield LocalResources(TEMPLATE, boto3.Session()).create_all()


def _cold_start(name: str, resources: LocalResources, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Start the function with only its own environment; the variables its services read."""
    for variable in SECTION_VARIABLES | HTTP_ENTRYPOINT:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in resources.environment(FUNCTIONS[name]).items():
        monkeypatch.setenv(variable, value)
    registry.reset()
    aws_clients.reset()
    load_function(FUNCTIONS[name].code_uri.name)
    built = set(registry.built())
    return set().union(*(section.variables() for section in SECTIONS if key_of(section) in built))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_environment_carries_only_what_the_functions_services_read(
    name: str, resources: LocalResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = _cold_start(name, resources, monkeypatch)  # a missing or malformed variable fails here, naming it
    allowed = read | EVERY_FUNCTION | (HTTP_ENTRYPOINT if FUNCTIONS[name].routes else set())

    extra = set(FUNCTIONS[name].environment) - allowed
    assert not extra, f"{name}: template.yaml gives it {sorted(extra)}, which none of its services reads"


def test_a_variable_the_template_leaves_out_fails_the_cold_start_naming_it(
    resources: LocalResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nexus.errors import ConfigurationError

    monkeypatch.setattr(
        FUNCTIONS["GetUserFunction"],
        "environment",
        {k: v for k, v in FUNCTIONS["GetUserFunction"].environment.items() if k != "USERS_TABLE_NAME"},
    )

    with pytest.raises(ConfigurationError, match="USERS_TABLE_NAME: Field required"):
        _cold_start("GetUserFunction", resources, monkeypatch)
    assert "USERS_TABLE_NAME" not in os.environ
