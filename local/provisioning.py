"""The template's resources in an emulated AWS: created there, or adopted where a previous run
created them all; and a function's environment resolved against them."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local.account import ACCOUNT, REGION
from local.template import Function, Resolver, Template

LOCAL_PREFIX = "nexus-local-"  # the physical names of what has no name in the template: nexus-local-<logical id>
_DYNAMIC_SECRET = re.compile(r"\{\{resolve:secretsmanager:(?P<id>[^:}]+(?::[^:}]+){0,6}?):SecretString\}\}")


class ProvisioningError(RuntimeError):
    """The endpoint holds a stack that is neither empty nor complete."""


def _table_arguments(name: str, props: dict[str, Any]) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        arguments["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        arguments["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return arguments


class LocalResources:
    """The template's resources, created in the AWS that ``session`` points at."""

    def __init__(self, template: Template, session: boto3.Session, endpoint_url: str | None = None) -> None:
        self.template = template
        self.session = session
        self.endpoint_url = endpoint_url
        self.physical: dict[str, dict[str, str]] = {}
        self.resolver = Resolver(template, self.physical, region=REGION, account=ACCOUNT)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """One client per service: building one costs more than most of the calls made with it."""
        if service not in self._clients:
            session: Any = self.session  # boto3's stubs type client() per literal service name
            self._clients[service] = session.client(service, region_name=REGION, endpoint_url=self.endpoint_url)
        return self._clients[service]

    def create_all(self) -> LocalResources:
        for logical_id, resource in self.template.of_type("AWS::DynamoDB::Table").items():
            self._create_table(logical_id, resource.get("Properties", {}))
        for logical_id in self.template.of_type("AWS::SecretsManager::Secret"):
            self._create_secret(logical_id)
        for logical_id, resource in self.template.of_type("AWS::Kinesis::Stream").items():
            self._create_stream(logical_id, resource.get("Properties", {}))
        for logical_id, resource in self.template.of_type("AWS::SQS::Queue").items():
            self._create_queue(logical_id, resource.get("Properties", {}))
        self._apply_redrive_policies()
        for logical_id, resource in self.template.of_type("AWS::SES::EmailIdentity").items():
            self._verify_email_identity(logical_id, resource.get("Properties", {}))
        self._create_secure_string_parameters()
        for logical_id in self.template.of_type("AWS::Serverless::Function"):
            # Named as the local runner runs them (AWS_LAMBDA_FUNCTION_NAME): another function's
            # environment may name one (the pre-traffic hook's PRE_TRAFFIC_FUNCTIONS).
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"
            self.physical[logical_id] = {"Ref": logical_id, "Arn": arn}
        return self

    def secure_string_parameters(self) -> list[str]:
        """The names of the SecureStrings the template lists under Metadata.LocalRunner."""
        names = self.template.document.get("Metadata", {}).get("LocalRunner", {}).get("SecureStringParameters", [])
        return [str(name) for name in self.resolver.resolve(names)]

    def _create_secure_string_parameters(self) -> None:
        """The SecureStrings the template lists (CloudFormation cannot create them), with random values."""
        for name in self.secure_string_parameters():
            self.client("ssm").put_parameter(Name=name, Type="SecureString", Value=secrets.token_urlsafe(32))

    def _verify_email_identity(self, logical_id: str, props: dict[str, Any]) -> None:
        identity = str(self.resolver.resolve(props["EmailIdentity"]))
        self.client("ses").verify_email_identity(EmailAddress=identity)
        self.physical[logical_id] = {"Ref": identity}

    def _create_stream(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or f"{LOCAL_PREFIX}{logical_id}"
        kinesis = self.client("kinesis")
        kinesis.create_stream(StreamName=name, ShardCount=int(props.get("ShardCount", 1)))
        arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        self.physical[logical_id] = {"Ref": name, "Arn": arn}

    def _create_queue(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("QueueName") or f"{LOCAL_PREFIX}{logical_id}"
        sqs = self.client("sqs")
        attributes = {
            key: str(props[key])
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
            if key in props
        }
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.physical[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}

    def _apply_redrive_policies(self) -> None:
        """Set after every queue exists: a redrive policy names its dead-letter queue's ARN."""
        for logical_id, resource in self.template.of_type("AWS::SQS::Queue").items():
            policy = resource.get("Properties", {}).get("RedrivePolicy")
            if policy:
                self.client("sqs").set_queue_attributes(
                    QueueUrl=self.physical[logical_id]["Ref"],
                    Attributes={"RedrivePolicy": json.dumps(self.resolver.resolve(policy))},
                )

    def _create_table(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("TableName") or f"{LOCAL_PREFIX}{logical_id}"
        dynamodb = self.client("dynamodb")
        description = dynamodb.create_table(**_table_arguments(name, props))["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        self.physical[logical_id] = {
            "Ref": name,
            "Arn": description["TableArn"],
            "StreamArn": description.get("LatestStreamArn", ""),
        }

    def _create_secret(self, logical_id: str) -> None:
        secret = self.client("secretsmanager").create_secret(
            Name=f"{LOCAL_PREFIX}{logical_id}", SecretString=secrets.token_urlsafe(48)
        )
        self.physical[logical_id] = {"Ref": secret["ARN"], "Arn": secret["ARN"]}

    def _resolve_dynamic_references(self, text: str) -> str:
        def fetch(match: re.Match[str]) -> str:
            value = self.client("secretsmanager").get_secret_value(SecretId=match.group("id"))
            return str(value["SecretString"])

        return _DYNAMIC_SECRET.sub(fetch, text)

    def environment(self, function: Function) -> dict[str, str]:
        """The function's environment as Lambda would set it, resolved to the local resources."""
        resolved = self.resolver.resolve(function.environment)
        return {name: self._resolve_dynamic_references(str(value)) for name, value in resolved.items()}


def _describe_table(resources: LocalResources, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
    name = props.get("TableName") or f"{LOCAL_PREFIX}{logical_id}"
    table = resources.client("dynamodb").describe_table(TableName=name)["Table"]
    return {"Ref": name, "Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")}


def _describe_secret(resources: LocalResources, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
    arn = resources.client("secretsmanager").describe_secret(SecretId=f"{LOCAL_PREFIX}{logical_id}")["ARN"]
    return {"Ref": arn, "Arn": arn}


def _describe_stream(resources: LocalResources, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
    name = props.get("Name") or f"{LOCAL_PREFIX}{logical_id}"
    summary = resources.client("kinesis").describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    return {"Ref": name, "Arn": summary["StreamARN"]}


def _describe_queue(resources: LocalResources, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
    name = props.get("QueueName") or f"{LOCAL_PREFIX}{logical_id}"
    sqs = resources.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}


def _describe_email_identity(
    resources: LocalResources, logical_id: str, props: dict[str, Any]
) -> dict[str, str] | None:
    identity = str(resources.resolver.resolve(props["EmailIdentity"]))
    found = resources.client("ses").get_identity_verification_attributes(Identities=[identity])
    return {"Ref": identity} if identity in found["VerificationAttributes"] else None


# How to find an existing resource of each type LocalResources creates, under the same local name.
_DESCRIBERS: dict[str, Callable[[LocalResources, str, dict[str, Any]], dict[str, str] | None]] = {
    "AWS::DynamoDB::Table": _describe_table,
    "AWS::SecretsManager::Secret": _describe_secret,
    "AWS::Kinesis::Stream": _describe_stream,
    "AWS::SQS::Queue": _describe_queue,
    "AWS::SES::EmailIdentity": _describe_email_identity,
}
_MISSING = {"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


def _adopt_existing(resources: LocalResources) -> list[str]:
    """Record the physical ids of the template's resources that exist; return the logical ids missing."""
    missing: list[str] = []
    for resource_type, describe in _DESCRIBERS.items():
        for logical_id, resource in resources.template.of_type(resource_type).items():
            try:
                found = describe(resources, logical_id, resource.get("Properties", {}))
            except ClientError as error:
                if error.response["Error"]["Code"] not in _MISSING:
                    raise
                found = None
            if found is None:
                missing.append(logical_id)
            else:
                resources.physical[logical_id] = found
    return missing


def provision(resources: LocalResources) -> None:
    """Create the template's resources, or reuse them when a previous run created them all."""
    missing = _adopt_existing(resources)
    if not missing:
        return
    expected = sum(len(resources.template.of_type(kind)) for kind in _DESCRIBERS)
    if len(missing) != expected:
        raise ProvisioningError(
            f"{resources.endpoint_url} holds only part of the local stack (missing {', '.join(missing)}): reset it"
        )
    resources.physical.clear()
    resources.create_all()
