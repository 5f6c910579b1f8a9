"""PATCH /users/{user_id}: change a user; the cache is refreshed."""

from aws_lambda_powertools.event_handler import Response

from nexus.api import USERS_WRITE, create_app, json_response, lambda_entrypoint, parse_json_body
from nexus.api.docs import request_body, responses
from nexus.operations.user_commands import UserCommands
from nexus.services import get_service
from nexus.users import User, UserChanges
from nexus.users.values import parse_user_id

app = create_app()


@app.patch(
    "/users/<user_id>",
    responses=responses(200, User, 400, 401, 403, 404, 409, 413, 422),
    openapi_extensions=request_body(UserChanges),
)
def update_user(user_id: str) -> Response[dict[str, object]]:
    changes = parse_json_body(app, UserChanges.model_validate)
    return json_response(200, get_service(UserCommands).update_user(parse_user_id(user_id), changes))


handler = lambda_entrypoint(app, UserCommands, scope=USERS_WRITE)
