"""Price of one million requests per route and trigger (issue 13, item 5), from measured usage.

Inputs, all from the same ``make bench`` run except the price list:

- the billed usage of each scenario (``devkit.aws_calls``: DynamoDB's consumed capacity, asked
  for with ``ReturnConsumedCapacity``, Kinesis record KB, SES recipients, SQS requests, Secrets
  Manager calls), through the real handlers against moto;
- the function's memory (template.yaml) and duration: the warm replay's median (our code's
  CPU with AWS stubbed) plus an assumed in-region latency per AWS call (``prices.json``);
- ``bench/prices.json``: one price list with its date and region.

A million requests cost: Lambda requests + GB-seconds (arm64, billed per ms), an HTTP API
request for a route, the DynamoDB request units, Kinesis ingestion, SES, SQS and Secrets
Manager. CloudWatch (logs, EMF metrics) and data transfer are left out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.costs import PRICES, usd_per_million
from local.template import Template


@dataclass(frozen=True)
class Scenario:
    label: str  # the route or trigger
    function: str
    requests: int  # requests (invocations) the measured scenario made
    http: bool = True
    warm: str | None = None  # the warm replay's scenario with the same work
    per: str = "request"


SCENARIOS = {
    "create_user": Scenario("POST /users", "CreateUserFunction", 1, warm="create_user"),
    "create_user_idempotent": Scenario("POST /users + Idempotency-Key", "CreateUserFunction", 1, warm="create_user"),
    "get_user_hit": Scenario("GET /users/{id} (cache hit)", "GetUserFunction", 1, warm="get_user_hit"),
    "get_user_miss": Scenario("GET /users/{id} (cache miss)", "GetUserFunction", 1, warm="get_user_miss"),
    "update_user": Scenario("PATCH /users/{id}", "UpdateUserFunction", 1, warm="update_user"),
    "delete_user": Scenario("DELETE /users/{id}", "DeleteUserFunction", 1, warm="delete_user"),
    "list_users_miss": Scenario("GET /users (page not cached)", "ListUsersFunction", 1, warm="list_users_miss"),
    "list_users_hit": Scenario("GET /users (page cached)", "ListUsersFunction", 1, warm="list_users_hit"),
    "track_1000_events": Scenario("POST /events (500 events)", "TrackEventsFunction", 2, warm="track_event"),
    "consumer_batch_100": Scenario(
        "Kinesis -> CountEvents (batch of 100)", "CountEventsFunction", 1, http=False, warm="consumer_batch_100"
    ),
}


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    """The price list (the local runner's REPORT lines use the same file and formula, local.costs)."""
    prices: dict[str, Any] = json.loads(path.read_text())
    return prices


def _duration_ms(calls: dict[str, int], warm_ms: float | None, latency: dict[str, float]) -> float:
    waiting = sum(n * latency.get(op.split(".")[0], 10.0) for op, n in calls.items())
    return (warm_ms or 0.0) + waiting


def price_rows(
    aws_calls: dict[str, dict[str, int]],
    usage: dict[str, dict[str, float]],
    warm: list[dict[str, Any]] | None,
    template: Template,
    prices: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Per scenario: USD per million requests, by part, and what it was computed from."""
    prices = prices or load_prices()
    warm_ms = {row["scenario"]: float(row["median_ms"]) for row in warm or []}
    functions = template.functions()
    rows = []
    for name, scenario in SCENARIOS.items():
        if name not in aws_calls:
            continue
        n = scenario.requests
        calls = {op: count / n for op, count in aws_calls[name].items()}
        used = {k: v / n for k, v in usage.get(name, {}).items()}
        measured = warm_ms.get(scenario.warm or "")
        duration = _duration_ms({op: round(c) for op, c in calls.items()}, measured, prices["assumed_call_latency_ms"])
        billed_ms = math.ceil(duration)
        parts = usd_per_million(
            memory_mb=functions[scenario.function].memory_size,
            billed_ms=billed_ms,
            http=scenario.http,
            read_units=used.get("dynamodb_rru", 0.0),
            write_units=used.get("dynamodb_wru", 0.0),
            kinesis_bytes=used.get("kinesis_kb", 0.0) * 1024,
            ses_emails=used.get("ses_emails", 0.0),
            sqs_requests=used.get("sqs_requests", 0.0),
            secrets_calls=used.get("secrets_manager_calls", 0.0),
            prices=prices,
        )
        rows.append(
            {
                "scenario": name,
                "route": scenario.label,
                "calls": round(sum(calls.values()), 2),
                "rru": round(used.get("dynamodb_rru", 0.0), 2),
                "wru": round(used.get("dynamodb_wru", 0.0), 2),
                "kinesis_kb": round(used.get("kinesis_kb", 0.0), 1),
                "memory_mb": functions[scenario.function].memory_size,
                "measured_ms": measured,
                "billed_ms": billed_ms,
                "usd_per_million": {k: round(v, 3) for k, v in parts.items()},
                "total_usd_per_million": round(sum(parts.values()), 2),
            }
        )
    return rows


def print_prices(rows: list[dict[str, Any]], prices: dict[str, Any] | None = None) -> None:
    prices = prices or load_prices()
    print(
        f"\nPrice of one million requests, USD ({prices['region']}, arm64, prices of {prices['date']},"
        " bench/prices.json; duration = warm median + assumed AWS latency per call)"
    )
    print(
        f"{'route / trigger':38} {'calls':>5} {'RRU':>5} {'WRU':>5} {'ms':>4} {'lambda':>7} {'http':>6}"
        f" {'ddb':>6} {'kin':>6} {'ses':>6} {'sqs':>5} {'total':>7}"
    )
    for row in rows:
        usd = row["usd_per_million"]
        print(
            f"{row['route']:38} {row['calls']:5.1f} {row['rru']:5.1f} {row['wru']:5.1f} {row['billed_ms']:4}"
            f" {usd['lambda']:7.2f} {usd['http_api']:6.2f} {usd['dynamodb']:6.2f} {usd['kinesis']:6.2f}"
            f" {usd['ses']:6.1f} {usd['sqs']:5.2f} {row['total_usd_per_million']:7.2f}"
        )
