"""GET /users/{user_id}: one user, cache-aside."""

from nexus.api import USERS_READ, create_app, lambda_entrypoint
from nexus.api.docs import responses
from nexus.operations.user_queries import UserQueries
from nexus.users import User
from nexus.users.values import parse_user_id

app = create_app(UserQueries, scope=USERS_READ)


@app.get("/users/<user_id>", tags=["users"], responses=responses(200, User, 401, 403, 404))
def get_user(user_id: str) -> User:
    """Get a user.

    The user with this id (a ULID); `404` when there is none, also for a deleted user.
    """
    return app.operation.get_user(parse_user_id(user_id))


handler = lambda_entrypoint(app)
