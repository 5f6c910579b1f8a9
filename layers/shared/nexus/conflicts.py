"""Writes that DynamoDB refused because another transaction held one of their items, sent again
with full-jitter backoff while the invocation has time left: nothing was written, so resending is
safe. A failed condition is an answer, never retried here.

docs/decisions.md, "Users at DynamoDB's scale: index entries in slots, counter shards taken in
turn, conflicts retried".
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from nexus import deadline
from nexus.errors import ConflictError
from nexus.observability import logger, metrics

T = TypeVar("T")

# A plain write to an item inside a transaction. Not TransactionInProgressException: a transaction
# with the same ClientRequestToken may still commit; botocore resends it with that token itself,
# and a new attempt (a new token) could commit beside it.
_REFUSED_WRITE_CODES = frozenset({"TransactionConflictException"})
# Why a transaction was cancelled (TransactionCanceledException), when every reason named is one.
_RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
_BASE_DELAY = 0.02
_MAX_DELAY = 0.5
# What an invocation keeps for the rest of its work once a write has gone through.
RESERVE_SECONDS = 2.0
# Outside an invocation (scripts, the backfill, tests): how long a write may keep retrying.
DEFAULT_BUDGET_SECONDS = 5.0

WRITE_CONTENTION = "concurrent_update"


def _code_and_reasons(exc: BaseException) -> tuple[str | None, list[str | None]]:
    response = getattr(exc, "response", None)  # botocore's ClientError
    if isinstance(response, dict):
        reasons = [reason.get("Code") for reason in response.get("CancellationReasons") or []]
        return response.get("Error", {}).get("Code"), reasons
    code = getattr(exc, "cause_response_code", None)  # pynamodb's wrapper of it
    if code is None:
        return None, []
    cancelled = getattr(exc, "cancellation_reasons", None) or []
    return code, [reason.code if reason else None for reason in cancelled]


def is_conflict(exc: BaseException) -> bool:
    """Whether DynamoDB refused the write for another transaction (or throughput), not for a condition."""
    code, reasons = _code_and_reasons(exc)
    if code in _REFUSED_WRITE_CODES:
        return True
    if code != "TransactionCanceledException":
        return False
    named = {reason for reason in reasons if reason not in (None, "None")}
    return bool(named) and named <= _RETRYABLE_REASONS


class Backoff:
    """Full-jitter exponential backoff bounded by the invocation's time (or a fixed budget)."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    def run(self, write: Callable[[], T], operation: str) -> T:
        left = deadline.seconds_left()
        ends = self._clock() + (DEFAULT_BUDGET_SECONDS if left is None else left - RESERVE_SECONDS)
        attempt = 0
        while True:
            try:
                return write()
            except Exception as exc:
                if not is_conflict(exc):
                    raise
                attempt += 1
                delay = self._rng.uniform(0, min(_MAX_DELAY, _BASE_DELAY * 2**attempt))
                if self._clock() + delay > ends:
                    metrics.add_metric(name="WriteConflictsExhausted", unit=MetricUnit.Count, value=1)
                    logger.warning("Write kept conflicting", extra={"operation": operation, "attempts": attempt})
                    raise ConflictError("Too many concurrent writes; try again", code=WRITE_CONTENTION) from exc
                metrics.add_metric(name="WriteConflictsRetried", unit=MetricUnit.Count, value=1)
                self._sleep(delay)


_backoff = Backoff()


def retry_conflicts[T](write: Callable[[], T], operation: str) -> T:
    """``write()``, sent again after each conflict while the invocation has time; a write still
    refused then is a ``409 concurrent_update`` (retry later), never a 5xx."""
    return _backoff.run(write, operation)
