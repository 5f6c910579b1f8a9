"""The health check: ping every dependency of the users API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from nexus.cache import CacheService
from nexus.observability import logger
from nexus.services import Service, inject
from nexus.users import UserService

CheckResult = Literal["ok", "error"]


class Health(BaseModel):
    """The answer of ``GET /health``: ``ok`` when every check is ``ok``, else ``unavailable`` (a 503)."""

    model_config = ConfigDict(defer_build=True)

    status: Literal["ok", "unavailable"]
    checks: dict[str, CheckResult]

    @property
    def healthy(self) -> bool:
        return self.status == "ok"


class HealthCheck(Service):
    def __init__(self, users: UserService = inject(), cache: CacheService = inject()) -> None:
        super().__init__()
        self._checks = {"users_table": users.ping, "cache": cache.ping}

    def check(self) -> Health:
        """Each dependency's ``"ok"`` or ``"error"``, and the overall status."""
        results: dict[str, CheckResult] = {}
        for name, ping in self._checks.items():
            try:
                ping()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure makes the dependency unhealthy
                logger.warning("health check failed", dependency=name, error=str(exc))
                results[name] = "error"
        healthy = all(result == "ok" for result in results.values())
        return Health(status="ok" if healthy else "unavailable", checks=results)
