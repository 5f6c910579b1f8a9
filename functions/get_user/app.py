"""GET /users/{user_id}: one user, cache-aside."""

from aws_lambda_powertools.event_handler import Response

from nexus.api import USERS_READ, create_app, json_response, lambda_entrypoint
from nexus.api.docs import responses
from nexus.operations.user_queries import UserQueries
from nexus.services import get_service
from nexus.users import User
from nexus.users.values import parse_user_id

app = create_app()


@app.get("/users/<user_id>", responses=responses(200, User, 401, 403, 404))
def get_user(user_id: str) -> Response[dict[str, object]]:
    return json_response(200, get_service(UserQueries).get_user(parse_user_id(user_id)))


handler = lambda_entrypoint(app, UserQueries, scope=USERS_READ)
