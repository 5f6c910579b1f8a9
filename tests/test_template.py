"""template.yaml lints clean in both cache modes, and holds as CloudFormation receives it.

Most checks judge the EXPANDED template: Fn::ForEach and SAM's transform applied by
aws-sam-translator (.ci/expand_template.py, run offline with the SAM venv's interpreter), with
the conditions of each cache mode resolved. That is where SAM adds what the source does not
say (managed execution roles for stream and queue triggers, policy templates' wildcards).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from functools import cache
from typing import Any

import pytest
import yaml
from cfnlint.api import lint

from local.template import ROOT, TEMPLATE_PATH, Template, text_with_defaults

# The cache modes the checks lint (.ci/cache-modes.yaml); Redis mode also with an alarm e-mail,
# whose subscription exists only then.
CACHE_MODES: dict[str, dict[str, str]] = yaml.safe_load((ROOT / ".ci" / "cache-modes.yaml").read_text())
REDIS_MODE = CACHE_MODES["redis"]
MODES = {"dynamodb": CACHE_MODES["dynamodb"], "redis": {**REDIS_MODE, "AlarmEmail": "oncall@example.com"}}
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
RUNBOOK = ROOT / "docs" / "OPERATIONS.md"

# The only actions a role may have on Resource "*": they name no resource (X-Ray, EMF's
# PutMetricData, the Describe calls Lambda makes for a VPC function's network interfaces).
UNSCOPED_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
}
XRAY_WRITE_ONLY = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"}
VPC_FUNCTIONS = {
    "CreateUserFunction",
    "GetUserFunction",
    "GetUserByUsernameFunction",
    "UpdateUserFunction",
    "DeleteUserFunction",
    "ListUsersFunction",
    "HealthFunction",
}


def _redis_mode_text() -> str:
    """The template with Redis mode's parameter defaults, and W1030 (which checks them) back on."""
    text = text_with_defaults(REDIS_MODE)
    without_ignore, count = re.subn(r"\n  cfn-lint:\n    config:\n(?:      .*\n)*", "\n", text, count=1)
    assert count == 1
    return without_ignore


def test_the_template_lints_clean_in_dynamodb_mode() -> None:
    assert [str(match) for match in lint(TEMPLATE_PATH.read_text(), regions=["us-east-1"])] == []


def test_the_template_lints_clean_in_redis_mode() -> None:
    assert [str(match) for match in lint(_redis_mode_text(), regions=["us-east-1"])] == []


def test_redis_mode_rewrites_the_parameters_it_claims() -> None:
    parameters = yaml.safe_load(re.sub(r"!\w+", "", _redis_mode_text()))["Parameters"]

    assert {name: parameters[name]["Default"] for name in REDIS_MODE} == REDIS_MODE


# The expanded template ----------------------------------------------------------------------


def _expand(parameters: dict[str, str]) -> dict[str, Any]:
    """The template as CloudFormation receives it, with these parameters (.ci/expand_template.py)."""
    overrides = [f"{name}={value}" for name, value in parameters.items()]
    result = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [str(SAM_PYTHON), str(ROOT / ".ci" / "expand_template.py"), "--resolve", *overrides],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@cache
def _expanded(mode: str) -> dict[str, Any]:
    return _expand(MODES[mode])


@pytest.fixture(params=sorted(MODES), scope="module")
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def expanded(mode: str) -> dict[str, Any]:
    return _expanded(mode)


def _of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_of(function: dict[str, Any]) -> str:
    role = function["Properties"]["Role"]
    assert set(role) == {"Fn::GetAtt"}, role
    return str(role["Fn::GetAtt"][0])


def _reference(value: Any) -> str | None:
    """The logical id in {"Ref": X} or {"Fn::Sub": "${X}"} (how Fn::ForEach spells a Ref), else None."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        match = re.fullmatch(r"\$\{([A-Za-z0-9]+)\}", value["Fn::Sub"])
        return match.group(1) if match else None
    return None


def _statements(template: dict[str, Any], role_name: str) -> list[dict[str, Any]]:
    """Every statement a role gets: its inline policies, the template's managed policies it attaches,
    and the template's policies (AWS::IAM::Policy) attached to it."""
    role = template["Resources"][role_name]["Properties"]
    found = [s for policy in role.get("Policies", []) for s in _as_list(policy["PolicyDocument"]["Statement"])]
    for arn in role.get("ManagedPolicyArns", []):
        name = _reference(arn)
        if name is not None:
            managed = template["Resources"][name]
            assert managed["Type"] == "AWS::IAM::ManagedPolicy"
            found.extend(_as_list(managed["Properties"]["PolicyDocument"]["Statement"]))
    for policy in _of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role_name} in policy["Properties"].get("Roles", []):
            found.extend(_as_list(policy["Properties"]["PolicyDocument"]["Statement"]))
    return found


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _of_type(template, "AWS::Lambda::Function")


