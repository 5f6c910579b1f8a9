"""What each invocation cost: its AWS calls, DynamoDB items and units, conflicts and throttles,
and a price per million like it, from the bench's price list (bench/prices.json, one source).

The emulated AWS boundary records every call under its caller (``app/<function>.<worker>`` in
botocore's user agent); a worker runs one invocation at a time, so what its caller id collected
between two REPORT lines is that invocation's.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from local.template import ROOT

if TYPE_CHECKING:
    from local.strict_dynamodb import Usage

PRICES = ROOT / "bench" / "prices.json"
MILLION = 1_000_000


@cache
def load_prices() -> dict[str, Any]:
    prices: dict[str, Any] = json.loads(PRICES.read_text())
    return prices


def usd_per_million(
    *,
    memory_mb: int,
    billed_ms: int,
    http: bool,
    read_units: float = 0.0,
    write_units: float = 0.0,
    kinesis_bytes: float = 0.0,
    ses_emails: float = 0.0,
    sqs_requests: float = 0.0,
    secrets_calls: float = 0.0,
    prices: dict[str, Any] | None = None,
) -> dict[str, float]:
    """The price of a million invocations like this one, USD, by part (no free tier)."""
    p = prices or load_prices()
    return {
        "lambda": MILLION * (p["lambda_request"] + memory_mb / 1024 * billed_ms / 1000 * p["lambda_arm64_gb_second"]),
        "http_api": MILLION * p["http_api_request"] if http else 0.0,
        "dynamodb": MILLION * read_units * p["dynamodb_on_demand_read_request_unit"]
        + MILLION * write_units * p["dynamodb_on_demand_write_request_unit"],
        "kinesis": MILLION * kinesis_bytes / 1024**3 * p["kinesis_on_demand_ingest_gb"],
        "ses": MILLION * ses_emails * p["ses_email"],
        "sqs": MILLION * sqs_requests * p["sqs_standard_request"],
        "secrets": MILLION * secrets_calls * p["secrets_manager_api_call"],
    }


@dataclass
class InvocationUsage:
    calls: Counter[str] = field(default_factory=Counter)  # "service.Operation" -> count
    items_read: int = 0
    items_written: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    conflicts: int = 0
    throttles: int = 0
    kinesis_bytes: int = 0
    emails_sent: int = 0  # SES bills what it accepts

    def report(self, *, memory_mb: int, duration_ms: float, http: bool) -> str:
        """What the REPORT line adds."""
        price = usd_per_million(
            memory_mb=memory_mb,
            billed_ms=math.ceil(duration_ms),
            http=http,
            read_units=self.read_units,
            write_units=self.write_units,
            kinesis_bytes=self.kinesis_bytes,
            ses_emails=self.emails_sent,
            sqs_requests=sum(n for call, n in self.calls.items() if call.startswith("sqs.")),
            secrets_calls=sum(n for call, n in self.calls.items() if call.startswith("secretsmanager.")),
        )
        listed = ", ".join(f"{call} {n}" for call, n in sorted(self.calls.items()))
        return (
            f"AWS Calls: {sum(self.calls.values())}{f' ({listed})' if listed else ''}\t"
            f"DynamoDB Items Read: {self.items_read}\tItems Written: {self.items_written}\t"
            f"RRU: {self.read_units:g}\tWRU: {self.write_units:g}\t"
            f"Conflicts: {self.conflicts}\tThrottles: {self.throttles}\t"
            f"USD per 1M like it: {sum(price.values()):.2f}"
        )


class UsageMeter:
    """Usage by caller, collected at the emulated AWS boundary and taken at each REPORT."""

    def __init__(self) -> None:
        self._by_caller: dict[str, InvocationUsage] = {}
        self._lock = threading.Lock()
        self._attached = False

    def attach(self) -> None:
        """Take DynamoDB's items and units from the strict emulator (the moto of this process)."""
        from local import strict_dynamodb

        strict_dynamodb.listeners.append(self._dynamodb)
        self._attached = True

    def close(self) -> None:
        if self._attached:
            from local import strict_dynamodb

            strict_dynamodb.listeners.remove(self._dynamodb)
            self._attached = False

    def _usage(self, caller: str) -> InvocationUsage:
        return self._by_caller.setdefault(caller, InvocationUsage())

    def call(
        self, caller: str, name: str, *, succeeded: bool, throttled: bool, conflict: bool, kinesis_bytes: int = 0
    ) -> None:
        with self._lock:
            usage = self._usage(caller)
            usage.calls[name] += 1
            usage.emails_sent += succeeded and name == "ses.SendEmail"
            usage.throttles += throttled
            usage.conflicts += conflict
            usage.kinesis_bytes += kinesis_bytes

    def _dynamodb(self, record: Usage) -> None:
        if not record.caller:
            return
        with self._lock:
            usage = self._usage(record.caller)
            usage.items_read += record.items_read
            usage.items_written += record.items_written
            usage.read_units += record.read_units
            usage.write_units += record.write_units

    def take(self, caller: str) -> InvocationUsage:
        with self._lock:
            return self._by_caller.pop(caller, None) or InvocationUsage()
