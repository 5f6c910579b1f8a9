"""GET /stats/users: totals from the users table's exact counters."""

from nexus.api import ANALYTICS_READ, create_app, lambda_entrypoint
from nexus.api.docs import responses
from nexus.operations.user_stats import UserStatistics
from nexus.users.schemas import UserStats

app = create_app(UserStatistics, scope=ANALYTICS_READ)


@app.get("/stats/users", tags=["stats"], responses=responses(200, UserStats, 401, 403))
def user_stats() -> UserStats:
    """Count users.

    Total, active and inactive users and the activity rate, exact as of the last completed write.
    """
    return app.operation.user_stats()


handler = lambda_entrypoint(app)