def _invoked_function(template: dict[str, Any], target: Any) -> str | None:
    """The function a FunctionName invokes: itself, or the function behind its alias
    (AutoPublishAlias: event sources and routes invoke the alias "live")."""
    name = _reference(target)
    resource = template["Resources"].get(name or "", {})
    if resource.get("Type") == "AWS::Lambda::Alias":
        return _reference(resource["Properties"]["FunctionName"])
    return name


def test_every_function_has_a_role_of_its_own_written_in_the_template(expanded: dict[str, Any]) -> None:
    functions = _functions(expanded)
    roles = [_role_of(function) for function in functions.values()]

    assert len(set(roles)) == len(roles)
    # SAM names the roles it generates <Function>Role; ours are <Name>Role, written by hand.
    assert not any(role == f"{name}Role" for name, role in zip(functions, roles, strict=True))
    # The one other role is CodeDeploy's, also ours (SAM's CodeDeployServiceRole is not generated).
    assert set(roles) | {"DeployRole"} == set(_of_type(expanded, "AWS::IAM::Role"))


def test_no_role_carries_an_aws_managed_policy_but_xray_write_only(expanded: dict[str, Any]) -> None:
    for name, role in _of_type(expanded, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            our_own = _reference(arn) in _of_type(expanded, "AWS::IAM::ManagedPolicy")
            assert our_own or arn == XRAY_WRITE_ONLY, (name, arn)


def test_no_action_is_a_wildcard(expanded: dict[str, Any]) -> None:
    for role in _of_type(expanded, "AWS::IAM::Role"):
        for statement in _statements(expanded, role):
            assert statement["Effect"] == "Allow"
            assert all("*" not in action for action in _as_list(statement["Action"])), (role, statement)


def test_only_actions_that_name_no_resource_are_on_resource_star(expanded: dict[str, Any]) -> None:
    for role in _of_type(expanded, "AWS::IAM::Role"):
        for statement in _statements(expanded, role):
            if "*" in _as_list(statement["Resource"]):
                assert set(_as_list(statement["Action"])) <= UNSCOPED_ACTIONS, (role, statement)


def test_network_interface_actions_only_where_a_function_runs_in_the_vpc(mode: str, expanded: dict[str, Any]) -> None:
    for name, function in _functions(expanded).items():
        in_vpc = "VpcConfig" in function["Properties"]
        actions = {a for s in _statements(expanded, _role_of(function)) for a in _as_list(s["Action"])}
        assert in_vpc == (mode == "redis" and name in VPC_FUNCTIONS), (
            f"{name}: a function that uses the cache is in VPC_FUNCTIONS and Fn::ForEach::VpcFunctionRoles; "
            "any other says IgnoreGlobals: [VpcConfig] (docs/EXTENDING.md, step 6)"
        )
        assert in_vpc == ("ec2:CreateNetworkInterface" in actions), (
            f"{name}: only a function in the VPC has a role in Fn::ForEach::VpcFunctionRoles"
        )


def test_each_function_writes_only_its_own_log_group_which_expires(expanded: dict[str, Any]) -> None:
    log_groups = _of_type(expanded, "AWS::Logs::LogGroup")
    for name, function in _functions(expanded).items():
        logging = function["Properties"]["LoggingConfig"]
        group = logging["LogGroup"]["Ref"]
        assert logging["LogFormat"] == "JSON"
        assert logging["ApplicationLogLevel"] == {"Ref": "LogLevel"}
        assert function["Properties"]["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
        properties = log_groups[group]["Properties"]
        assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert "KmsKeyId" in properties
        # Never /aws/lambda/<function name>: that group may exist before the stack (OPERATIONS.md).
        assert properties["LogGroupName"]["Fn::Sub"].startswith("/aws/lambda/${AWS::StackName}/")
        logs = [s for s in _statements(expanded, _role_of(function)) if str(s["Action"]).count("logs:")]
        assert logs == [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": {"Fn::Sub": f"${{{group}.Arn}}"},
            }
        ], name


def _mappings(expanded: dict[str, Any], mapping_type: str) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
        for r in _of_type(expanded, "AWS::Lambda::EventSourceMapping").values()
        if mapping_type in json.dumps(r["Properties"]["EventSourceArn"])
    }


def _grants(expanded: dict[str, Any], function: str) -> list[tuple[str, str]]:
    role = _role_of(expanded["Resources"][function])
    return [
        (action, json.dumps(resource, sort_keys=True))
        for statement in _statements(expanded, role)
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    ]


def _reads(expanded: dict[str, Any], secret: str) -> list[str]:
    wanted = ("secretsmanager:GetSecretValue", json.dumps({"Ref": secret}))
    return sorted(name for name in _functions(expanded) if wanted in _grants(expanded, name))


