"""PATCH /users/{user_id}: change a user; the cache is refreshed."""

from typing import Annotated

from nexus.api import USERS_WRITE, Body, create_app, lambda_entrypoint
from nexus.api.docs import responses
from nexus.operations.user_commands import UserCommands
from nexus.users import User, UserChanges
from nexus.users.values import parse_user_id

app = create_app(UserCommands, scope=USERS_WRITE)


@app.patch("/users/<user_id>", tags=["users"], responses=responses(200, User, 400, 401, 403, 404, 409, 413, 422))
def update_user(user_id: str, changes: Annotated[UserChanges, Body()]) -> User:
    """Change a user.

    Sets the fields sent (at least one) and leaves the others; `full_name` `null` clears it. The
    cache and the counters are kept exact and a `user_updated` event is recorded.
    """
    return app.operation.update_user(parse_user_id(user_id), changes)


handler = lambda_entrypoint(app)
