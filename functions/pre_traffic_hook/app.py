"""CodeDeploy's pre-traffic hook: a new version answers its probe before it takes traffic."""

from nexus.entrypoints import event_entrypoint
from nexus.operations.pre_traffic import PreTrafficCheck

handler = event_entrypoint(PreTrafficCheck)
