"""Secrets in template.yaml: none in any environment; each readable only by who needs it."""

from __future__ import annotations

import json
from typing import Any

from local.template import Template


def _environment(template: Template, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        **template.globals.get("Environment", {}).get("Variables", {}),
        **resource["Properties"].get("Environment", {}).get("Variables", {}),
    }


def _reads_secret(resource: dict[str, Any], secret: str) -> bool:
    for policy in resource["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if "secretsmanager:GetSecretValue" in statement["Action"] and statement["Resource"] == {"Ref": secret}:
                return True
    return False


def test_no_function_environment_holds_a_secret_value(template: Template) -> None:
    for name, resource in template.of_type("AWS::Serverless::Function").items():
        assert "{{resolve:" not in json.dumps(_environment(template, resource)), name


def test_only_the_list_function_has_and_may_read_the_cursor_secret(template: Template) -> None:
    functions = template.of_type("AWS::Serverless::Function")
    having = [name for name, r in functions.items() if "CURSOR_SIGNING_SECRET_ARN" in _environment(template, r)]
    reading = [name for name, r in functions.items() if _reads_secret(r, "CursorSigningSecret")]

    assert having == reading == ["ListUsersFunction"]
    assert _environment(template, functions["ListUsersFunction"])["CURSOR_SIGNING_SECRET_ARN"] == {
        "Ref": "CursorSigningSecret"
    }


def test_redis_mode_authenticates_and_limits_the_cache(template: Template) -> None:
    cache = template.resources["RedisCache"]["Properties"]
    assert cache["UserGroupId"] == {"Ref": "RedisUserGroup"}
    assert cache["CacheUsageLimits"] == {
        "DataStorage": {"Maximum": {"Ref": "CacheMaxDataStorageGB"}, "Unit": "GB"},
        "ECPUPerSecond": {"Maximum": {"Ref": "CacheMaxECPUPerSecond"}},
    }
    group = template.resources["RedisUserGroup"]["Properties"]
    assert group["UserIds"] == [{"Ref": "RedisAppUser"}, {"Ref": "RedisDefaultUser"}]
    default = template.resources["RedisDefaultUser"]["Properties"]
    assert (default["UserName"], default["AccessString"].split()[0]) == ("default", "off")
    user = template.resources["RedisAppUser"]["Properties"]
    assert user["AuthenticationMode"]["Type"] == "password"
    assert "RedisPasswordSecret" in json.dumps(user["AuthenticationMode"]["Passwords"])
    assert "@dangerous" in user["AccessString"]


def test_every_function_on_the_cache_in_redis_mode_may_read_its_password(template: Template) -> None:
    in_vpc = [n for n, r in template.of_type("AWS::Serverless::Function").items() if "VpcConfig" in r["Properties"]]
    granted = [
        n
        for n in in_vpc
        if {"Fn::If": ["UseRedis", {"Ref": "RedisPasswordReadPolicy"}, {"Ref": "AWS::NoValue"}]}
        in template.resources[n]["Properties"]["Policies"]
    ]
    assert granted == in_vpc
    assert len(in_vpc) == 7
    statement = template.resources["RedisPasswordReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement == [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": {"Ref": "RedisPasswordSecret"}}
    ]
