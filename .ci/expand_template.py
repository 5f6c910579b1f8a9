"""Print template.yaml as CloudFormation receives it: Fn::ForEach and SAM's transform expanded.

Run with the SAM venv's interpreter (aws-sam-translator ships with aws-sam-cli); no AWS calls:

    .venv-sam/bin/python .ci/expand_template.py [--resolve] [Name=Value ...] > expanded.json

Name=Value overrides a parameter's default. With --resolve the result is the stack as deployed
with those parameters: conditions evaluated, resources of a false condition dropped, Fn::If
replaced by its branch and AWS::NoValue removed, and the parameters' defaults set to the values.
tests/test_template.py judges it; `make checks` scans it with checkov.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from samtranslator.translator.transform import transform  # noqa: E402

from local.template import LOCAL_PARAMETERS, Resolver, Template, load_template  # noqa: E402

SERVERLESS = "AWS::Serverless-2016-10-31"
# The AWS managed policies SAM may name; ARNs are all it needs from them.
_MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for path, names in {
        "": ["AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess"],
        "service-role/": [
            "AWSLambdaBasicExecutionRole",
            "AWSLambdaVPCAccessExecutionRole",
            "AWSLambdaKinesisExecutionRole",
            "AWSLambdaDynamoDBExecutionRole",
            "AWSLambdaSQSQueueExecutionRole",
        ],
    }.items()
    for name in names
}


class _ManagedPolicyLoader:
    """samtranslator's loader asks IAM for every managed policy; a fixed map makes it offline."""

    def load(self) -> dict[str, str]:
        return dict(_MANAGED_POLICIES)


def expand(overrides: dict[str, str]) -> dict[str, Any]:
    template = load_template(ROOT / "template.yaml")
    template["Transform"] = SERVERLESS  # Fn::ForEach (AWS::LanguageExtensions) is expanded already
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):  # what `sam package` does: code goes to S3
                properties[key] = f"s3://nexus-artifacts/{properties[key].strip('/')}.zip"
    parameters = {
        name: spec.get("Default", LOCAL_PARAMETERS.get(name)) for name, spec in template.get("Parameters", {}).items()
    }
    parameters.update(overrides)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return dict(transform(template, parameters, _ManagedPolicyLoader()))


class _Resolver:
    """Fn::If branches and resource conditions, evaluated by the local runner's own resolver."""

    def __init__(self, parameters: dict[str, Any]) -> None:
        # Conditions name only parameters, so no resource names are needed.
        self.conditions = Resolver(Template(), {}, region="us-east-1", account="123456789012")
        self.conditions.parameters.update(parameters)
        self.evaluated: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.evaluated:
            self.evaluated[name] = self.conditions.condition(name)
        return self.evaluated[name]

    def branches(self, node: Any) -> Any:
        """``node`` with every Fn::If replaced by its branch and AWS::NoValue dropped."""
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                return self.branches(when_true if self.condition(name) else when_false)
            resolved = {key: self.branches(value) for key, value in node.items()}
            return {key: value for key, value in resolved.items() if value != {"Ref": "AWS::NoValue"}}
        if isinstance(node, list):
            return [item for item in (self.branches(v) for v in node) if item != {"Ref": "AWS::NoValue"}]
        return node


def resolve(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    resolved = copy.deepcopy(template)
    resolver = _Resolver(overrides)
    resolved["Resources"] = {
        name: resolver.branches(resource)
        for name, resource in resolved["Resources"].items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }
    for resource in resolved["Resources"].values():
        resource.pop("Condition", None)
    resolved["Outputs"] = {
        name: resolver.branches(output)
        for name, output in resolved.get("Outputs", {}).items()
        if "Condition" not in output or resolver.condition(output["Condition"])
    }
    for name, value in overrides.items():
        resolved["Parameters"][name]["Default"] = value
    return resolved


def main(arguments: list[str]) -> None:
    resolve_conditions = "--resolve" in arguments
    overrides = dict(argument.split("=", 1) for argument in arguments if argument != "--resolve")
    template = expand(overrides)
    if resolve_conditions:
        template = resolve(template, overrides)
    json.dump(template, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
