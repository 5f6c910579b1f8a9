"""Secrets in template.yaml: none in any environment; Redis mode's cache needs a password.

Who may read each secret is judged on the expanded template (tests/test_template.py).
"""

from __future__ import annotations

import json
from typing import Any

from local.template import Template


def _environment(template: Template, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        **template.globals.get("Environment", {}).get("Variables", {}),
        **resource["Properties"].get("Environment", {}).get("Variables", {}),
    }


def test_no_function_environment_holds_a_secret_value(template: Template) -> None:
    for name, resource in template.of_type("AWS::Serverless::Function").items():
        assert "{{resolve:" not in json.dumps(_environment(template, resource)), name


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
