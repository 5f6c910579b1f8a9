"""The composition root: every service and how it is built, in one place."""

from __future__ import annotations

from nexus.cache import CacheBackend, CacheService
from nexus.cache.dynamodb import DynamoDBCacheBackend
from nexus.operations.health import HealthOperations
from nexus.operations.users import UserOperations
from nexus.services import registry
from nexus.settings import Settings
from nexus.users import UserService


def _cache_backend(settings: Settings) -> CacheBackend:
    return DynamoDBCacheBackend(settings.cache_table_name)


def register_all() -> None:
    """Register every service on the process-wide registry (no AWS call is made here)."""
    registry.register(Settings, Settings.from_env, dependencies=())
    # The abstract contract is the key; settings pick the implementation.
    registry.register(CacheBackend, _cache_backend, dependencies=[Settings])  # type: ignore[type-abstract]
    registry.register(CacheService)
    registry.register(UserService)
    registry.register(UserOperations)
    registry.register(HealthOperations)


def start(*roots: type) -> None:
    """Cold start: validate the graph, then build and initialize ``roots`` and their dependencies."""
    if Settings not in registry:
        register_all()
    registry.start(*roots)
