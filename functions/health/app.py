"""GET /health: 200 when every dependency answers, else 503 (no auth)."""

from nexus.api import Response, create_app, json_response, lambda_entrypoint
from nexus.api.docs import responses
from nexus.operations.health import Health, HealthCheck

app = create_app(HealthCheck, scope=None)


@app.get("/health", tags=["health"], responses=responses(200, Health, 503))
def health() -> Response[Health]:
    """Check the service's health.

    Pings the users table and the cache: `200` when both answer, `503` with the same body
    (`status` `unavailable`) when one does not. No token needed.
    """
    result = app.operation.check()
    return json_response(200 if result.healthy else 503, result)


handler = lambda_entrypoint(app)
