"""The emulated AWS's front door (WSGI, around moto): who calls, what breaks on purpose, what it cost.

Every AWS call of a local worker carries ``app/<function>.<worker>`` in its user agent
(``AWS_SDK_UA_APP_ID``, local.runtime). Here each call is told apart by caller, given the fault
that is on for it (local.faults), and counted for that caller's REPORT line (local.costs).
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from local import faults as fault_answers
from local import strict_dynamodb
from local.costs import UsageMeter
from local.faults import Faults, Injected

_APP_ID = re.compile(r"(?:^| )app/([A-Za-z0-9._-]+)")
_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
_SES_SEND = "/v2/email/outbound-emails"
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_THROTTLES = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def caller_of(environ: dict[str, Any]) -> str | None:
    found = _APP_ID.search(environ.get("HTTP_USER_AGENT", ""))
    return found.group(1) if found else None


def operation_of(environ: dict[str, Any]) -> str:
    """``service.Operation`` of a call: the JSON protocols' target, or SES v2's REST path."""
    found = _SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = found.group(1) if found else "unknown"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return f"{service}.{target.rsplit('.', 1)[-1]}"
    if environ.get("PATH_INFO") == _SES_SEND and environ.get("REQUEST_METHOD") == "POST":
        return f"{service}.SendEmail"
    return f"{service}.{environ.get('REQUEST_METHOD', '?')} {environ.get('PATH_INFO', '')}"


class AwsBoundary:
    def __init__(self, app: WsgiApp, faults: Faults, meter: UsageMeter, stall_seconds: float) -> None:
        self.app = app
        self.faults = faults
        self.meter = meter
        # What the function_timeout fault stalls a call for: past every function's Timeout.
        self.stall_seconds = stall_seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        host = urlsplit(f"//{environ.get('HTTP_HOST', '127.0.0.1')}").hostname
        if host not in _LOCAL_HOSTS:  # a web page elsewhere must not reach the emulated AWS (DNS rebinding)
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"this emulated AWS answers Host 127.0.0.1 or localhost only"]
        caller = caller_of(environ)
        if caller is None:  # the runner's own calls (provisioning, the inbox, snapshots)
            return self.app(environ, start_response)
        operation = operation_of(environ)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        status, headers, answer = self._answer(caller, operation, environ, body)
        error = _error_type(status, headers, answer)
        self.meter.call(
            caller,
            operation,
            succeeded=status.startswith("2"),
            throttled=error in _THROTTLES,
            # DynamoDB's cancelled transaction names its reasons; a plain write refused: TransactionConflictException.
            conflict=error == "TransactionConflictException"
            or (error == "TransactionCanceledException" and b'"TransactionConflict"' in answer),
            kinesis_bytes=_kinesis_bytes(operation, body),
        )
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(answer)))])
        return [answer]

    def _answer(
        self, caller: str, operation: str, environ: dict[str, Any], body: bytes
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        if self.faults.hits("function_timeout", caller):
            time.sleep(self.stall_seconds)  # the function's Timeout ends the invocation meanwhile
            return _as_tuple(fault_answers.stalled())
        service = operation.split(".", 1)[0]
        if service == "dynamodb" and self.faults.hits("dynamodb_throttling", caller):
            return _as_tuple(fault_answers.dynamodb_throttled())
        if operation == "ses.SendEmail" and self.faults.hits("ses_rejections", caller):
            return _as_tuple(fault_answers.ses_rejected())
        fault = self.faults.on("kinesis_partial_failures", caller) if operation == "kinesis.PutRecords" else None
        if fault is not None:
            failing = self.faults.failing_positions(len(json.loads(body).get("Records", [])), fault.rate)
            forward = lambda partial: self._forward(caller, environ, partial)  # noqa: E731
            return _as_tuple(fault_answers.put_records_partly(body, failing, forward))
        return self._forward(caller, environ, body)

    def _forward(self, caller: str, environ: dict[str, Any], body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], *rest: Any) -> Callable[[bytes], None]:
            captured[:] = [status, list(headers)]
            return lambda data: None

        strict_dynamodb.current.caller = caller
        try:
            answer = b"".join(self.app(environ, capture))
        finally:
            strict_dynamodb.current.caller = ""
        return captured[0], captured[1], answer


def _as_tuple(injected: Injected) -> tuple[str, list[tuple[str, str]], bytes]:
    return injected.status, injected.headers, injected.body


def _error_type(status: str, headers: list[tuple[str, str]], answer: bytes) -> str | None:
    """The AWS error an answer carries (JSON protocols' ``__type``, REST's ``x-amzn-ErrorType``)."""
    if status.startswith("2"):
        return None
    for name, value in headers:
        if name.lower() == "x-amzn-errortype":
            return value.split(":", 1)[0]
    try:
        document = json.loads(answer)
    except ValueError:
        return None
    kind = document.get("__type") if isinstance(document, dict) else None
    return str(kind).rsplit("#", 1)[-1] if kind else None


def _kinesis_bytes(operation: str, body: bytes) -> int:
    if operation not in ("kinesis.PutRecords", "kinesis.PutRecord") or not body:
        return 0
    try:
        request = json.loads(body)
        records = request.get("Records") or [request]
        return sum(len(base64.b64decode(r.get("Data", ""))) + len(r.get("PartitionKey", "")) for r in records)
    except (ValueError, TypeError, AttributeError):
        return 0
