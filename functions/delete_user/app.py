"""DELETE /users/{user_id}: delete a user, free its username and email, purge the cache."""

from nexus.api import USERS_WRITE, Response, create_app, lambda_entrypoint
from nexus.api.docs import responses
from nexus.operations.user_commands import UserCommands
from nexus.users.values import parse_user_id

app = create_app(UserCommands, scope=USERS_WRITE)


@app.delete(
    "/users/<user_id>", tags=["users"], responses=responses(204, None, 401, 403, 404, 409, description="Deleted")
)
def delete_user(user_id: str) -> Response[None]:
    """Delete a user.

    Frees the username and the email for reuse, removes the user from the cache and records a
    `user_deleted` event. Answers `204` with no body.
    """
    app.operation.delete_user(parse_user_id(user_id))
    return Response(status_code=204)


handler = lambda_entrypoint(app)
