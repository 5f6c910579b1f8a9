"""GET /users/by-username/{username}: one user, looked up without regard to case."""

from nexus.api import USERS_READ, create_app, lambda_entrypoint
from nexus.api.docs import responses
from nexus.operations.user_queries import UserQueries
from nexus.users import User
from nexus.users.values import parse_username

app = create_app(UserQueries, scope=USERS_READ)


@app.get("/users/by-username/<username>", tags=["users"], responses=responses(200, User, 401, 403, 404))
def get_user_by_username(username: str) -> User:
    """Get a user by username.

    The username is matched without regard to case; `404` when no user has it.
    """
    return app.operation.get_user_by_username(parse_username(username))


handler = lambda_entrypoint(app)
