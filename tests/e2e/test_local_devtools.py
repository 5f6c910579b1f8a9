"""The local loop's developer tools over real HTTP against `python -m local start`: faults on
demand at the emulated AWS boundary, the project's invariants on the current data, a webhook
receiver, and what each invocation cost on its REPORT line (issue 26, items 3 and 4)."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devkit.local_server import LocalServer, eventually, local_command, start_server, stop_server
from local.account import FAKE_CREDENTIALS, REGION


@pytest.fixture(scope="module")
def devserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A server of this module's own: faults are server-wide state."""
    running = start_server(tmp_path_factory.mktemp("devtools") / "server.log")
    yield running
    stop_server(running)


@pytest.fixture(autouse=True)
def _no_faults_left(devserver: LocalServer) -> Iterator[None]:
    yield
    assert devserver.request("DELETE", "/_local/faults", scope=None).status == 200


def _fault(server: LocalServer, **body: Any) -> dict[str, Any]:
    answer = server.request("POST", "/_local/faults", json_body=body, scope=None)
    assert answer.status == 200, answer.body
    return dict(answer.json()["fault"])


def _new_user(server: LocalServer) -> dict[str, Any]:
    name = f"dev_{uuid.uuid4().hex[:10]}"
    created = server.request("POST", "/users", json_body={"username": name, "email": f"{name}@example.com"})
    assert created.status == 201, created.body
    return dict(created.json())


def _report_lines(server: LocalServer, function: str) -> list[str]:
    return [line for line in server.log.read_text().splitlines() if line.startswith(f"[{function}] REPORT")]


def _field(line: str, name: str) -> str:
    found = re.search(rf"\t{re.escape(name)}: ([^\t]+)", line)
    assert found, (name, line)
    return found.group(1)


def _aws(server: LocalServer, service: str) -> Any:
    session = boto3.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )
    return session.client(service, endpoint_url=server.running["aws_endpoint_url"])  # type: ignore[call-overload]


# faults ----------------------------------------------------------------------------------------


def test_the_faults_are_listed_and_a_bad_request_changes_nothing(devserver: LocalServer) -> None:
    listing = devserver.request("GET", "/_local/faults", scope=None).json()
    assert set(listing["available"]) == {
        "dynamodb_throttling",
        "transaction_conflicts",
        "ses_rejections",
        "kinesis_partial_failures",
        "slow_webhooks",
        "function_timeout",
    }
    refused = {
        "nope": ({"name": "nope"}, "unknown fault 'nope'"),
        "rate": ({"name": "ses_rejections", "rate": 2}, "rate 2.0 is not a share from 0 to 1"),
        "function": ({"name": "ses_rejections", "function": "Nope"}, "unknown function 'Nope'"),
        "field": ({"name": "ses_rejections", "sometimes": True}, "unknown fields: sometimes"),
        "slow": ({"name": "slow_webhooks"}, "slow_webhooks needs `seconds`"),
    }
    for body, message in refused.values():
        answer = devserver.request("POST", "/_local/faults", json_body=body, scope=None)
        assert answer.status == 400, body
        assert message in answer.json()["message"]
    assert devserver.request("DELETE", "/_local/faults/nope", scope=None).status == 404
    assert devserver.request("GET", "/_local/faults", scope=None).json()["active"] == []


def test_dynamodb_throttling_of_one_function_fails_its_reads_only_while_on(devserver: LocalServer) -> None:
    user = _new_user(devserver)
    _fault(devserver, name="dynamodb_throttling", function="GetUserFunction")
    reports = len(_report_lines(devserver, "GetUserFunction"))

    throttled = devserver.request("GET", f"/users/{user['id']}")
    listed = devserver.request("GET", "/users?limit=1")

    assert throttled.status == 500, throttled.body
    assert throttled.json()["error"]["code"] == "internal_error"
    assert listed.status == 200  # another function's calls are not throttled
    [report] = eventually(lambda: _report_lines(devserver, "GetUserFunction")[reports:])
    assert int(_field(report, "Throttles")) >= 2  # every attempt botocore made
    devserver.request("DELETE", "/_local/faults/dynamodb_throttling", scope=None)
    assert devserver.request("GET", f"/users/{user['id']}").status == 200


