"""A function's environment from template.yaml, resolved against fake names (nothing is created)."""

from __future__ import annotations

import re
from typing import Any

from local.account import ACCOUNT, FAKE_CREDENTIALS, REGION
from local.template import Function, Resolver, Template

_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:[^}]+\}\}")


class _FakePhysical(dict[str, dict[str, str]]):
    """Every logical id resolves to a made-up name, ARN, queue URL and stream ARN."""

    def __missing__(self, logical_id: str) -> dict[str, str]:
        name = f"nexus-bench-{logical_id}"
        arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        ref = url if logical_id.endswith("Queue") else name
        value = {"Ref": ref, "Arn": arn, "StreamArn": f"{arn}/stream/1", "QueueName": name, "QueueUrl": url}
        self[logical_id] = value
        return value


def function_environment(template: Template, function: Function) -> dict[str, str]:
    """Globals + the function's variables as Lambda would set them, plus region and fake credentials."""
    resolver = Resolver(template, _FakePhysical(), region=REGION, account=ACCOUNT)
    resolved: dict[str, Any] = resolver.resolve(function.environment)
    # A {{resolve:...}} dynamic reference, should a variable carry one: a dummy 64-character value.
    variables = {name: _DYNAMIC_REFERENCE.sub("b" * 64, str(value)) for name, value in resolved.items()}
    return {
        **variables,
        **FAKE_CREDENTIALS,
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(function.code_uri),
    }
