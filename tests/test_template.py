"""template.yaml lints clean in both cache modes, and stays least-privilege."""

from __future__ import annotations

import re
from typing import Any

import yaml
from cfnlint.api import lint

from local.template import TEMPLATE_PATH, Template

REDIS_MODE = {
    "CacheBackend": "redis",
    "VpcId": "vpc-0123456789abcdef0",
    "SubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    "RouteTableIds": "rtb-0123456789abcdef0",
    "SecurityGroupId": "sg-0123456789abcdef0",
}


def _redis_mode_text() -> str:
    """The template with Redis mode's parameter defaults, and W1030 (which checks them) back on."""
    text = TEMPLATE_PATH.read_text()
    for name, value in REDIS_MODE.items():
        pattern = re.compile(rf"(\n  {name}:\n(?:    .*\n)*?    Default: ).*\n")
        text, count = pattern.subn(lambda m, v=value: f'{m.group(1)}"{v}"\n', text, count=1)
        assert count == 1, name
    without_ignore, count = re.subn(r"\n  cfn-lint:\n    config:\n(?:      .*\n)*", "\n", text, count=1)
    assert count == 1
    return without_ignore


def test_the_template_lints_clean_in_dynamodb_mode() -> None:
    assert [str(match) for match in lint(TEMPLATE_PATH.read_text(), regions=["us-east-1"])] == []


def test_the_template_lints_clean_in_redis_mode() -> None:
    assert [str(match) for match in lint(_redis_mode_text(), regions=["us-east-1"])] == []


def test_redis_mode_rewrites_the_parameters_it_claims() -> None:
    parameters = yaml.safe_load(re.sub(r"!\w+", "", _redis_mode_text()))["Parameters"]

    assert {name: parameters[name]["Default"] for name in REDIS_MODE} == REDIS_MODE


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in resource["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def test_no_function_is_granted_a_wildcard_action(template: Template) -> None:
    for name, resource in template.of_type("AWS::Serverless::Function").items():
        for statement in _statements(resource):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), (name, actions)
            assert statement["Resource"] != "*", name


def test_read_functions_cannot_write_the_users_table(template: Template) -> None:
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    for name in ("GetUserByUsernameFunction", "ListUsersFunction", "HealthFunction", "UserStatsFunction"):
        resource = template.resources[name]
        for statement in _statements(resource):
            if statement["Resource"] == {"Fn::GetAtt": ["UsersTable", "Arn"]}:
                assert not writes & set(statement["Action"]), name