def test_an_ses_outage_queues_the_welcome_and_the_invariants_still_hold(devserver: LocalServer) -> None:
    _fault(devserver, name="ses_rejections")
    refused_before = devserver.log.read_text().count("SendWelcomeEmailFunction 1 records 1 failed")
    user = _new_user(devserver)  # the sign-up does not fail: its welcome is queued

    emails = devserver.request("GET", "/_local/emails?format=json", scope=None).json()["emails"]
    assert not any(user["email"] in mail["to"] for mail in emails)
    assert devserver.request("GET", "/_local/invariants", scope=None).json() == {"ok": True, "broken": []}
    queue = devserver.running["resources"]["WelcomeEmailQueue"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    def waiting() -> int:
        attributes = _aws(devserver, "sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
        return sum(int(attributes[name]) for name in names)

    # The consumer is refused too: the message waits for its next try (VisibilityTimeout, 60 s).
    refused = "SendWelcomeEmailFunction 1 records 1 failed"
    assert eventually(lambda: devserver.log.read_text().count(refused) > refused_before, within=15)
    assert waiting() == 1


def test_kinesis_partial_failures_and_a_resend_count_each_event_once(devserver: LocalServer) -> None:
    event_type = f"t{uuid.uuid4().hex[:8]}"
    events = [{"event_type": event_type, "event_id": f"e-{n}", "user_id": "u-1"} for n in range(10)]
    _fault(devserver, name="kinesis_partial_failures", rate=1.0)

    refused = devserver.request("POST", "/events", json_body={"events": events})
    assert refused.status == 503, refused.body
    assert refused.json()["error"]["not_accepted"] == 10

    _fault(devserver, name="kinesis_partial_failures", rate=0.5)
    first = devserver.request("POST", "/events", json_body={"events": events})
    assert first.status in (202, 503), first.body
    devserver.request("DELETE", "/_local/faults", scope=None)
    assert devserver.request("POST", "/events", json_body={"events": events}).status == 202

    def counted() -> int:
        return int(devserver.request("GET", f"/stats/events?event_type={event_type}&days=1").json()["total"])

    assert eventually(lambda: counted() >= 10, within=30), f"counted {counted()} of 10"
    time.sleep(1.5)  # a second count of a resent event would have arrived by now
    assert counted() == 10


def test_a_slow_webhook_receiver_holds_the_stream_consumer(devserver: LocalServer) -> None:
    _fault(devserver, name="slow_webhooks", seconds=1.5)
    before = len(_report_lines(devserver, "PublishWebhooksFunction"))
    user = _new_user(devserver)

    def delivered() -> bool:
        deliveries = devserver.request("GET", "/_local/webhooks", scope=None).json()["deliveries"]
        return any(user["id"] in delivery["body"] for delivery in deliveries)

    assert eventually(delivered, within=20)
    reports = eventually(lambda: _report_lines(devserver, "PublishWebhooksFunction")[before:])
    assert max(float(_field(line, "Duration").split()[0]) for line in reports) >= 1500
    [delivery] = [
        d
        for d in devserver.request("GET", "/_local/webhooks", scope=None).json()["deliveries"]
        if user["id"] in d["body"]
    ]
    assert delivery["headers"]["nexus-signature"].startswith("t=")


def test_a_function_timeout_is_the_gateways_500_and_the_next_request_is_served(devserver: LocalServer) -> None:
    _fault(devserver, name="function_timeout", function="HealthFunction")

    timed_out = devserver.request("GET", "/health", scope=None)

    assert timed_out.status == 500
    assert timed_out.json() == {"message": "Internal Server Error"}
    devserver.request("DELETE", "/_local/faults", scope=None)
    assert devserver.request("GET", "/health", scope=None).status == 200


def test_the_cli_turns_faults_on_and_off_and_refuses_an_unknown_one(devserver: LocalServer) -> None:
    def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
        return local_command("faults", *arguments, endpoint_file=devserver.endpoint_file)

    on = cli("on", "ses_rejections", "--rate", "0.5", "--function", "CreateUserFunction")
    assert on.returncode == 0, on.stderr
    [active] = devserver.request("GET", "/_local/faults", scope=None).json()["active"]
    assert (active["name"], active["rate"], active["function"]) == ("ses_rejections", 0.5, "CreateUserFunction")
    assert cli("off").returncode == 0
    assert devserver.request("GET", "/_local/faults", scope=None).json()["active"] == []
    unknown = cli("on", "gremlins")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith("error: unknown fault 'gremlins'")
    assert "Traceback" not in unknown.stderr


# invariants ------------------------------------------------------------------------------------


def test_the_invariants_hold_on_what_the_api_wrote_and_name_what_broke(devserver: LocalServer) -> None:
    user = _new_user(devserver)
    devserver.request("PATCH", f"/users/{user['id']}", json_body={"tags": ["vip"], "is_active": False})
    assert devserver.request("GET", "/_local/invariants", scope=None).json() == {"ok": True, "broken": []}

    # A sentinel no user holds: as if a delete had left it behind.
    table = devserver.running["resources"]["UsersTable"]
    stray = f"EMAIL#stray-{uuid.uuid4().hex[:6]}@example.com"
    _aws(devserver, "dynamodb").put_item(TableName=table, Item={"pk": {"S": stray}, "user_id": {"S": user["id"]}})
    try:
        checked = devserver.request("GET", "/_local/invariants", scope=None).json()
        cli = local_command("invariants", endpoint_file=devserver.endpoint_file)
    finally:
        _aws(devserver, "dynamodb").delete_item(TableName=table, Key={"pk": {"S": stray}})

    assert checked["ok"] is False
    assert checked["broken"] == [
        {
            "rule": "names and emails unique (sentinels)",
            "detail": f"sentinel {stray} names {user['id']}, which does not hold it",
        }
    ]
    assert cli.returncode == 1
    assert f"BROKEN names and emails unique (sentinels): sentinel {stray}" in cli.stdout


# costs -----------------------------------------------------------------------------------------


def test_each_report_line_says_what_the_invocation_cost(devserver: LocalServer) -> None:
    before = len(_report_lines(devserver, "CreateUserFunction"))
    reads_before = len(_report_lines(devserver, "GetUserFunction"))
    user = _new_user(devserver)
    devserver.request("GET", f"/users/{user['id']}")

    [create] = eventually(lambda: _report_lines(devserver, "CreateUserFunction")[before:])
    [read] = eventually(lambda: _report_lines(devserver, "GetUserFunction")[reads_before:])

    assert _field(create, "AWS Calls") == "3 (dynamodb.TransactWriteItems 1, kinesis.PutRecords 1, ses.SendEmail 1)"
    assert int(_field(create, "Items Written")) >= 5  # the user, its 2 sentinels, a counter shard, entries
    assert float(_field(create, "WRU")) == 2 * int(_field(create, "Items Written"))  # a transaction: 2 per item
    # SES's $0.10 per thousand emails is most of a sign-up's price.
    assert 100 < float(_field(create, "USD per 1M like it")) < 130
    assert _field(read, "AWS Calls") == "1 (dynamodb.GetItem 1)"
    assert (_field(read, "DynamoDB Items Read"), _field(read, "Conflicts"), _field(read, "Throttles")) == (
        "1",
        "0",
        "0",
    )


def test_the_emulated_aws_answers_only_its_own_host_and_sends_no_cors_headers(devserver: LocalServer) -> None:
    """A web page elsewhere must not read or reset the emulated AWS (DNS rebinding, CORS)."""
    import urllib.error
    import urllib.request

    endpoint = devserver.running["aws_endpoint_url"]
    rebound = urllib.request.Request(f"{endpoint}/moto-api/data.json", headers={"Host": "evil.example"})  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(rebound, timeout=10)  # noqa: S310
    assert refused.value.code == 403
    page = urllib.request.Request(f"{endpoint}/moto-api/data.json", headers={"Origin": "https://evil.example"})  # noqa: S310
    with urllib.request.urlopen(page, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200
        assert "Access-Control-Allow-Origin" not in answer.headers