def test_only_the_list_function_has_and_may_read_the_cursor_secret(expanded: dict[str, Any]) -> None:
    functions = _functions(expanded)
    having = sorted(
        name
        for name, function in functions.items()
        if "CURSOR_SIGNING_SECRET_ARN" in function["Properties"]["Environment"]["Variables"]
    )

    assert having == _reads(expanded, "CursorSigningSecret") == ["ListUsersFunction"]
    variables = functions["ListUsersFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["CURSOR_SIGNING_SECRET_ARN"] == {"Ref": "CursorSigningSecret"}


def test_in_redis_mode_the_functions_on_the_cache_and_only_they_may_read_its_password(
    mode: str, expanded: dict[str, Any]
) -> None:
    if mode == "redis":
        assert _reads(expanded, "RedisPasswordSecret") == sorted(VPC_FUNCTIONS)
    else:
        assert "RedisPasswordSecret" not in expanded["Resources"]
        assert "RedisPasswordReadPolicy" not in expanded["Resources"]


@pytest.mark.parametrize(
    ("function", "source", "reads"),
    [
        (
            "CountEventsFunction",
            {"Fn::GetAtt": ["AnalyticsStream", "Arn"]},
            {
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            },
        ),
        (
            "PublishWebhooksFunction",
            {"Fn::GetAtt": ["UsersTable", "StreamArn"]},
            {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"},
        ),
        (
            "SendWelcomeEmailFunction",
            {"Fn::GetAtt": ["WelcomeEmailQueue", "Arn"]},
            {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
        ),
    ],
)
def test_a_trigger_reads_only_its_own_source_and_sends_failures_to_its_destination(
    expanded: dict[str, Any], function: str, source: dict[str, Any], reads: set[str]
) -> None:
    [mapping] = [
        r["Properties"]
        for r in _of_type(expanded, "AWS::Lambda::EventSourceMapping").values()
        if _invoked_function(expanded, r["Properties"]["FunctionName"]) == function
    ]
    grants = _grants(expanded, function)
    source_key = json.dumps(source, sort_keys=True)
    read_prefix = next(iter(reads)).split(":")[0] + ":"

    assert mapping["EventSourceArn"] == source
    assert {action for action, resource in grants if resource == source_key} >= reads
    # Reads of that service go to this source only (ListStreams names the table's streams).
    others = {(a, r) for a, r in grants if a in reads and r != source_key}
    assert others == set(), others
    assert not any(a.startswith(read_prefix) and a in reads and r == '"*"' for a, r in grants)
    destination = mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    if destination is not None:
        assert ("sqs:SendMessage", json.dumps(destination, sort_keys=True)) in grants


def test_read_functions_cannot_write_the_users_table(expanded: dict[str, Any]) -> None:
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    users_table = json.dumps({"Fn::GetAtt": ["UsersTable", "Arn"]}, sort_keys=True)
    for name in ("GetUserByUsernameFunction", "ListUsersFunction", "HealthFunction", "UserStatsFunction"):
        assert not {action for action, resource in _grants(expanded, name) if resource == users_table} & writes, name


def test_the_data_that_cannot_be_rebuilt_survives_a_delete(expanded: dict[str, Any]) -> None:
    users, analytics = expanded["Resources"]["UsersTable"], expanded["Resources"]["AnalyticsTable"]

    assert users["Properties"]["DeletionProtectionEnabled"] is True
    assert users["DeletionPolicy"] == users["UpdateReplacePolicy"] == "Retain"
    assert analytics["DeletionPolicy"] == analytics["UpdateReplacePolicy"] == "Retain"
    for name, table in _of_type(expanded, "AWS::DynamoDB::Table").items():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name


# Alarms -------------------------------------------------------------------------------------


def _alarms(expanded: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in _of_type(expanded, "AWS::CloudWatch::Alarm").items()}


def _alarms_on(expanded: dict[str, Any], namespace: str, metric: str) -> dict[str, dict[str, Any]]:
    return {
        n: a for n, a in _alarms(expanded).items() if (a.get("Namespace"), a.get("MetricName")) == (namespace, metric)
    }


def _dimension(alarm: dict[str, Any]) -> Any:
    [dimension] = alarm["Dimensions"]
    return dimension["Value"]


def _dead_letter_queues(expanded: dict[str, Any]) -> set[str]:
    """Queues that something sends its failures to: a redrive policy or an on-failure destination."""
    found = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in _of_type(expanded, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    for subscription in _of_type(expanded, "AWS::SNS::Subscription").values():
        found.add(subscription["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0])
    for mapping in _of_type(expanded, "AWS::Lambda::EventSourceMapping").values():
        destination = mapping["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination:
            found.add(destination["Fn::GetAtt"][0])
    return found


def test_every_alarm_notifies_the_encrypted_alarm_topic(mode: str, expanded: dict[str, Any]) -> None:
    topic = expanded["Resources"]["AlarmTopic"]["Properties"]
    subscriptions = _of_type(expanded, "AWS::SNS::Subscription")

    assert topic["KmsMasterKeyId"] == {"Ref": "OperationsKey"}
    key_policy = expanded["Resources"]["OperationsKey"]["Properties"]["KeyPolicy"]["Statement"]
    [cloudwatch] = [s for s in key_policy if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    [logs] = [s for s in key_policy if s["Sid"] == "LogsOfThisAccount"]
    scoped = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert [pattern["Fn::Sub"].rsplit(":log-group:", 1)[1] for pattern in scoped] == [
        "/aws/lambda/${AWS::StackName}/*",
        "/aws/apigateway/${AWS::StackName}/*",
    ], "the logs service may use the key for this stack's log groups only"
    log_groups = [
        g["Properties"]["LogGroupName"]["Fn::Sub"] for g in _of_type(expanded, "AWS::Logs::LogGroup").values()
    ]
    assert all(
        g.startswith(("/aws/lambda/${AWS::StackName}/", "/aws/apigateway/${AWS::StackName}/")) for g in log_groups
    )
    triggers = _rollback_triggers(expanded)
    for name, alarm in _alarms(expanded).items():
        if name.endswith("LiveErrorsAlarm"):
            # CodeDeploy's trigger, not a page: <Name>ErrorsAlarm pages for the same errors.
            assert name in triggers, name
            assert "AlarmActions" not in alarm, name
            continue
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert "docs/OPERATIONS.md#" in alarm["AlarmDescription"], name
    if mode == "redis":  # expanded with AlarmEmail set
        [subscription] = subscriptions.values()
        assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    else:
        assert subscriptions == {}


# The runbook's one-per-function rows say which functions they stand for, never how many.
_PER_FUNCTION_ROWS = {"one per function": "every", "one per deployed function": "deployed"}


def _runbook_alarms() -> tuple[set[str], dict[str, str]]:
    """docs/OPERATIONS.md's alarm table: the alarms it names, and which functions each
    one-per-function row (``<Name>ErrorsAlarm``, one per function) stands for, by suffix."""
    section = RUNBOOK.read_text().split("\n## Alarms\n", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    per_function: dict[str, str] = {}
    for cell in re.findall(r"^\| (`[^|]+) \|", section, re.MULTILINE):
        for name in re.findall(r"`([^`]+)`", cell):
            if name.startswith("<Name>"):
                kind = next((k for phrase, k in _PER_FUNCTION_ROWS.items() if f"{phrase}" in cell), None)
                assert kind, f"docs/OPERATIONS.md: {cell!r} says one of {sorted(_PER_FUNCTION_ROWS)}"
                per_function[name.removeprefix("<Name>")] = kind
            else:
                named.add(name)
    return named, per_function


def test_the_runbook_lists_every_alarm_and_what_each_per_function_row_stands_for(expanded: dict[str, Any]) -> None:
    alarms = set(_alarms(expanded))
    documented, per_function = _runbook_alarms()
    # Deployed through CodeDeploy: the aliases SAM gives an update policy (every function but the hook).
    deployed = {
        _reference(alias["Properties"]["FunctionName"])
        for alias in _of_type(expanded, "AWS::Lambda::Alias").values()
        if "CodeDeployLambdaAliasUpdate" in alias.get("UpdatePolicy", {})
    }
    functions = {"every": set(_functions(expanded)), "deployed": deployed}

    assert per_function, "docs/OPERATIONS.md's alarm table has its one-per-function rows"
    for suffix, kind in per_function.items():
        expected = {f"{name.removesuffix('Function')}{suffix}" for name in functions[kind]}
        assert expected <= alarms, f"functions without their {suffix}: {sorted(expected - alarms)}"
        documented |= expected
    assert sorted(alarms - documented) == [], "alarms docs/OPERATIONS.md's table does not list"
    assert sorted(documented - alarms) == [], "alarms docs/OPERATIONS.md's table lists that the template lacks"


def test_every_function_has_an_errors_and_a_throttles_alarm(expanded: dict[str, Any]) -> None:
    for metric, threshold in (
        ("Errors", "FunctionErrorsAlarmThreshold"),
        ("Throttles", "FunctionThrottlesAlarmThreshold"),
    ):
        # Each function's own (every invocation); the rollback triggers (the alias only) are checked below.
        alarms = {n: a for n, a in _alarms_on(expanded, "AWS/Lambda", metric).items() if len(a["Dimensions"]) == 1}
        assert sorted(_dimension(a)["Fn::Sub"] for a in alarms.values()) == sorted(
            f"${{{name}}}" for name in _functions(expanded)
        ), metric
        assert all(
            a["Threshold"] == {"Ref": threshold} and a["TreatMissingData"] == "notBreaching" for a in alarms.values()
        )


def test_every_dead_letter_queue_alarms_on_one_message(expanded: dict[str, Any]) -> None:
    dead_letter_queues = _dead_letter_queues(expanded)
    alarms = _alarms_on(expanded, "AWS/SQS", "ApproximateNumberOfMessagesVisible").values()
    # Undelivered alarm notifications are kept too; that queue exists (and is alarmed on) in every mode.
    queues = {"AnalyticsDeadLetterQueue", "WelcomeEmailDeadLetterQueue", "WebhookDeadLetterQueue"}
    alarm_delivery = "AlarmDeliveryDeadLetterQueue"

    assert dead_letter_queues - {alarm_delivery} == queues
    assert {_dimension(a)["Fn::Sub"] for a in alarms} == {f"${{{q}.QueueName}}" for q in {*queues, alarm_delivery}}
    assert all(a["Threshold"] == 1 and a["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" for a in alarms)


def test_every_stream_consumer_alarms_well_inside_the_streams_retention(expanded: dict[str, Any]) -> None:
    consumers = {
        _invoked_function(expanded, r["Properties"]["FunctionName"])
        for r in _of_type(expanded, "AWS::Lambda::EventSourceMapping").values()
        if "StartingPosition" in r["Properties"]
    }
    alarms = _alarms_on(expanded, "AWS/Lambda", "IteratorAge").values()
    threshold = expanded["Parameters"]["IteratorAgeAlarmMilliseconds"]

    assert consumers == {"CountEventsFunction", "PublishWebhooksFunction"}
    assert {_dimension(a)["Fn::Sub"] for a in alarms} == {f"${{{c}}}" for c in consumers}
    assert all(a["Threshold"] == {"Ref": "IteratorAgeAlarmMilliseconds"} for a in alarms)
    # Within the 1 h after which records go to the DLQ, far inside the streams' 24 h.
    assert threshold["MaxValue"] <= 3_600_000
    assert int(threshold["Default"]) <= 3_600_000
    assert expanded["Resources"]["AnalyticsStream"]["Properties"]["RetentionPeriodHours"] == 24


def test_the_api_5xx_alarm_watches_the_http_api(expanded: dict[str, Any]) -> None:
    [alarm] = _alarms_on(expanded, "AWS/ApiGateway", "5xx").values()

    assert _dimension(alarm) == {"Ref": "HttpApi"}
    assert alarm["Threshold"] == {"Ref": "Api5xxAlarmThreshold"}


def _layer_metrics() -> set[str]:
    pattern = re.compile(r'add_metric\(name="(\w+)"')
    return {m for path in (ROOT / "layers/shared/nexus").rglob("*.py") for m in pattern.findall(path.read_text())}


def test_the_application_alarms_watch_metrics_the_layer_emits(expanded: dict[str, Any]) -> None:
    environment = next(iter(_functions(expanded).values()))["Properties"]["Environment"]["Variables"]
    alarms = {
        n: a for n, a in _alarms(expanded).items() if a.get("Namespace") == environment["POWERTOOLS_METRICS_NAMESPACE"]
    }
    metrics = {a["MetricName"] for a in alarms.values()}

    assert metrics == {
        "UnhandledErrors",
        "WelcomeEmailFailures",
        "WelcomeEmailsNotQueued",
        "AnalyticsEventsFailed",
        "CacheErrors",
        "WebhookDeliveryFailures",
        "WriteConflictsExhausted",
        "PreTrafficChecksFailed",
    }
    assert metrics <= _layer_metrics()
    for alarm in alarms.values():
        assert alarm["Dimensions"] == [{"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]}]
        # Each threshold is the parameter named after the metric.
        parameter = alarm["Threshold"]["Fn::Sub"].strip("${}")
        assert parameter == f"{alarm['MetricName']}AlarmThreshold"
        assert expanded["Parameters"][parameter]["Type"] == "Number"


# Queues, API limits, access log, dashboard ------------------------------------------------


def test_every_queue_is_encrypted_and_either_redrives_or_is_a_dead_letter_queue(expanded: dict[str, Any]) -> None:
    dead_letter_queues = _dead_letter_queues(expanded)
    for name, queue in _of_type(expanded, "AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
        is_dead_letter_queue = name in dead_letter_queues or name == "AlarmDeliveryDeadLetterQueue"
        assert ("RedrivePolicy" in queue["Properties"]) != is_dead_letter_queue, name


def test_the_api_is_throttled_and_tighter_where_it_is_cheap_to_abuse(expanded: dict[str, Any]) -> None:
    [stage] = _of_type(expanded, "AWS::ApiGatewayV2::Stage").values()
    properties = stage["Properties"]

    assert properties["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
    }
    assert properties["RouteSettings"] == {
        "GET /health": {
            "ThrottlingBurstLimit": {"Ref": "HealthThrottlingBurstLimit"},
            "ThrottlingRateLimit": {"Ref": "HealthThrottlingRateLimit"},
        },
        "POST /events": {
            "ThrottlingBurstLimit": {"Ref": "EventsThrottlingBurstLimit"},
            "ThrottlingRateLimit": {"Ref": "EventsThrottlingRateLimit"},
        },
    }
    assert set(properties["RouteSettings"]) <= {route.route_key for route in Template().routes()}


def test_the_access_log_is_json_with_what_an_incident_needs(expanded: dict[str, Any]) -> None:
    [stage] = _of_type(expanded, "AWS::ApiGatewayV2::Stage").values()
    entry = json.loads(stage["Properties"]["AccessLogSettings"]["Format"])

    assert {
        "requestId": "$context.requestId",
        "sub": "$context.authorizer.claims.sub",  # who: the token's subject (issue 25)
        "ip": "$context.identity.sourceIp",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "integrationStatus": "$context.integrationStatus",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
        "latency": "$context.responseLatency",
    }.items() <= entry.items()


def test_the_dashboard_is_json_and_shows_every_route_and_the_pipelines(expanded: dict[str, Any]) -> None:
    [dashboard] = _of_type(expanded, "AWS::CloudWatch::Dashboard").values()
    body_text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    referenced = set(re.findall(r"\$\{([^}]+)\}", body_text))
    body = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body_text))
    metrics = [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]

    assert {name.split(".")[0] for name in referenced} - {"AWS::Region"} <= set(expanded["Resources"])
    http_functions = {name for name, function in Template().functions().items() if function.routes}
    for metric in ("Invocations", "Errors", "Duration", "Throttles"):
        shown = {m[3] for m in metrics if m[:2] == ["AWS/Lambda", metric]}
        assert shown == http_functions, (
            f"template.yaml's Dashboard, the {metric} widget: add {sorted(http_functions - shown)}, remove "
            f"{sorted(shown - http_functions)} (one line per HTTP function; docs/EXTENDING.md, step 6)"
        )
    names = {m[1] for m in metrics}
    assert {"IncomingRecords", "IteratorAge", "EventsCounted", "EmailsSent", "WelcomeEmailFailures"} <= names
    assert {"ApproximateNumberOfMessagesVisible", "WelcomeEmailsNotQueued", "WebhooksDelivered"} <= names


# samconfig.toml's environments ------------------------------------------------------------


def _environment_parameters(environment: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config[environment]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in shlex.split(overrides))


@pytest.mark.parametrize("environment", ["default", "dev", "prod"])
def test_each_environment_sets_only_parameters_the_template_accepts(environment: str) -> None:
    parameters = Template().parameters
    for name, value in _environment_parameters(environment).items():
        spec = parameters[name]
        if "AllowedValues" in spec:
            assert value in [str(allowed) for allowed in spec["AllowedValues"]], (name, value)
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), (name, value)
        if spec["Type"] == "Number":
            assert spec.get("MinValue", float("-inf")) <= float(value) <= spec.get("MaxValue", float("inf")), name


def test_dev_and_prod_differ_in_retention_limits_alarm_email_and_list_shards() -> None:
    dev, prod = _environment_parameters("dev"), _environment_parameters("prod")

    for name in (
        "LogRetentionDays",
        "ApiThrottlingBurstLimit",
        "ApiThrottlingRateLimit",
        "AlarmEmail",
        "UserListShards",
    ):
        assert dev[name] != prod[name], name
    assert prod["AlarmEmail"]
    assert int(prod["LogRetentionDays"]) > int(dev["LogRetentionDays"])


@cache
def _expanded_with(**parameters: str) -> dict[str, Any]:
    return _expand({**MODES["dynamodb"], **parameters})


@pytest.mark.parametrize("snapstart", ["off", "on"])
def test_snapstart_applies_to_published_versions_and_everything_invokes_the_alias(snapstart: str) -> None:
    template = _expanded_with(SnapStart=snapstart)
    functions = _functions(template)
    aliases = _of_type(template, "AWS::Lambda::Alias")
    expected = "PublishedVersions" if snapstart == "on" else "None"

    assert {name: f["Properties"]["SnapStart"]["ApplyOn"] for name, f in functions.items()} == dict.fromkeys(
        functions, expected
    )
    alias_of = {a["Properties"]["FunctionName"]["Ref"]: name for name, a in aliases.items()}
    assert set(alias_of) == set(functions)
    assert {a["Properties"]["Name"] for a in aliases.values()} == {"live"}
    # Every event source mapping and every API permission targets an alias, never $LATEST.
    mappings = _of_type(template, "AWS::Lambda::EventSourceMapping")
    permissions = _of_type(template, "AWS::Lambda::Permission")
    assert mappings
    assert permissions
    for name, resource in {**mappings, **permissions}.items():
        target = resource["Properties"]["FunctionName"]
        assert _reference(target) in aliases, (name, target)


def test_failures_with_no_metric_of_their_own_are_watched(expanded: dict[str, Any]) -> None:
    """Issue 25: a disabled or stuck stream consumer, a storm of 401/403, SES reputation."""
    alarms = _alarms(expanded)
    kinesis = alarms["AnalyticsStreamUnreadAlarm"]
    # The mapping polls every second: missing GetRecords data means nothing reads the stream.
    assert (kinesis["MetricName"], kinesis["TreatMissingData"]) == ("GetRecords.IteratorAgeMilliseconds", "breaching")
    users = alarms["UsersStreamUnreadAlarm"]
    [expression] = [m["Expression"] for m in users["Metrics"] if "Expression" in m]
    assert expression == "IF(FILL(writes, 0) > 0 AND FILL(invocations, 0) == 0, 1, 0)"
    [auth_filter] = _of_type(expanded, "AWS::Logs::MetricFilter").values()
    assert auth_filter["Properties"]["LogGroupName"] == {"Ref": "HttpApiAccessLogs"}
    assert auth_filter["Properties"]["FilterPattern"] == '{ ($.status = "401") || ($.status = "403") }'
    assert (
        alarms["AuthFailuresAlarm"]["MetricName"] == auth_filter["Properties"]["MetricTransformations"][0]["MetricName"]
    )
    assert (alarms["SesBounceRateAlarm"]["Threshold"], alarms["SesComplaintRateAlarm"]["Threshold"]) == (0.05, 0.001)
    # The welcome queue: its oldest message alarms long before the queue's retention ends it.
    queue = expanded["Resources"]["WelcomeEmailQueue"]["Properties"]
    age = alarms["WelcomeEmailQueueAgeAlarm"]
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
    redrive = queue["RedrivePolicy"]["maxReceiveCount"] * queue["VisibilityTimeout"]
    assert redrive < age["Threshold"] < queue["MessageRetentionPeriod"]


def test_the_identity_provider_has_no_placeholder_a_deploy_could_go_out_with() -> None:
    """Issue 25: no default issuer or audience, in the template or samconfig: a deploy without
    the real values stops at CloudFormation's "Parameters ... must have values"."""
    parameters = Template().parameters
    assert "Default" not in parameters["JwtIssuer"]
    assert "Default" not in parameters["JwtAudience"]
    issuer = re.compile(parameters["JwtIssuer"]["AllowedPattern"])
    assert issuer.fullmatch("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC")
    assert not issuer.fullmatch("http://issuer.example.com")
    assert not issuer.fullmatch("")
    config = (ROOT / "samconfig.toml").read_text()
    assert "JwtIssuer=" not in config
    assert "JwtAudience=" not in config


# Safe deploys (docs/DEPLOY.md) -----------------------------------------------------------------

HOOK = "PreTrafficHookFunction"
ORDERED_STREAM_CONSUMERS = {"CountEventsFunction", "PublishWebhooksFunction"}


def _deployed(expanded: dict[str, Any]) -> set[str]:
    return set(_functions(expanded)) - {HOOK}


def test_every_function_but_the_hook_shifts_its_alias_through_codedeploy_after_the_hook(
    expanded: dict[str, Any],
) -> None:
    aliases = _of_type(expanded, "AWS::Lambda::Alias")
    groups = _of_type(expanded, "AWS::CodeDeploy::DeploymentGroup")

    shifted = {
        alias["Properties"]["FunctionName"]["Ref"]: alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        for alias in aliases.values()
        if "UpdatePolicy" in alias
    }
    assert set(shifted) == _deployed(expanded), "the hook is not deployed through itself"
    for function, update in shifted.items():
        assert update["BeforeAllowTrafficHook"] == {"Ref": HOOK}, function
        group = groups[update["DeploymentGroupName"]["Ref"]]["Properties"]
        assert group["ServiceRoleArn"] == {"Fn::GetAtt": ["DeployRole", "Arn"]}, function
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        config = group["DeploymentConfigName"]["Fn::Sub"][1]["ConfigName"]
        # An ordered, checkpointed stream is never read by two versions at once.
        expected = "AllAtOnce" if function in ORDERED_STREAM_CONSUMERS else "Canary10Percent5Minutes"
        assert config == expected, function


def _rollback_triggers(expanded: dict[str, Any]) -> set[str]:
    return {
        alarm["Name"]["Ref"]
        for group in _of_type(expanded, "AWS::CodeDeploy::DeploymentGroup").values()
        for alarm in group["Properties"]["AlarmConfiguration"]["Alarms"]
    }


def test_a_deployment_rolls_back_on_its_alias_errors_and_no_alarm_that_stays_in_alarm(
    expanded: dict[str, Any],
) -> None:
    groups = _of_type(expanded, "AWS::CodeDeploy::DeploymentGroup")
    alarms = _alarms(expanded)
    for name, group in groups.items():
        function = name.removesuffix("DeploymentGroup")
        names = {alarm["Name"]["Ref"] for alarm in group["Properties"]["AlarmConfiguration"]["Alarms"]}
        live_errors = function.removesuffix("Function") + "LiveErrorsAlarm"
        assert names == {live_errors, "UnhandledErrorsAlarm"}, function
        # The alias's errors only: the hook's probe of a new version does not trip its rollback alarm.
        assert alarms[live_errors]["Dimensions"] == [
            {"Name": "FunctionName", "Value": {"Fn::Sub": f"${{{function}}}"}},
            {"Name": "Resource", "Value": {"Fn::Sub": f"${{{function}}}:live"}},
        ]
        for alarm in names:
            # A dead-letter queue alarm stays in ALARM until someone empties the queue: as a
            # rollback trigger it would block every deploy meanwhile.
            assert alarms[alarm]["TreatMissingData"] == "notBreaching", alarm


def _references(value: Any) -> set[str]:
    """The logical ids a value refers to: Ref, Fn::GetAtt, and Fn::Sub's ${X} and ${X.Attr}."""
    if isinstance(value, dict):
        found: set[str] = set()
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(inner, list):
                    found |= _references(inner[1])
            else:
                found |= _references(inner)
        return found
    if isinstance(value, list):
        return set().union(*(_references(item) for item in value)) if value else set()
    return set()


def test_the_expanded_template_has_no_dependency_cycle(expanded: dict[str, Any]) -> None:
    """CloudFormation counts references in Properties, UpdatePolicy and DependsOn: an alarm that
    watches the API, listed in the deployment group its aliases' UpdatePolicy names, was one."""
    resources = expanded["Resources"]
    edges = {
        name: {
            other
            for other in _references(resource.get("Properties", {}))
            | _references(resource.get("UpdatePolicy", {}))
            | set(_as_list(resource.get("DependsOn", [])))
            if other in resources and other != name
        }
        for name, resource in resources.items()
    }
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for other in sorted(edges[name]):
            assert state.get(other) != "open", " -> ".join([*path, name, other])
            if other not in state:
                visit(other, [*path, name])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [])


def test_codedeploy_may_move_only_the_stacks_aliases_and_run_only_the_hook(expanded: dict[str, Any]) -> None:
    role = expanded["Resources"]["DeployRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "codedeploy.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert "ManagedPolicyArns" not in role
    grants: dict[str, set[str]] = {}
    for statement in _statements(expanded, "DeployRole"):
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, set()).update(
                json.dumps(r, sort_keys=True) for r in _as_list(statement["Resource"])
            )

    aliases = {json.dumps({"Fn::Sub": f"${{{f}.Arn}}:live"}) for f in _deployed(expanded)}
    assert grants.pop("lambda:UpdateAlias") == grants.pop("lambda:GetAlias") == aliases
    assert grants.pop("lambda:GetProvisionedConcurrencyConfig") == aliases
    assert grants.pop("lambda:InvokeFunction") == {json.dumps({"Fn::GetAtt": [HOOK, "Arn"]})}
    assert set(grants) == {"cloudwatch:DescribeAlarms"}


def test_the_hook_may_invoke_the_stacks_versions_and_answer_only_this_applications_deployments(
    expanded: dict[str, Any],
) -> None:
    role = _role_of(expanded["Resources"][HOOK])
    grants: dict[str, set[str]] = {}
    for statement in _statements(expanded, role):
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, set()).update(
                json.dumps(r, sort_keys=True) for r in _as_list(statement["Resource"])
            )

    assert grants.pop("lambda:InvokeFunction") == {
        json.dumps({"Fn::Sub": f"${{{f}.Arn}}:*"}) for f in _deployed(expanded)
    }
    group = (
        "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}"
        ":deploymentgroup:${ServerlessDeploymentApplication}/*"
    )
    for action in ("ListDeploymentTargets", "GetDeploymentTarget", "PutLifecycleEventHookExecutionStatus"):
        assert grants.pop(f"codedeploy:{action}") == {json.dumps({"Fn::Sub": group})}, action
    assert "ServerlessDeploymentApplication" in expanded["Resources"]
    assert {action.split(":")[0] for action in grants} == {"logs"}  # X-Ray: the AWS-managed write-only policy
