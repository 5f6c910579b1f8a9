"""The health check: ping every dependency of the users API."""

from __future__ import annotations

from nexus.cache import CacheService
from nexus.observability import logger
from nexus.services import Service, inject
from nexus.users import UserService


class HealthOperations(Service):
    def __init__(self, users: UserService = inject(), cache: CacheService = inject()) -> None:
        super().__init__()
        self._checks = {"users_table": users.ping, "cache": cache.ping}

    def check(self) -> dict[str, str]:
        """``{"dependency": "ok" | "error"}`` for each dependency."""
        results: dict[str, str] = {}
        for name, ping in self._checks.items():
            try:
                ping()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure makes the dependency unhealthy
                logger.warning("health check failed", dependency=name, error=str(exc))
                results[name] = "error"
        return results
