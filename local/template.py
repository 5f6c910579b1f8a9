"""Read template.yaml: the one source of truth for resources, functions and routes."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"

_INTRINSICS = {
    "!Ref": "Ref",
    "!Sub": "Fn::Sub",
    "!GetAtt": "Fn::GetAtt",
    "!Join": "Fn::Join",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!FindInMap": "Fn::FindInMap",
    "!Condition": "Condition",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!Base64": "Fn::Base64",
}


class _TemplateLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation's short tags into their long form."""


# Parameters without a default (a deploy must give real values): what the local runner, the
# tests and the template checks use, matching the tokens local.tokens makes.
LOCAL_ISSUER = "https://issuer.example.com"
LOCAL_AUDIENCE = "nexus-api"
LOCAL_PARAMETERS = {"JwtIssuer": LOCAL_ISSUER, "JwtAudience": LOCAL_AUDIENCE}


def _intrinsic(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _tag, _name in _INTRINSICS.items():
    _TemplateLoader.add_constructor(_tag, _intrinsic(_name))


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template with CloudFormation's short tags in long form and ``Fn::ForEach`` expanded."""
    with path.open() as stream:
        document = dict(yaml.load(stream, Loader=_TemplateLoader))  # noqa: S506 - SafeLoader subclass
    if "Resources" in document:
        document["Resources"] = expand_for_each(document["Resources"])
    return document


def text_with_defaults(parameters: dict[str, str], path: Path = TEMPLATE_PATH) -> str:
    """The template's text with these parameters' defaults replaced: for tools that lint one mode."""
    text = path.read_text()
    for name, value in parameters.items():
        pattern = re.compile(rf"(\n  {name}:\n(?:    .*\n)*?    Default: ).*\n")
        text, count = pattern.subn(lambda m, v=value: f'{m.group(1)}"{v}"\n', text, count=1)
        if count != 1:
            raise ValueError(f"parameter {name} has no Default to replace")
    return text


_FOR_EACH = "Fn::ForEach::"


def expand_for_each(section: dict[str, Any]) -> dict[str, Any]:
    """AWS::LanguageExtensions' ``Fn::ForEach`` over a literal list, as CloudFormation expands it:
    each ``${Identifier}`` (and ``&{Identifier}``) in the fragment's keys and strings becomes the item."""
    expanded: dict[str, Any] = {}
    for key, value in section.items():
        if not key.startswith(_FOR_EACH):
            expanded[key] = value
            continue
        identifier, collection, fragment = value
        if not isinstance(collection, list):
            raise ValueError(f"{key}: only a literal list is supported here, not {collection!r}")
        for item in collection:
            for name, resource in expand_for_each(fragment).items():
                expanded[_substitute(name, identifier, item)] = _substitute(resource, identifier, item)
    return expanded


def _substitute(value: Any, identifier: str, item: str) -> Any:
    if isinstance(value, str):
        return value.replace(f"${{{identifier}}}", item).replace(f"&{{{identifier}}}", item)
    if isinstance(value, dict):
        return {_substitute(k, identifier, item): _substitute(v, identifier, item) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, identifier, item) for v in value]
    return value


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    auth: bool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory_size: int
    environment: dict[str, Any] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)

    def load_handler_module(self, module_name: str) -> ModuleType:
        """Import the handler's module in this process as ``module_name``: its cold start runs here."""
        return import_file(self.code_uri / f"{self.handler.rsplit('.', 1)[0]}.py", module_name)


def import_file(path: Path, module_name: str) -> ModuleType:
    """Import the Python file at ``path`` as a module named ``module_name`` (not put in sys.modules)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Template:
    def __init__(self, path: Path = TEMPLATE_PATH) -> None:
        self.path = path
        self.document = load_template(path)
        self.resources: dict[str, Any] = self.document.get("Resources", {})
        self.parameters: dict[str, Any] = self.document.get("Parameters", {})
        self.globals: dict[str, Any] = self.document.get("Globals", {}).get("Function", {})

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources.items() if r.get("Type") == resource_type}

    def parameter_defaults(self) -> dict[str, Any]:
        """Each parameter's default; the local values for those a deploy must be given."""
        return {name: spec.get("Default", LOCAL_PARAMETERS.get(name)) for name, spec in self.parameters.items()}

    def functions(self, parameters: Mapping[str, str] | None = None) -> dict[str, Function]:
        """Every function; ``parameters`` (overrides) resolve a ``Timeout: !Ref Parameter``."""
        values = {**self.parameter_defaults(), **(parameters or {})}

        def number(value: Any) -> int:
            if isinstance(value, dict) and set(value) == {"Ref"}:
                value = values[value["Ref"]]
            return int(value)

        found: dict[str, Function] = {}
        for name, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource.get("Properties", {})
            environment = {
                **self.globals.get("Environment", {}).get("Variables", {}),
                **props.get("Environment", {}).get("Variables", {}),
            }
            function = Function(
                logical_id=name,
                code_uri=(self.path.parent / props["CodeUri"]).resolve(),
                handler=props.get("Handler", self.globals.get("Handler", "app.handler")),
                timeout=number(props.get("Timeout", self.globals.get("Timeout", 3))),
                memory_size=number(props.get("MemorySize", self.globals.get("MemorySize", 128))),
                environment=environment,
            )
            for event in props.get("Events", {}).values():
                if event.get("Type") != "HttpApi":
                    continue
                event_props = event.get("Properties", {})
                authorizer = event_props.get("Auth", {}).get("Authorizer")
                function.routes.append(
                    Route(event_props["Method"].upper(), event_props["Path"], name, auth=authorizer != "NONE")
                )
            found[name] = function
        return found

    def routes(self) -> list[Route]:
        return [route for function in self.functions().values() for route in function.routes]


_CONDITION_FUNCTIONS = {"Fn::If", "Condition", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"}
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


class Resolver:
    """Resolves Ref/GetAtt/Sub against the local resources' names and ARNs."""

    def __init__(self, template: Template, physical: dict[str, dict[str, str]], *, region: str, account: str) -> None:
        self.template = template
        self.physical = physical  # logical id -> {"Ref": ..., "Arn": ..., ...}
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": "nexus-local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.parameters = dict(template.parameter_defaults())

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            value = self.parameters[name]
            return ",".join(value) if isinstance(value, list) else str(value)
        return self.physical[name]["Ref"]

    def get_att(self, name: str, attribute: str) -> str:
        return self.physical[name][attribute]

    def condition(self, name: str) -> bool:
        """A named condition of the template's Conditions section, evaluated on the parameters."""
        return bool(self.resolve(self.template.document.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return None if argument == "AWS::NoValue" else self.ref(argument)
            if key == "Fn::GetAtt":
                return self.get_att(*argument)
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in parts)
            if key in _CONDITION_FUNCTIONS:
                return self._condition_function(key, argument)
        if isinstance(value, dict):
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not None}  # AWS::NoValue drops the key
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not None]
        return value

    def _condition_function(self, key: str, argument: Any) -> Any:
        # Only the branch Fn::If selects is resolved: the other may name a resource not created locally.
        if key == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::Equals":
            left, right = (self.resolve(side) for side in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(argument[0])
        if key == "Fn::And":
            return all(self.resolve(item) for item in argument)
        return any(self.resolve(item) for item in argument)  # Fn::Or

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name not in self.pseudo:
                logical, attribute = name.split(".", 1)
                return self.get_att(logical, attribute)
            return self.ref(name)

        return _SUB_VARIABLE.sub(replace, text)
