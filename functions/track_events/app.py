"""POST /events: accept one event or a batch of up to 500; they reach Kinesis at the end of the invocation."""

from typing import Annotated

from nexus.analytics import TrackEventsRequest
from nexus.analytics.schemas import Accepted, TrackEventsBody
from nexus.api import ANALYTICS_WRITE, Body, Response, create_app, json_response, lambda_entrypoint
from nexus.api.docs import responses
from nexus.operations.analytics import AnalyticsOperations
from nexus.services import get_service

app = create_app()


@app.post(
    "/events", tags=["events"], responses=responses(202, Accepted, 400, 401, 403, 413, 422, description="Accepted")
)
def track_events(body: Annotated[TrackEventsBody, Body()]) -> Response[Accepted]:
    """Track events.

    One event, or `{"events": [...]}` with 1 to 500, accepted for counting (asynchronously,
    through the stream). Either every event of the request is accepted or none is (`422`).
    """
    accepted = get_service(AnalyticsOperations).track_events(TrackEventsRequest.of(body))
    return json_response(202, Accepted(accepted=accepted))


handler = lambda_entrypoint(app, AnalyticsOperations, scope=ANALYTICS_WRITE, body_limit=256 * 1024)
