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

from local import faults as fault_answers
from local import strict_dynamodb
from local.costs import UsageMeter
from local.faults import Faults, Injected

_APP_ID = re.compile(r"(?:^| )app/([A-Za-z0-9._-]+)")
_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
_SES_SEND = "/v2/email/outbound-emails"
# What the function_timeout fault stalls a call for: past any function's Timeout here.
STALL_SECONDS = 35.0

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
    def __init__(self, app: WsgiApp, faults: Faults, meter: UsageMeter) -> None:
        self.app = app
        self.faults = faults
        self.meter = meter

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        caller = caller_of(environ)
        if caller is None:  # the runner's own calls (provisioning, the inbox, snapshots)
            return self.app(environ, start_response)
        operation = operation_of(environ)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        status, headers, answer = self._answer(caller, operation, environ, body)
        self.meter.call(
            caller,
            operation,
            throttled=b"ThroughputExceeded" in answer or b"ThrottlingException" in answer,
            conflict=b"TransactionConflict" in answer,
            kinesis_bytes=_kinesis_bytes(operation, body),
        )
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(answer)))])
        return [answer]

    def _answer(
        self, caller: str, operation: str, environ: dict[str, Any], body: bytes
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        if self.faults.hits("function_timeout", caller):
            time.sleep(STALL_SECONDS)  # the function's Timeout ends the invocation meanwhile
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


def _kinesis_bytes(operation: str, body: bytes) -> int:
    if operation not in ("kinesis.PutRecords", "kinesis.PutRecord") or not body:
        return 0
    try:
        request = json.loads(body)
        records = request.get("Records") or [request]
        return sum(len(base64.b64decode(r.get("Data", ""))) + len(r.get("PartitionKey", "")) for r in records)
    except (ValueError, TypeError, AttributeError):
        return 0
