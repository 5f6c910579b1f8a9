"""DELETE /users/{user_id}: delete a user, free its username and email, purge the cache."""

from aws_lambda_powertools.event_handler import Response

from nexus.api import USERS_WRITE, authorize, create_app, lambda_entrypoint
from nexus.operations.users import UserOperations
from nexus.services import get_service

app = create_app()


@app.delete("/users/<user_id>")
def delete_user(user_id: str) -> Response[None]:
    authorize(app, USERS_WRITE)
    get_service(UserOperations).delete_user(user_id)
    return Response(status_code=204)


handler = lambda_entrypoint(app, UserOperations)
