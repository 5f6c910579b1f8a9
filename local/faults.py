"""Faults on demand at the emulated AWS boundary: what a developer turns on to watch the API fail.

Each named fault has a rate (the share of matching calls it hits, 0 to 1) and may be limited to
one function (the caller, told by the ``app/<function>.<worker>`` part of botocore's user agent,
which the local runner sets through ``AWS_SDK_UA_APP_ID``). The injected answers are AWS's own
error shapes, so botocore retries and the layer handles them as it would in AWS.
"""

from __future__ import annotations

import json
import random
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

# name -> what it does (the /_local/faults listing and `python -m local faults` print these).
FAULTS: dict[str, str] = {
    "dynamodb_throttling": "DynamoDB calls answered ProvisionedThroughputExceededException",
    "transaction_conflicts": "DynamoDB transactions cancelled with TransactionConflict (the strict emulator)",
    "ses_rejections": "SES SendEmail answered MessageRejected",
    "kinesis_partial_failures": "PutRecords entries failed with ProvisionedThroughputExceededException, not stored",
    "slow_webhooks": "the local webhook receiver (/_local/webhooks) answers after `seconds`",
    "function_timeout": "an invocation's AWS calls stall until the function's Timeout ends it",
}


# Faults that cannot tell callers apart: the strict emulator's conflicts, the receiver's delay.
_EVERY_FUNCTION = frozenset({"transaction_conflicts", "slow_webhooks"})


class FaultError(ValueError):
    """A fault request that cannot be applied (unknown name, rate outside 0-1, ...)."""


@dataclass(frozen=True)
class Fault:
    name: str
    rate: float = 1.0
    function: str | None = None  # only calls from this function's workers
    seconds: float = 0.0  # slow_webhooks: the delay

    def document(self) -> dict[str, Any]:
        return {**asdict(self), "what": FAULTS[self.name]}


@dataclass(frozen=True)
class Injected:
    """An AWS error answer in place of the call."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes


class Faults:
    """The faults turned on, shared by the server's threads."""

    def __init__(self, functions: frozenset[str] = frozenset(), *, seed: int | None = None) -> None:
        self._functions = functions
        self._on: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self._random = random.Random(seed)  # noqa: S311 - a fault's dice, not a secret
        # `make start CONFLICT_RATE=...`: what turning transaction_conflicts off goes back to.
        self.base_conflict_rate = 0.0

    def turn_on(self, name: str, rate: float = 1.0, function: str | None = None, seconds: float = 0.0) -> Fault:
        if name not in FAULTS:
            raise FaultError(f"unknown fault {name!r}: one of {', '.join(FAULTS)}")
        if not 0.0 <= rate <= 1.0:
            raise FaultError(f"rate {rate} is not a share from 0 to 1")
        if function is not None and self._functions and function not in self._functions:
            raise FaultError(f"unknown function {function!r}: one of the template's functions")
        if not 0.0 <= seconds <= 60.0:
            raise FaultError(f"seconds {seconds} is not from 0 to 60")
        if name == "slow_webhooks" and seconds == 0.0:
            raise FaultError("slow_webhooks needs `seconds`, the receiver's delay")
        if function is not None and name in _EVERY_FUNCTION:
            raise FaultError(f"{name} applies to every function: no `function`")
        fault = Fault(name, rate, function, seconds)
        with self._lock:
            self._on[name] = fault
        if name == "transaction_conflicts":
            from local import strict_dynamodb  # the moto of this process: only a server with one turns faults on

            strict_dynamodb.conflicts.rate = rate
        return fault

    def turn_off(self, name: str | None = None) -> None:
        """One fault off, or every fault (None)."""
        if name is not None and name not in FAULTS:
            raise FaultError(f"unknown fault {name!r}: one of {', '.join(FAULTS)}")
        with self._lock:
            names = list(self._on) if name is None else [name]
            for each in names:
                self._on.pop(each, None)
        if name in (None, "transaction_conflicts") and "local.strict_dynamodb" in sys.modules:
            sys.modules["local.strict_dynamodb"].conflicts.rate = self.base_conflict_rate

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._on.values())

    def on(self, name: str, caller: str | None) -> Fault | None:
        """The fault ``name`` if it is on for ``caller``'s calls."""
        with self._lock:
            fault = self._on.get(name)
        if fault is None or (fault.function is not None and fault.function != _function_of(caller)):
            return None
        return fault

    def hits(self, name: str, caller: str | None) -> Fault | None:
        """The fault ``name`` if it is on for ``caller`` and its dice say this call."""
        fault = self.on(name, caller)
        with self._lock:
            return fault if fault is not None and self._random.random() < fault.rate else None

    def failing_positions(self, count: int, rate: float) -> list[bool]:
        with self._lock:
            return [self._random.random() < rate for _ in range(count)]


def _function_of(caller: str | None) -> str | None:
    return caller.split(".", 1)[0] if caller else None


def dynamodb_throttled() -> Injected:
    body = {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded (local fault)",
    }
    return Injected("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")], json.dumps(body).encode())


def ses_rejected() -> Injected:
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "MessageRejected")]
    return Injected("400 Bad Request", headers, json.dumps({"message": "Email rejected (local fault)"}).encode())


def stalled() -> Injected:
    headers = [("Content-Type", "text/plain")]
    return Injected("500 Internal Server Error", headers, b"stalled by the function_timeout fault")


_THROUGHPUT = "ProvisionedThroughputExceededException"


def put_records_partly(
    body: bytes, failing: list[bool], forward: Callable[[bytes], tuple[str, list[tuple[str, str]], bytes]]
) -> Injected:
    """Kinesis PutRecords with the ``failing`` entries refused: only the others reach the stream,
    and the answer lists every entry in the request's order, as Kinesis does."""
    request = json.loads(body)
    kept = [record for record, fails in zip(request["Records"], failing, strict=True) if not fails]
    stored: list[dict[str, Any]] = []
    result: dict[str, Any] = {"EncryptionType": "NONE"}
    headers = [("Content-Type", "application/x-amz-json-1.1")]
    if kept:
        status, headers, answer = forward(json.dumps({**request, "Records": kept}).encode())
        if not status.startswith("200"):
            return Injected(status, headers, answer)
        result = json.loads(answer)
        stored = list(result["Records"])
    entries = [
        {"ErrorCode": _THROUGHPUT, "ErrorMessage": "Rate exceeded for shard (local fault)"} if fails else stored.pop(0)
        for fails in failing
    ]
    result.update(FailedRecordCount=sum(1 for entry in entries if "ErrorCode" in entry), Records=entries)
    return Injected("200 OK", headers, json.dumps(result).encode())
