"""The clients a bare handler of each function creates at init (the cold-start bench's baseline),
derived from the function's role in template.yaml."""

from __future__ import annotations

import re
from typing import Any

from local.account import ACCOUNT, REGION
from local.template import Function, Resolver, Template

# A client per AWS service the function's role may call, but for the grants Lambda uses on the
# function's behalf (its log group, its event source, an on-failure destination the environment
# does not name); SES is called through sesv2; WEBHOOK_URLS (HTTP, not AWS) adds a urllib3 pool.
_CLIENT = {"ses": "sesv2"}
_POOL_VARIABLE = "WEBHOOK_URLS"
_NAMED = re.compile(r"<([A-Za-z0-9]+)>")


class _Named(dict[str, dict[str, str]]):
    """Every logical id resolves to ``<LogicalId>``, whatever the attribute: what a value names."""

    def __missing__(self, logical_id: str) -> dict[str, str]:
        return _Attributes(logical_id)


class _Attributes(dict[str, str]):
    def __init__(self, logical_id: str) -> None:
        super().__init__()
        self.logical_id = logical_id

    def __missing__(self, attribute: str) -> str:
        return f"<{self.logical_id}>"


def _names(value: Any) -> set[str]:
    return set(_NAMED.findall(str(value)))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(template: Template, resolver: Resolver, role: str) -> list[dict[str, Any]]:
    """The statements of the role's inline policies and of the template's policies it attaches."""
    properties = resolver.resolve(template.resources[role]["Properties"])
    documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
    for arn in properties.get("ManagedPolicyArns", []):
        documents += [
            resolver.resolve(template.resources[name]["Properties"]["PolicyDocument"]) for name in _names(arn)
        ]
    return [statement for document in documents for statement in _as_list(document["Statement"])]


def _lambdas(resolver: Resolver, properties: dict[str, Any], environment: set[str]) -> set[str]:
    """What Lambda calls with the function's role: its log group, its event sources, and the
    on-failure destinations the handler does not know of (not named by its environment)."""
    found = _names(resolver.resolve(properties.get("LoggingConfig", {})))
    for event in properties.get("Events", {}).values():
        source = {key: value for key, value in event.get("Properties", {}).items() if key in ("Stream", "Queue")}
        found |= _names(resolver.resolve(source))
        destination = event.get("Properties", {}).get("DestinationConfig", {})
        found |= _names(resolver.resolve(destination)) - environment
    return found


def bare_clients(template: Template) -> dict[str, tuple[str, ...]]:
    """Function -> the services a bare handler of it builds a client for at init (and ``urllib3``)."""
    resolver = Resolver(template, _Named(), region=REGION, account=ACCOUNT)
    found: dict[str, tuple[str, ...]] = {}
    for name, function in template.functions().items():
        properties = template.resources[name]["Properties"]
        [role] = _names(resolver.resolve(properties["Role"]))
        environment = _names(resolver.resolve(function.environment))
        lambdas = _lambdas(resolver, properties, environment)
        services = {
            action.split(":")[0]
            for statement in _statements(template, resolver, role)
            if not _names(statement.get("Resource")) & lambdas
            for action in _as_list(statement["Action"])
        }
        found[name] = (*sorted(_CLIENT.get(s, s) for s in services), *_pools(function))
    return found


def _pools(function: Function) -> tuple[str, ...]:
    return ("urllib3",) if _POOL_VARIABLE in function.environment else ()
