"""CodeDeploy's pre-traffic hook: a new version answers its probe before it takes traffic."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.entrypoints import event_entrypoint
from nexus.operations.pre_traffic import PreTrafficCheck
from nexus.services import get_service


def check_new_version(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return get_service(PreTrafficCheck).run(event).model_dump()


handler = event_entrypoint(check_new_version, PreTrafficCheck)
