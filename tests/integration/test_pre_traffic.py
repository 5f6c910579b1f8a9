"""The pre-traffic hook, run locally: a new version answers its probe before it takes traffic.

Each probe goes through its function's real handler on the template's resources in moto. moto
has no CodeDeploy lifecycle hooks, so CodeDeploy's side is a botocore Stubber, which holds every
request and answer to the service's API model; Lambda's side runs the function in this process
as Lambda would (an exception is a ``FunctionError``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from devkit.handlers import lambda_context, load_function
from local.provisioning import LocalResources
from local.template import Template
from nexus import aws as aws_clients
from nexus.deploys.probes import PROBES, HttpProbe
from nexus.observability import metrics
from nexus.operations.pre_traffic import PreTrafficCheck
from nexus.settings import PreTrafficSettings

HOOK = "PreTrafficHookFunction"
DEPLOYMENT_ID = "d-ABCDEF123"
EXECUTION_ID = "hook-execution-1"
HOOK_EVENT = {"DeploymentId": DEPLOYMENT_ID, "LifecycleEventHookExecutionId": EXECUTION_ID}
TABLES = ("UsersTable", "AnalyticsTable", "CacheTable", "IdempotencyTable")
DEPLOYED = sorted(set(Template().functions()) - {HOOK})


class InProcessLambda:
    """Lambda's Invoke for the functions of this process: the handler's answer, or its error."""

    def __init__(self, before_cold_start: Callable[[str], None] = lambda name: None) -> None:
        self.invoked: list[tuple[str, str, dict[str, Any]]] = []
        self._before_cold_start = before_cold_start

    def invoke(self, *, FunctionName: str, Qualifier: str, Payload: bytes) -> dict[str, Any]:
        event = json.loads(Payload)
        self.invoked.append((FunctionName, Qualifier, event))
        try:
            self._before_cold_start(FunctionName)
            module = load_function(Template().functions()[FunctionName].code_uri.name)
            answer = module.handler(event, lambda_context(FunctionName))
        except Exception as exc:  # noqa: BLE001 - what Lambda reports as the invocation's error
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(error).encode())}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


@pytest.fixture
def codedeploy(aws: LocalResources) -> Iterator[Stubber]:
    client = aws_clients.session().create_client("codedeploy", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _deploying(stubber: Stubber, function: str, version: str = "7") -> None:
    """CodeDeploy's answers for a deployment of ``function``'s ``version`` behind "live"."""
    target_id = f"{function}:live"
    stubber.add_response("list_deployment_targets", {"targetIds": [target_id]}, {"deploymentId": DEPLOYMENT_ID})
    stubber.add_response(
        "get_deployment_target",
        {
            "deploymentTarget": {
                "deploymentTargetType": "LambdaTarget",
                "lambdaTarget": {
                    "deploymentId": DEPLOYMENT_ID,
                    "targetId": target_id,
                    "lambdaFunctionInfo": {
                        "functionName": function,
                        "functionAlias": "live",
                        "currentVersion": "6",
                        "targetVersion": version,
                        "targetVersionWeight": 0.0,
                    },
                },
            }
        },
        {"deploymentId": DEPLOYMENT_ID, "targetId": target_id},
    )


def _expect_report(stubber: Stubber, status: str) -> None:
    stubber.add_response(
        "put_lifecycle_event_hook_execution_status",
        {"lifecycleEventHookExecutionId": EXECUTION_ID},
        {"deploymentId": DEPLOYMENT_ID, "lifecycleEventHookExecutionId": EXECUTION_ID, "status": status},
    )


def _hook(codedeploy: Stubber, lambda_client: InProcessLambda) -> PreTrafficCheck:
    # The hook's own environment, as the template gives it (the aws fixture set every function's).
    check = PreTrafficCheck(PreTrafficSettings.from_env(), codedeploy=codedeploy.client, lambda_client=lambda_client)
    check.initialize()
    return check


def _everything(aws: LocalResources, table_items: Callable[[str], list[dict[str, Any]]]) -> dict[str, Any]:
    """What a probe must leave as it found it: every table, the stream and the queues."""
    stream = aws.physical["AnalyticsStream"]["Ref"]
    kinesis = aws.client("kinesis")
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    queues = {
        name: aws.client("sqs").get_queue_attributes(
            QueueUrl=aws.physical[name]["Ref"], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        for name in aws.template.of_type("AWS::SQS::Queue")
    }
    return {
        "tables": {name: sorted(map(str, table_items(name))) for name in TABLES},
        "stream": len(kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]),
        "queues": queues,
    }


def test_the_hook_knows_every_deployed_function_and_has_a_probe_for_each(aws: LocalResources) -> None:
    hook_environment = aws.environment(Template().functions()[HOOK])
    names = json.loads(hook_environment["PRE_TRAFFIC_FUNCTIONS"])

    assert sorted(names.values()) == sorted(PROBES) == DEPLOYED
    # Locally a function's name is its logical id; deployed, CloudFormation's name for it.
    assert all(name == aws.physical[logical_id]["Ref"] for name, logical_id in names.items())


@pytest.mark.parametrize("function", DEPLOYED)
def test_each_probe_passes_on_a_working_stack_and_changes_nothing(
    function: str, aws: LocalResources, table_items: Callable[[str], list[dict[str, Any]]]
) -> None:
    probe = PROBES[function]
    before = _everything(aws, table_items)

    answer = load_function(Template().functions()[function].code_uri.name).handler(
        probe.event(""), lambda_context(function)
    )

    assert probe.verdict(answer) is None, answer
    assert _everything(aws, table_items) == before


@pytest.mark.parametrize("function", sorted(name for name, probe in PROBES.items() if isinstance(probe, HttpProbe)))
def test_each_http_probe_carries_its_routes_key_and_the_deployments_scope_names(function: str) -> None:
    (route,) = Template().functions()[function].routes
    event = PROBES[function].event("nexus/")

    assert event["routeKey"] == event["requestContext"]["routeKey"] == route.route_key
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert set(claims["scope"].split()) == {
        "nexus/users:read",
        "nexus/users:write",
        "nexus/analytics:read",
        "nexus/analytics:write",
    }


def test_a_version_that_answers_its_probe_is_let_through(aws: LocalResources, codedeploy: Stubber) -> None:
    lambda_client = InProcessLambda()
    _deploying(codedeploy, "GetUserFunction", version="7")
    _expect_report(codedeploy, "Succeeded")

    outcome = _hook(codedeploy, lambda_client).run(HOOK_EVENT)

    assert outcome.status == "Succeeded", outcome
    ((name, version, event),) = lambda_client.invoked
    assert (name, version) == ("GetUserFunction", "7")  # the new version, not the alias
    assert event["routeKey"] == "GET /users/{user_id}"
    assert "PreTrafficChecksFailed" not in metrics.metric_set


def test_a_version_whose_cold_start_fails_is_stopped(
    aws: LocalResources, codedeploy: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The new version's environment lacks what its services read: its cold start fails.
    lambda_client = InProcessLambda(before_cold_start=lambda name: monkeypatch.delenv("USERS_TABLE_NAME"))
    _deploying(codedeploy, "ListUsersFunction")
    _expect_report(codedeploy, "Failed")

    outcome = _hook(codedeploy, lambda_client).run(HOOK_EVENT)

    assert outcome.status == "Failed"
    assert outcome.problem is not None
    assert "version 7 failed" in outcome.problem
    assert "USERS_TABLE_NAME" in outcome.problem
    assert metrics.serialize_metric_set()["PreTrafficChecksFailed"] == [1.0]


def test_a_version_that_cannot_reach_its_table_is_stopped(aws: LocalResources, codedeploy: Stubber) -> None:
    aws.client("dynamodb").delete_table(TableName=aws.physical["UsersTable"]["Ref"])
    _deploying(codedeploy, "HealthFunction")
    _expect_report(codedeploy, "Failed")

    outcome = _hook(codedeploy, InProcessLambda()).run(HOOK_EVENT)

    assert outcome.status == "Failed"
    assert outcome.problem is not None
    assert outcome.problem.startswith("GET /health answered 503, expected one of [200]")


def test_a_function_the_hook_does_not_know_is_stopped_without_being_invoked(
    aws: LocalResources, codedeploy: Stubber
) -> None:
    lambda_client = InProcessLambda()
    _deploying(codedeploy, "SomeoneElsesFunction")
    _expect_report(codedeploy, "Failed")

    outcome = _hook(codedeploy, lambda_client).run(HOOK_EVENT)

    assert outcome.status == "Failed"
    assert outcome.problem == "SomeoneElsesFunction is not a function this hook knows how to check"
    assert lambda_client.invoked == []


def test_a_check_that_cannot_run_still_reports_failed(aws: LocalResources, codedeploy: Stubber) -> None:
    # Never left for CodeDeploy's 1-hour timeout: the deployment ends now, rolled back.
    codedeploy.add_client_error("list_deployment_targets", "ThrottlingException", "Rate exceeded")
    _expect_report(codedeploy, "Failed")

    outcome = _hook(codedeploy, InProcessLambda()).run(HOOK_EVENT)

    assert outcome.status == "Failed"
    assert outcome.problem is not None
    assert "ThrottlingException" in outcome.problem


def test_an_event_that_is_not_codedeploys_is_refused_before_any_call(aws: LocalResources, codedeploy: Stubber) -> None:
    lambda_client = InProcessLambda()

    with pytest.raises(ValueError, match="DeploymentId"):
        _hook(codedeploy, lambda_client).run({"DeploymentId": "not-a-deployment", "LifecycleEventHookExecutionId": "x"})

    assert lambda_client.invoked == []
