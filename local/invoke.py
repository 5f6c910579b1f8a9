"""`python -m local invoke FUNCTION -e EVENT.json`: one cold invocation, as `sam local invoke` does."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from local.aws import EmulatedAws, ProvisioningError
from local.runtime import (
    LAYER_DIR,
    Invocation,
    LambdaWorker,
    RuntimeSetupError,
    check_layer,
    ensure_runtime_dir,
    find_rie,
    lambda_environment,
)
from local.template import Function, Template


class InvokeError(RuntimeError):
    """A usage error: unknown function, unreadable event or env-vars file."""


def load_event(path: str | None) -> Any:
    if path is None:
        return {}
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvokeError(f"event {path} is not JSON: {error}") from None


def env_var_overrides(path: str | None, function: Function) -> dict[str, str]:
    """SAM's --env-vars: "Parameters" applies to every function, a logical id to that one only.

    As in SAM, only variables the template declares for the function are overridden.
    """
    if path is None:
        return {}
    document = json.loads(Path(path).read_text())
    if not isinstance(document, dict):
        raise InvokeError(f"{path} must hold a JSON object")
    merged = {**document.get("Parameters", {}), **document.get(function.logical_id, {})}
    return {name: str(value) for name, value in merged.items() if name in function.environment}


def select_function(template: Template, logical_id: str, parameters: dict[str, str] | None = None) -> Function:
    functions = template.functions(parameters)
    if logical_id not in functions:
        raise InvokeError(f"no function {logical_id!r} in {template.path.name}; one of: {', '.join(sorted(functions))}")
    return functions[logical_id]


def invoke(
    logical_id: str,
    event: Any,
    *,
    env_vars: str | None = None,
    parameters: dict[str, str] | None = None,
    template: Template | None = None,
) -> Invocation:
    template = template or Template()
    function = select_function(template, logical_id, parameters)
    runtime_dir, layer_dir, rie = ensure_runtime_dir(), check_layer(LAYER_DIR), find_rie()
    with EmulatedAws(template, os.environ.get("AWS_ENDPOINT_URL")) as aws:
        aws.resources.resolver.parameters.update(parameters or {})
        variables = {**aws.resources.environment(function), **env_var_overrides(env_vars, function)}
        environment = lambda_environment(function, variables, aws.endpoint_url, runtime_dir, layer_dir)
        worker = LambdaWorker(function, environment, rie)
        try:
            return worker.invoke(event)
        finally:
            worker.stop()


def parse_parameter_overrides(values: list[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for value in values:
        name, separator, setting = value.partition("=")
        if not separator:
            raise InvokeError(f"--parameter-overrides wants Name=Value, not {value!r}")
        overrides[name] = setting
    return overrides


def main(logical_id: str, event_path: str | None, env_vars: str | None, overrides: list[str]) -> int:
    """Print the function's result on stdout; 1 when the function failed (its error is printed too)."""
    try:
        result = invoke(
            logical_id, load_event(event_path), env_vars=env_vars, parameters=parse_parameter_overrides(overrides)
        )
    except (InvokeError, RuntimeSetupError, ProvisioningError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    state = "cold" if result.cold else "warm"
    print(f"{logical_id}: {state} start, {result.duration_ms} ms, error={result.error}", file=sys.stderr)
    print(json.dumps(result.payload, indent=2))
    return 1 if result.failed else 0
