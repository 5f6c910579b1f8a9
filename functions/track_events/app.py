"""POST /events: accept one event or a batch of up to 500; they reach Kinesis at the end of the invocation."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from nexus.analytics import TrackEventsRequest
from nexus.api import ANALYTICS_WRITE, create_app, json_response, lambda_entrypoint, parse_json_body
from nexus.api.docs import Accepted, responses
from nexus.operations.analytics import AnalyticsOperations
from nexus.services import get_service

app = create_app()


@app.post("/events", responses=responses(202, Accepted, 400, 401, 403, 413, 422, description="Accepted"))
def track_events() -> Response[dict[str, Any]]:
    request = parse_json_body(app, TrackEventsRequest.from_body)
    return json_response(202, {"accepted": get_service(AnalyticsOperations).track_events(request)})


handler = lambda_entrypoint(app, AnalyticsOperations, scope=ANALYTICS_WRITE, body_limit=256 * 1024)
