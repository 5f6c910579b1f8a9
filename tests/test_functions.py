"""Every function of template.yaml is wired end to end: the checks a new function must pass.

docs/EXTENDING.md walks through adding one; each assertion here names the step it checks, so a
missed step fails with what to do. Static reads only (ast, the template): no cold start.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from local.template import ROOT, Function, Template
from nexus import container
from nexus.services import registry
from nexus.services.registry import key_of

FUNCTIONS = Template().functions()
ENTRYPOINTS = {"lambda_entrypoint", "event_entrypoint"}


def _handler_file(function: Function) -> Path:
    return function.code_uri / f"{function.handler.rsplit('.', 1)[0]}.py"


def _module(function: Function) -> ast.Module:
    path = _handler_file(function)
    assert path.is_file(), f"{function.logical_id}: create {path.relative_to(ROOT)} (its CodeUri and Handler)"
    return ast.parse(path.read_text(), filename=str(path))


def _imported_names(module: ast.Module) -> dict[str, str]:
    return {
        alias.asname or alias.name: f"{node.module}:{alias.name}"
        for node in module.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def _entrypoint_call(function: Function, module: ast.Module) -> ast.Call:
    handler_name = function.handler.rsplit(".", 1)[1]
    for node in module.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == handler_name for t in node.targets):
            call = node.value
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in ENTRYPOINTS:
                return call
    pytest.fail(
        f"{function.logical_id}: {_handler_file(function).relative_to(ROOT)} must end with "
        f"`{handler_name} = lambda_entrypoint(app)` (HTTP, after `app = create_app(<Composite>, scope=...)`) or "
        f"`{handler_name} = event_entrypoint(<Composite>)` (a trigger: its composite's handle(event, context))"
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_handler_module_ends_with_one_entrypoint(name: str) -> None:
    function = FUNCTIONS[name]
    call = _entrypoint_call(function, _module(function))

    assert (call.func.id == "lambda_entrypoint") == bool(function.routes), (  # type: ignore[attr-defined]
        f"{name}: a function with HttpApi events uses lambda_entrypoint, a trigger event_entrypoint"
    )


def _create_app_call(function: Function, module: ast.Module) -> ast.Call:
    for node in module.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["app"]:
            call = node.value
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "create_app":
                return call
    pytest.fail(
        f"{function.logical_id}: an HTTP function's module starts with `app = create_app(<Composite>, scope=...)`"
    )


def _roots(function: Function, module: ast.Module) -> list[ast.expr]:
    """The composites the cold start builds: create_app's (HTTP) or event_entrypoint's (a trigger)."""
    return _create_app_call(function, module).args if function.routes else _entrypoint_call(function, module).args


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_roots_it_starts_are_registered_in_the_container(name: str) -> None:
    function = FUNCTIONS[name]
    module = _module(function)
    imported = _imported_names(module)
    _entrypoint_call(function, module)
    roots = _roots(function, module)
    assert roots, f"{name}: pass the composite it calls to create_app or event_entrypoint, so the cold start builds it"
    container.register_all()

    for root in roots:
        assert isinstance(root, ast.Name), f"{name}: pass the composite's class itself"
        assert root.id in imported, f"{name}: import {root.id} from the module that defines it"
        module_name, _, class_name = imported[root.id].partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        assert cls in registry, (
            f"{name}: {key_of(cls)} is not registered: add a ServiceRef for it to nexus/container.py "
            "(docs/EXTENDING.md, step 4)"
        )


def test_every_handler_directory_is_a_function_of_the_template() -> None:
    declared = {function.code_uri for function in FUNCTIONS.values()}
    directories = {path.parent.resolve() for path in (ROOT / "functions").glob("*/*.py")}

    orphans = sorted(str(path.relative_to(ROOT.resolve())) for path in directories - declared)
    assert not orphans, (
        f"{orphans}: add an AWS::Serverless::Function with this CodeUri to template.yaml "
        "(docs/EXTENDING.md, step 6): until then no test checks its wiring"
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_it_has_an_event_file(name: str) -> None:
    from tests.test_events import EXPECTED

    files = [file for file, (function, _) in EXPECTED.items() if function == name]

    assert files, (
        f"{name}: add events/<name>.json (what `sam local invoke -e` sends) and list it in tests/test_events.py"
    )
    for file in files:
        assert (ROOT / "events" / file).is_file(), f"{name}: events/{file} is listed in tests/test_events.py"


@pytest.mark.parametrize("name", sorted(name for name, function in FUNCTIONS.items() if function.routes))
def test_an_http_function_names_its_composite_once(name: str) -> None:
    """`app = create_app(TheComposite, scope=...)`; routes call `app.operation`, the entrypoint takes `app`."""
    function = FUNCTIONS[name]
    module = _module(function)
    (root,) = _create_app_call(function, module).args
    assert isinstance(root, ast.Name)
    uses = [node for node in ast.walk(module) if isinstance(node, ast.Name) and node.id == root.id]
    assert len(uses) == 1, f"{name}: {root.id} is named in create_app only; routes call app.operation"
    assert [ast.unparse(arg) for arg in _entrypoint_call(function, module).args] == ["app"]


@pytest.mark.parametrize("name", sorted(name for name, function in FUNCTIONS.items() if not function.routes))
def test_a_trigger_is_its_composite_and_nothing_else(name: str) -> None:
    """A trigger's module names its composite once: `handler = event_entrypoint(TheComposite)`."""
    function = FUNCTIONS[name]
    module = _module(function)
    call = _entrypoint_call(function, module)
    (root,) = call.args
    assert isinstance(root, ast.Name)
    definitions = [node for node in module.body if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    assert definitions == [], f"{name}: the work belongs in {root.id}.handle, not in the handler module"
    imported = _imported_names(module)
    module_name, _, class_name = imported[root.id].partition(":")
    assert callable(getattr(getattr(importlib.import_module(module_name), class_name), "handle", None)), (
        f"{name}: {root.id} needs handle(event, context), which the entrypoint calls"
    )
