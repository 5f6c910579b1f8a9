"""GET /stats/events: counts per UTC day from the consumer's exact counters."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from nexus.analytics.schemas import EventStatsQuery
from nexus.api import ANALYTICS_READ, create_app, json_response, lambda_entrypoint, parse_query
from nexus.api.docs import EventStats, responses
from nexus.operations.event_stats import EventStatsOperations
from nexus.services import get_service

app = create_app()


@app.get("/stats/events", responses=responses(200, EventStats, 400, 401, 403, 422))
def event_stats() -> Response[dict[str, Any]]:
    query = parse_query(app, EventStatsQuery)
    return json_response(200, get_service(EventStatsOperations).event_stats(query.event_type, query.days))


handler = lambda_entrypoint(app, EventStatsOperations, scope=ANALYTICS_READ)
