"""GET /stats/events: counts per UTC day from the consumer's exact counters."""

from typing import Annotated

from nexus.analytics.schemas import EventStats, EventTypeFilter, StatsDays
from nexus.api import ANALYTICS_READ, Query, create_app, lambda_entrypoint
from nexus.api.docs import responses
from nexus.operations.event_stats import EventStatistics

app = create_app(EventStatistics, scope=ANALYTICS_READ)


@app.get("/stats/events", tags=["stats"], responses=responses(200, EventStats, 400, 401, 403, 422))
def event_stats(
    event_type: Annotated[EventTypeFilter | None, Query()] = None,
    days: Annotated[StatsDays, Query()] = 7,
) -> EventStats:
    """Count events per day.

    Exact counts of accepted events per UTC day for the last `days` days ending today, oldest
    first with zeros included; of one `event_type`, or of every type.
    """
    return app.operation.event_stats(event_type, days)


handler = lambda_entrypoint(app)
