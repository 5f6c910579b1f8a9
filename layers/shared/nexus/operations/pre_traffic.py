"""CodeDeploy's pre-traffic hook: a new version answers its probe before the alias shifts to it.

CodeDeploy invokes the hook once per deployment with the deployment's id; the hook asks which
function and version are deploying, invokes that version (not the alias: it has no traffic
yet) with the function's probe (nexus.deploys.probes), and reports Succeeded or Failed. Failed
stops the deployment and the alias stays on the old version. The hook always reports: a check
that cannot run is a failure, never a deployment left waiting for CodeDeploy's 1-hour timeout.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from nexus import aws
from nexus.deploys.probes import PROBES
from nexus.observability import logger, metrics
from nexus.services import Service, inject
from nexus.settings import PreTrafficSettings


class HookExecution(BaseModel):
    """What CodeDeploy sends a lifecycle hook."""

    model_config = ConfigDict(frozen=True)

    deployment_id: str = Field(alias="DeploymentId", pattern=r"^d-[A-Z0-9]{9}$")
    execution_id: str = Field(alias="LifecycleEventHookExecutionId", min_length=1, max_length=1024)


class CheckedVersion(BaseModel):
    """A deploying version and what its probe found (``problem`` None: it works)."""

    function: str
    version: str
    problem: str | None = None


class PreTrafficOutcome(BaseModel):
    status: Literal["Succeeded", "Failed"]
    checked: list[CheckedVersion]
    problem: str | None = None


class PreTrafficCheck(Service):
    def __init__(
        self, settings: PreTrafficSettings = inject(), *, codedeploy: Any = None, lambda_client: Any = None
    ) -> None:
        super().__init__()
        self._functions = settings.pre_traffic_functions
        self._scope_prefix = settings.jwt_scope_prefix
        self._codedeploy = codedeploy or aws.client("codedeploy")
        self._lambda = lambda_client or aws.client("lambda")

    def handle(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        """Lambda's entry: the outcome as the hook's answer (CodeDeploy reads only the report)."""
        del context
        return self.run(event).model_dump()

    def run(self, event: dict[str, Any]) -> PreTrafficOutcome:
        """Probe the deployment's new version(s) and report to CodeDeploy."""
        execution = HookExecution.model_validate(event)  # an invalid event has no one to report to
        checked: list[CheckedVersion] = []
        try:
            checked = [self._probe(target) for target in self._targets(execution.deployment_id)]
            problem = next((c.problem for c in checked if c.problem), None)
            if not checked:
                problem = "the deployment has no Lambda target"
        except Exception as exc:  # noqa: BLE001 - a check that cannot run fails the deployment
            logger.exception("the pre-traffic check could not run", deployment_id=execution.deployment_id)
            problem = f"the check could not run: {type(exc).__name__}: {str(exc)[:300]}"
        outcome = PreTrafficOutcome(status="Failed" if problem else "Succeeded", checked=checked, problem=problem)
        self._codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=execution.deployment_id,
            lifecycleEventHookExecutionId=execution.execution_id,
            status=outcome.status,
        )
        if problem:
            metrics.add_metric(name="PreTrafficChecksFailed", unit=MetricUnit.Count, value=1)
            logger.error("a new version failed its pre-traffic check", **outcome.model_dump())
        else:
            logger.info("the new version passed its pre-traffic check", **outcome.model_dump())
        return outcome

    def _targets(self, deployment_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        pages = self._codedeploy.get_paginator("list_deployment_targets").paginate(deploymentId=deployment_id)
        for page in pages:
            for target_id in page.get("targetIds", []):
                target = self._codedeploy.get_deployment_target(deploymentId=deployment_id, targetId=target_id)
                found.append(target["deploymentTarget"]["lambdaTarget"]["lambdaFunctionInfo"])
        return found

    def _probe(self, target: dict[str, Any]) -> CheckedVersion:
        name = (
            str(target["functionName"]).split(":")[6]
            if target["functionName"].startswith("arn:")
            else target["functionName"]
        )
        version = str(target["targetVersion"])
        checked = CheckedVersion(function=name, version=version)
        logical_id = self._functions.get(name)
        probe = PROBES.get(logical_id or "")
        if probe is None:
            return checked.model_copy(update={"problem": f"{name} is not a function this hook knows how to check"})
        answer = self._lambda.invoke(
            FunctionName=name,
            Qualifier=version,
            Payload=json.dumps(probe.event(self._scope_prefix)).encode(),
        )
        payload = json.loads(answer["Payload"].read() or b"null")
        if "FunctionError" in answer:
            problem: str | None = f"version {version} failed: {json.dumps(payload)[:300]}"
        else:
            problem = probe.verdict(payload)
        return checked.model_copy(update={"problem": problem})
