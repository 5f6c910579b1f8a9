"""`python -m local invoke FUNCTION -e EVENT.json`: one cold invocation, as `sam local invoke` does.

Which emulated AWS the function talks to (``--aws``): ``auto`` takes ``$AWS_ENDPOINT_URL`` when
set, else the running `make start`'s (from local.endpoint's file), else an embedded moto of its
own that starts empty and is gone after the invocation; one line on stderr says which.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from local.emulated_aws import EmulatedAws
from local.endpoint import endpoint_file, running_api
from local.provisioning import ProvisioningError
from local.runtime import Invocation, LambdaWorker, lambda_environment
from local.runtime_dir import LAYER_DIR, RuntimeSetupError, check_layer, ensure_runtime_dir, find_rie
from local.template import Function, Template

AWS_CHOICES = ("auto", "running", "embedded")


class InvokeError(RuntimeError):
    """A usage error: unknown function, unreadable event or env-vars file, a bad option."""


def _read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvokeError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise InvokeError(f"{what} {path}: is a directory, not a JSON file") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InvokeError(f"{what} {path}: cannot be read ({reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvokeError(f"{what} {path} is not JSON: {error}") from None


def load_event(path: str | None) -> Any:
    return {} if path is None else _read_json(path, "event file")


def env_var_overrides(path: str | None, function: Function) -> dict[str, str]:
    """SAM's --env-vars: "Parameters" applies to every function, a logical id to that one only.

    As in SAM, only variables the template declares for the function are overridden.
    """
    if path is None:
        return {}
    document = _read_json(path, "env vars file")
    shape = '{"Parameters": {VAR: value}, FunctionId: {VAR: value}}'
    if not isinstance(document, dict):
        raise InvokeError(f"env vars file {path} must hold {shape}")
    every, own = document.get("Parameters", {}), document.get(function.logical_id, {})
    if not (isinstance(every, dict) and isinstance(own, dict)):
        raise InvokeError(f"env vars file {path} must hold {shape}")
    merged = {**every, **own}
    return {name: str(value) for name, value in merged.items() if name in function.environment}


def select_function(template: Template, logical_id: str, parameters: dict[str, str] | None = None) -> Function:
    functions = template.functions(parameters)
    if logical_id not in functions:
        raise InvokeError(f"no function {logical_id!r} in {template.path.name}; one of: {', '.join(sorted(functions))}")
    return functions[logical_id]


def with_path_parameters(event: Any, function: Function, values: list[str]) -> Any:
    """``--path user_id=01J...``: set the route's path parameters, rawPath and http.path to match."""
    if not values:
        return event
    if len(function.routes) != 1:
        raise InvokeError(f"--path: {function.logical_id} has no HTTP route")
    (route,) = function.routes
    names = [part.split("}")[0] for part in route.path.split("{")[1:]]
    if not isinstance(event, dict):
        raise InvokeError("--path: the event is not an HTTP API event (a JSON object)")
    parameters = dict(event.get("pathParameters") or {})
    for value in values:
        name, separator, setting = value.partition("=")
        if not separator or name not in names:
            wanted = ", ".join(f"{n}=VALUE" for n in names) or "none: the route has no path parameters"
            raise InvokeError(f"--path {value!r}: {route.route_key} takes {wanted}")
        if not setting:
            # Typically `--path user_id=$ID` after the command meant to set ID failed.
            raise InvokeError(
                f"--path {value!r}: the value is empty: if it came from a shell variable, "
                "the command that set it failed (its error is above)"
            )
        parameters[name] = setting
    missing = [name for name in names if name not in parameters]
    if missing:
        raise InvokeError(f"--path: {route.route_key} also needs {', '.join(missing)}")
    raw_path = route.path.format(**{name: quote(parameters[name], safe="") for name in names})
    context = dict(event.get("requestContext") or {})
    context["http"] = {**(context.get("http") or {}), "path": raw_path}
    return {**event, "pathParameters": parameters, "rawPath": raw_path, "requestContext": context}


def choose_aws(mode: str) -> tuple[str | None, str]:
    """The endpoint to use (None: an embedded moto of this invoke's own) and a line saying why."""
    if mode not in AWS_CHOICES:
        raise InvokeError(f"--aws {mode!r}: one of {', '.join(AWS_CHOICES)}")
    if mode == "embedded":
        return None, "embedded AWS (--aws embedded): an empty stack of its own, gone after this invocation"
    running = running_api()
    if mode == "running":
        if running is None:
            raise InvokeError(
                f"--aws running: no `make start` is running (no live {endpoint_file()}): "
                "start it, or use --aws embedded"
            )
        return running.aws_endpoint_url, _running_note(running.pid, running.api_url, running.aws_endpoint_url)
    explicit = os.environ.get("AWS_ENDPOINT_URL")
    if explicit:
        return explicit, f"AWS at AWS_ENDPOINT_URL={explicit}"
    if running is not None:
        return running.aws_endpoint_url, _running_note(running.pid, running.api_url, running.aws_endpoint_url)
    return None, (
        "embedded AWS: an empty stack of its own (no `make start` running), so ids created elsewhere are not found"
    )


def _running_note(pid: int, api_url: str, endpoint: str) -> str:
    return f"AWS of the running `make start` (pid {pid}, {api_url}): {endpoint}; --aws embedded for an empty one"


def invoke(
    logical_id: str,
    event: Any,
    *,
    env_vars: str | None = None,
    parameters: dict[str, str] | None = None,
    template: Template | None = None,
    endpoint_url: str | None = None,
) -> Invocation:
    """``endpoint_url`` None: an embedded moto, started for this invocation only."""
    template = template or Template()
    function = select_function(template, logical_id, parameters)
    overrides = env_var_overrides(env_vars, function)
    runtime_dir, layer_dir, rie = ensure_runtime_dir(), check_layer(LAYER_DIR), find_rie()
    with EmulatedAws(template, endpoint_url) as aws:
        aws.resources.resolver.parameters.update(parameters or {})
        variables = {**aws.resources.environment(function), **overrides}
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


def main(
    logical_id: str,
    event_path: str | None,
    env_vars: str | None,
    overrides: list[str],
    *,
    aws: str = "auto",
    path_parameters: list[str] | None = None,
) -> int:
    """Print the function's result on stdout; 1 when the function failed, 2 for a usage error."""
    try:
        template = Template()
        parameters = parse_parameter_overrides(overrides)
        function = select_function(template, logical_id, parameters)
        event = with_path_parameters(load_event(event_path), function, path_parameters or [])
        env_var_overrides(env_vars, function)  # a bad file fails before anything starts
        endpoint_url, note = choose_aws(aws)
        print(f"local invoke: {note}", file=sys.stderr, flush=True)
        result = invoke(
            logical_id, event, env_vars=env_vars, parameters=parameters, template=template, endpoint_url=endpoint_url
        )
    except (InvokeError, RuntimeSetupError, ProvisioningError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    state = "cold" if result.cold else "warm"
    print(f"{logical_id}: {state} start, {result.duration_ms} ms, error={result.error}", file=sys.stderr)
    print(json.dumps(result.payload, indent=2))
    return 1 if result.failed else 0
