"""nexus.conflicts: which refusals are conflicts, and the backoff that sends a write again."""

from __future__ import annotations

import random
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import CancellationReason, TransactWriteError, UpdateError, VerboseClientError

from nexus import deadline
from nexus.conflicts import DEFAULT_BUDGET_SECONDS, RESERVE_SECONDS, Backoff, is_conflict
from nexus.errors import ConflictError


def client_error(code: str, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "refused"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": reason} for reason in reasons]
    return ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]


def cancelled(*reasons: str) -> TransactWriteError:
    """As pynamodb raises it: its VerboseClientError carries the reasons (None where an item had none)."""
    response: Any = {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}}
    parsed = [None if r == "None" else CancellationReason(code=r) for r in reasons]
    cause = VerboseClientError(response, "TransactWriteItems", cancellation_reasons=parsed)
    return TransactWriteError("cancelled", cause=cause)


@pytest.mark.parametrize(
    ("exc", "conflict"),
    [
        (client_error("TransactionCanceledException", ["None", "TransactionConflict"]), True),
        (client_error("TransactionCanceledException", ["ThrottlingError", "None"]), True),
        (client_error("TransactionCanceledException", ["ConditionalCheckFailed", "TransactionConflict"]), False),
        (client_error("TransactionCanceledException", ["ConditionalCheckFailed"]), False),
        (client_error("TransactionCanceledException", []), False),
        (client_error("TransactionConflictException"), True),
        # The same token's transaction may still commit: botocore resends it, with that token.
        (client_error("TransactionInProgressException"), False),
        (client_error("ValidationException"), False),
        (cancelled("None", "TransactionConflict"), True),
        (cancelled("ConditionalCheckFailed", "None"), False),
        (UpdateError("refused", cause=client_error("TransactionConflictException")), True),
        (UpdateError("refused", cause=client_error("ConditionalCheckFailedException")), False),
        (RuntimeError("boom"), False),
    ],
)
def test_a_conflict_is_a_refusal_for_another_transaction_never_a_failed_condition(
    exc: BaseException, conflict: bool
) -> None:
    assert is_conflict(exc) is conflict


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def refusing(times: int) -> Any:
    calls = {"n": 0}

    def write() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise client_error("TransactionCanceledException", ["TransactionConflict"])
        return "written"

    write.calls = calls  # type: ignore[attr-defined]
    return write


def test_a_conflicting_write_is_sent_again_with_growing_jittered_waits() -> None:
    time = FakeTime()
    write = refusing(4)

    assert Backoff(sleep=time.sleep, clock=time.clock, rng=random.Random(1)).run(write, "test") == "written"

    assert write.calls["n"] == 5
    assert len(time.sleeps) == 4
    caps = [min(0.5, 0.02 * 2**attempt) for attempt in range(1, 5)]
    assert all(0 <= wait <= cap for wait, cap in zip(time.sleeps, caps, strict=True))


def test_a_write_that_keeps_conflicting_is_a_409_once_the_budget_is_spent() -> None:
    time = FakeTime()
    write = refusing(10_000)

    with pytest.raises(ConflictError) as raised:
        Backoff(sleep=time.sleep, clock=time.clock, rng=random.Random(2)).run(write, "test")

    assert raised.value.code == "concurrent_update"
    assert time.now <= DEFAULT_BUDGET_SECONDS
    assert write.calls["n"] > 10


def test_inside_an_invocation_the_budget_is_its_time_left_less_a_reserve() -> None:
    class Context:
        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return int((RESERVE_SECONDS + 0.3) * 1000)

    time = FakeTime()
    with deadline.invocation(Context()), pytest.raises(ConflictError):
        Backoff(sleep=time.sleep, clock=time.clock, rng=random.Random(3)).run(refusing(10_000), "test")
    assert time.now <= 0.3


def test_other_errors_and_failed_conditions_are_not_retried() -> None:
    time = FakeTime()
    backoff = Backoff(sleep=time.sleep, clock=time.clock)

    def failed_condition() -> None:
        raise client_error("TransactionCanceledException", ["ConditionalCheckFailed"])

    with pytest.raises(ClientError):
        backoff.run(failed_condition, "test")
    assert time.sleeps == []
