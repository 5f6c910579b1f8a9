"""GET /health: 200 when every dependency answers, else 503 (no auth)."""

from aws_lambda_powertools.event_handler import Response

from nexus.api import create_app, json_response, lambda_entrypoint
from nexus.api.docs import Health, responses
from nexus.operations.health import HealthOperations
from nexus.services import get_service

app = create_app()


@app.get("/health", responses=responses(200, Health, 503))
def health() -> Response[dict[str, object]]:
    checks = get_service(HealthOperations).check()
    healthy = all(result == "ok" for result in checks.values())
    return json_response(200 if healthy else 503, {"status": "ok" if healthy else "unavailable", "checks": checks})


handler = lambda_entrypoint(app, HealthOperations, scope=None)
