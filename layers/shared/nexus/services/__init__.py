"""Service base class and the dependency-injection registry.

A Lambda execution environment builds every singleton once at cold start
(``Registry.start``) and reuses it warm; ``Registry.invocation()`` is the
per-invocation scope whose exit runs each service's ``end_invocation`` hook.
"""

from nexus.services.registry import (
    DependencyCycleError,
    MissingDependencyError,
    Registry,
    ServiceNotInitializedError,
    ServiceRef,
    get_service,
    inject,
    register_service,
    registry,
)
from nexus.services.service import Service

__all__ = [
    "DependencyCycleError",
    "MissingDependencyError",
    "Registry",
    "Service",
    "ServiceNotInitializedError",
    "ServiceRef",
    "get_service",
    "inject",
    "register_service",
    "registry",
]
