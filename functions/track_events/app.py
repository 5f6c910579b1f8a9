"""POST /events: accept one event or a batch of up to 500 once Kinesis has them."""

from typing import Annotated

from nexus.analytics import TrackEventsRequest
from nexus.analytics.schemas import Accepted, TrackEventsBody
from nexus.api import (
    ANALYTICS_WRITE,
    Body,
    Response,
    create_app,
    json_response,
    lambda_entrypoint,
)
from nexus.api.docs import responses
from nexus.operations.event_tracking import EventTracking

app = create_app(EventTracking, scope=ANALYTICS_WRITE, body_limit=256 * 1024)


@app.post(
    "/events", tags=["events"], responses=responses(202, Accepted, 400, 401, 403, 413, 422, 503, description="Accepted")
)
def track_events(body: Annotated[TrackEventsBody, Body()]) -> Response[Accepted]:
    """Track events.

    One event, or `{"events": [...]}` with 1 to 500. `202`: every event is in the stream and will
    be counted once; an `event_id` the caller sent within 24 hours is accepted again and not
    counted again. `503`: the stream did not take `not_accepted` of them: send the request
    again (events with an `event_id` are then not counted twice). An invalid event: `422`,
    nothing is accepted.
    """
    accepted = app.operation.track_events(TrackEventsRequest.of(body), app.caller.subject)
    return json_response(202, Accepted(accepted=accepted))


handler = lambda_entrypoint(app)
