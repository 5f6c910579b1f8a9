"""GET /stats/users: totals from the users table's exact counters."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from nexus.api import ANALYTICS_READ, create_app, json_response, lambda_entrypoint
from nexus.api.docs import UserStats, responses
from nexus.operations.user_stats import UserStatsOperations
from nexus.services import get_service

app = create_app()


@app.get("/stats/users", responses=responses(200, UserStats, 401, 403))
def user_stats() -> Response[dict[str, Any]]:
    return json_response(200, get_service(UserStatsOperations).user_stats())


handler = lambda_entrypoint(app, UserStatsOperations, scope=ANALYTICS_READ)
