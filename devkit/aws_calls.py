"""AWS calls per composite operation, counted with botocore's ``before-call`` hook on every client
created inside ``count_aws_calls()`` (retries are not extra calls); ``run_scenarios`` drives the
real handlers. tests/integration/test_aws_call_counts.py asserts the counts, ``make bench`` prints them.

docs/decisions.md, "Exact AWS call counts as tests".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import botocore.session

from devkit.api_client import ApiClient
from devkit.handlers import lambda_context, load_function
from devkit.kinesis import kinesis_event, kinesis_record
from local.provisioning import LocalResources
from local.template import Template

CONSUMER_BATCH = 100  # the template's BatchSize for CountEventsFunction


KB = 1024


def _item_bytes(item: Any) -> int:
    """An item's size as DynamoDB bills it, approximately: names plus values, as sent."""
    return len(json.dumps(item, separators=(",", ":"), default=str)) if item else 0


def _write_units(params: dict[str, Any], operation: str) -> float:
    """Write request units from the request: 1 per started KB of each item, twice in a transaction."""
    if operation == "TransactWriteItems":
        items = [next(iter(entry.values())) for entry in params.get("TransactItems", [])]
        return float(sum(2 * max(1, -(-_item_bytes(i.get("Item") or i.get("Key")) // KB)) for i in items))
    if operation == "BatchWriteItem":
        requests = [r for rs in params.get("RequestItems", {}).values() for r in rs]
        return float(sum(max(1, -(-_item_bytes(next(iter(r.values())).get("Item")) // KB)) for r in requests))
    return float(max(1, -(-_item_bytes(params.get("Item") or params.get("Key")) // KB)))


def _read_units(parsed: dict[str, Any], consistent: bool) -> float:
    """Read request units from the response: 0.5 per started 4 KB read (1 if strongly consistent)."""
    items = parsed.get("Items") or ([parsed["Item"]] if parsed.get("Item") else [])
    size = sum(_item_bytes(item) for item in items)
    return max(1, -(-size // (4 * KB))) * (1.0 if consistent else 0.5)


def _batch_read_units(params: dict[str, Any]) -> float:
    """BatchGetItem bills each key as a GetItem: at least one unit (half if eventually consistent),
    found or not; the items read here are all under 4 KB."""
    return float(
        sum(
            len(table["Keys"]) * (1.0 if table.get("ConsistentRead") else 0.5)
            for table in params["RequestItems"].values()
        )
    )


_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


class CallCounter:
    """Counts API calls by ``service.Operation`` while a window is open.

    With ``usage=True`` it also asks DynamoDB for ``ReturnConsumedCapacity=TOTAL`` and totals
    what each call is billed by (``self.usage``): read and write request units (what DynamoDB
    returns; where moto returns none or less than the request's size implies, the size rule),
    Kinesis records and their KB (rounded up per record), SES recipients, SQS requests.
    """

    def __init__(self, usage: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        self.usage: Counter[str] = Counter()
        self.with_usage = usage

    def record(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def ask_capacity(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        """provide-client-params: the API parameters as the caller gave them."""
        service = model.service_model.service_name
        if service == "dynamodb" and "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        context["bench_params"] = params
        if service == "kinesis" and model.name in ("PutRecords", "PutRecord"):
            records = params.get("Records") or [params]
            for record in records:
                size = len(record.get("Data", b"")) + len(record.get("PartitionKey", "").encode())
                self.usage["kinesis_records"] += 1
                self.usage["kinesis_kb"] += -(-size // KB)
        elif service == "sesv2" and model.name == "SendEmail":
            destination = params.get("Destination", {})
            self.usage["ses_emails"] += sum(
                len(destination.get(k, [])) for k in ("ToAddresses", "CcAddresses", "BccAddresses")
            )
        elif service == "sqs" and model.name in ("SendMessage", "SendMessageBatch"):
            bodies = (
                [params.get("MessageBody", "")]
                if model.name == "SendMessage"
                else [e.get("MessageBody", "") for e in params.get("Entries", [])]
            )
            self.usage["sqs_requests"] += max(1, -(-sum(len(b.encode()) for b in bodies) // (64 * KB)))
        elif service == "secretsmanager":
            self.usage["secrets_manager_calls"] += 1
        elif service == "ssm":
            self.usage["ssm_calls"] += 1

    def capacity(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        """after-call: the consumed capacity DynamoDB returned (or the size rule's, if more)."""
        params = context.get("bench_params", {})
        if model.service_model.service_name != "dynamodb":
            return
        returned = parsed.get("ConsumedCapacity") or []
        units = sum(c.get("CapacityUnits", 0.0) for c in (returned if isinstance(returned, list) else [returned]))
        if model.name in _WRITES:
            self.usage["dynamodb_wru"] += max(units, _write_units(params, model.name))
        elif model.name == "BatchGetItem":
            self.usage["dynamodb_rru"] += max(units, _batch_read_units(params))
        elif model.name in _READS:
            consistent = bool(params.get("ConsistentRead"))
            self.usage["dynamodb_rru"] += max(units, _read_units(parsed, consistent))

    @contextmanager
    def window(self) -> Iterator[Counter[str]]:
        """The calls made inside the ``with`` block (earlier ones are discarded)."""
        self.calls = Counter()
        self.usage = Counter()
        seen: Counter[str] = Counter()
        yield seen
        seen.update(self.calls)


@contextmanager
def count_aws_calls(usage: bool = False) -> Iterator[CallCounter]:
    """Hook every botocore client created inside the block; restore ``create_client`` after."""
    counter = CallCounter(usage)
    original = botocore.session.Session.create_client

    def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-call.*.*", counter.record)
        if usage:
            client.meta.events.register("provide-client-params.*.*", counter.ask_capacity)
            client.meta.events.register("after-call.*.*", counter.capacity)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


def _event_data(number: int) -> bytes:
    moment = datetime.now(UTC).isoformat()
    event = {"event_type": "page_view", "user_id": f"u{number % 7}", "properties": {"page": "/"}, "timestamp": moment}
    return json.dumps(event).encode()


def consumer_batch_event(size: int = CONSUMER_BATCH, first_sequence: int = 1000) -> dict[str, Any]:
    """A Kinesis batch of ``size`` valid events, as Lambda hands it to CountEventsFunction."""
    return kinesis_event([kinesis_record(_event_data(n), first_sequence + n) for n in range(size)])


# The physical limit per scenario: the fewest AWS calls that can do the operation's work (create:
# the user transaction, SendEmail, PutRecords; a key adds its record's put and update), since a
# round trip is the main cost of a request (docs/PERFORMANCE.md, "AWS calls per composite operation").
PHYSICAL_LIMITS = {
    "create_user": 3,
    "create_user_idempotent": 5,
    "get_user_hit": 1,
    "get_user_miss": 1,
    "update_user": 3,
    "list_users_miss": 2,
    "list_users_hit": 2,
    # The counters, the family's Query, the users behind its entries: with any filters.
    "list_users_one_tag": 3,
    "list_users_filters": 3,
    "list_users_search": 3,
    "user_stats": 1,
    # Four buckets of (type, day, shard) count items and the day items of the layout before.
    "event_stats_90_days": 5,
    "delete_user": 3,
}

USAGE: dict[str, dict[str, float]] = {}  # scenario -> billed usage, filled when the counter has usage on


def _counted(counter: CallCounter, operation: Callable[[], Any], name: str = "") -> dict[str, int]:
    with counter.window() as seen:
        operation()
    if counter.with_usage and name:
        USAGE[name] = dict(sorted(counter.usage.items()))
    return dict(sorted(seen.items()))


def run_scenarios(counter: CallCounter, aws: LocalResources, template: Template) -> dict[str, dict[str, int]]:
    """Each composite operation once, through the real handlers; its calls by operation.

    Call inside ``count_aws_calls()`` (and moto): the handlers' clients are created by their
    cold start here, so they carry the counting hook.
    """
    api = ApiClient(template)
    body = {"username": "counted", "email": "counted@example.com", "full_name": "Counted User", "tags": ["bench"]}
    results: dict[str, dict[str, int]] = {}

    def create(json_body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        response = api.post("/users", json_body, headers=headers)
        assert response.status == 201, response.body
        return str(response.json()["id"])

    api.module("CreateUserFunction")  # cold starts outside the windows (they make no AWS call)
    created: list[str] = []
    results["create_user"] = _counted(counter, lambda: created.append(create(body)), "create_user")
    user_id = created[0]
    keyed = {"username": "counted2", "email": "counted2@example.com"}
    key = {"Idempotency-Key": "bench-key-0001"}
    results["create_user_idempotent"] = _counted(counter, lambda: create(keyed, key), "create_user_idempotent")
    results["create_user_idempotent_replay"] = _counted(
        counter, lambda: create(keyed, key), "create_user_idempotent_replay"
    )

    def get(expected: int = 200) -> None:
        response = api.get(f"/users/{user_id}")
        assert response.status == expected, response.body

    api.module("GetUserFunction")
    results["get_user_hit"] = _counted(counter, get, "get_user_hit")  # create_user cached the user
    cache_table = aws.physical["CacheTable"]["Ref"]
    aws.client("dynamodb").delete_item(TableName=cache_table, Key={"key": {"S": f"user:{user_id}"}})
    results["get_user_miss"] = _counted(counter, get, "get_user_miss")

    def call(method: str, path: str, status: int = 200, **request: Any) -> Callable[[], None]:
        """One request through its handler, which must answer ``status``."""

        def send() -> None:
            response = api.request(method, path, **request)
            assert response.status == status, response.body

        return send

    api.module("UpdateUserFunction")
    update = call("PATCH", f"/users/{user_id}", json_body={"full_name": "Renamed"})
    results["update_user"] = _counted(counter, update, "update_user")
    list_page = call("GET", "/users", query={"limit": "20"})
    api.module("ListUsersFunction")
    results["list_users_miss"] = _counted(counter, list_page, "list_users_miss")
    results["list_users_hit"] = _counted(counter, list_page, "list_users_hit")
    cursors: list[str] = []

    def page_of_one(cursor: str | None = None) -> None:
        response = api.get("/users", query={"limit": "1", **({"cursor": cursor} if cursor else {})})
        assert response.status == 200, response.body
        cursors.append(str(response.json()["next_cursor"]))

    def filtered(query: list[tuple[str, str]]) -> Callable[[], None]:
        def page() -> None:
            response = api.get("/users", query=query)
            assert response.status == 200, response.body
            assert response.json()["items"], "the scenario lists at least one user"

        return page

    results["list_users_one_tag"] = _counted(counter, filtered([("tag", "bench")]), "list_users_one_tag")
    results["list_users_filters"] = _counted(
        counter, filtered([("tag", "bench"), ("is_active", "true")]), "list_users_filters"
    )
    results["list_users_search"] = _counted(counter, filtered([("search", "Counte")]), "list_users_search")

    # The first page with a cursor reads the signing secret; later ones find it cached.
    results["list_users_first_cursor"] = _counted(counter, page_of_one, "list_users_first_cursor")
    results["list_users_next_page"] = _counted(counter, lambda: page_of_one(cursors[0]), "list_users_next_page")

    api.module("UserStatsFunction")
    results["user_stats"] = _counted(counter, call("GET", "/stats/users"), "user_stats")
    api.module("EventStatsFunction")
    event_stats = call("GET", "/stats/events", query={"days": "90"})
    results["event_stats_90_days"] = _counted(counter, event_stats, "event_stats_90_days")
    api.module("DeleteUserFunction")
    results["delete_user"] = _counted(counter, call("DELETE", f"/users/{user_id}", 204), "delete_user")

    events = {
        "events": [{"event_type": "page_view", "user_id": f"u{n % 7}", "properties": {"page": "/"}} for n in range(500)]
    }

    def track_1000() -> None:
        for _ in range(2):
            response = api.post("/events", events)
            assert response.status == 202, response.body

    api.module("TrackEventsFunction")
    results["track_1000_events"] = _counted(counter, track_1000, "track_1000_events")

    consumer = load_function("count_events")

    def consume() -> None:
        response = consumer.handler(consumer_batch_event(), lambda_context("CountEventsFunction"))
        assert response == {"batchItemFailures": []}, response

    results["consumer_batch_100"] = _counted(counter, consume, "consumer_batch_100")
    return results
