"""The emulated AWS the functions talk to: embedded moto in server mode, or an endpoint given."""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local.costs import UsageMeter
from local.faults import Faults
from local.mail import SendRecorder, SentMail, sent_mail
from local.resources import ACCOUNT, FAKE_CREDENTIALS, REGION, LocalResources
from local.runtime import free_port
from local.template import Template

LOCAL_PREFIX = "nexus-local-"  # LocalResources' physical names: nexus-local-<logical id>


class ProvisioningError(RuntimeError):
    """The endpoint holds a stack that is neither empty nor complete."""


def _session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


class EmulatedAws:
    """moto on 127.0.0.1 started here, or ``endpoint_url`` (whose missing resources are created)."""

    def __init__(
        self, template: Template, endpoint_url: str | None = None, parameters: dict[str, str] | None = None
    ) -> None:
        self.template = template
        self.endpoint_url = endpoint_url or ""
        self.embedded = not endpoint_url
        self.parameters = dict(parameters or {})  # template parameter overrides
        self._server: Any = None
        self.recorder: SendRecorder | None = None
        # Faults and per-caller usage at the AWS boundary: only where moto runs in this process.
        self.faults = Faults(frozenset(template.functions()))
        self.usage = UsageMeter()
        self.restored_mail: list[SentMail] = []  # sent before a snapshot this AWS was loaded from
        self.resources = self._resources()

    def _resources(self) -> LocalResources:
        resources = LocalResources(self.template, _session(), self.endpoint_url or None)
        resources.resolver.parameters.update(self.parameters)
        return resources

    def start(self) -> EmulatedAws:
        if self.embedded:
            longest = max(function.timeout for function in self.template.functions(self.parameters).values())
            self._server, self.recorder = _serve_moto(self.faults, self.usage, longest + 5.0)
            self.endpoint_url = f"http://127.0.0.1:{self._server.server_port}"
            self.resources = self._resources()
        provision(self.resources)
        return self

    def stop(self) -> None:
        self.faults.turn_off()
        self.usage.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Forget every resource and item (moto's reset API), then create the template's resources again."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - our own local endpoint
        if self.recorder is not None:
            self.recorder.clear()
        self.restored_mail = []
        self.resources = self._resources()
        provision(self.resources)

    def sent_mail(self) -> list[SentMail]:
        """Mail sent through SES, in send order; only readable from moto's backend when it runs in this process."""
        if not self.embedded:
            return []
        from moto.ses.models import ses_backends

        return [*self.restored_mail, *sent_mail(list(ses_backends[ACCOUNT][REGION].sent_messages), self.recorder)]

    def sent_emails(self) -> list[dict[str, Any]]:
        return [mail.document() for mail in self.sent_mail()]

    def __enter__(self) -> EmulatedAws:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


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


def _serve_moto(faults: Faults, usage: UsageMeter, stall_seconds: float) -> tuple[Any, SendRecorder]:
    """moto's server app (as ThreadedMotoServer runs it) behind the SES send recorder and the
    boundary (faults, per-caller usage), on a free port."""
    # Imported here: an invoke against the running `make start`'s AWS loads no moto.
    from moto.moto_server import werkzeug_app
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from local import strict_dynamodb
    from local.boundary import AwsBoundary

    strict_dynamodb.install()
    usage.attach()
    # No CORS headers (moto adds them to every answer): a web page must not read the emulated
    # AWS. The boundary refuses any Host but 127.0.0.1 and localhost (DNS rebinding).
    werkzeug_app.DISABLE_GLOBAL_CORS = True  # type: ignore[attr-defined]
    # One access-log line per AWS call drowns the functions' own logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    recorder = SendRecorder(DomainDispatcherApplication(create_backend_app))
    # Outside the recorder: a send the boundary rejects is not recorded as sent.
    boundary = AwsBoundary(recorder, faults, usage, stall_seconds)
    server = make_server("127.0.0.1", free_port(), boundary, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server, recorder
