"""POST /users: create a user, cache it and welcome them; ``Idempotency-Key`` makes retries safe."""

from aws_lambda_powertools.event_handler import Response

from nexus.api import USERS_WRITE, create_app, json_response, lambda_entrypoint, parse_header, parse_json_body
from nexus.api.docs import request_body, responses
from nexus.operations.registration import UserRegistration
from nexus.services import get_service
from nexus.users import NewUser, User
from nexus.users.schemas import idempotency_key

app = create_app()


@app.post(
    "/users",
    responses=responses(201, User, 400, 401, 403, 409, 413, 422, description="Created"),
    openapi_extensions=request_body(NewUser),
)
def create_user() -> Response[dict[str, object]]:
    new_user = parse_json_body(app, NewUser.model_validate)
    key = parse_header(app, "Idempotency-Key", idempotency_key)
    user = get_service(UserRegistration).create_user_once(new_user, key)
    return json_response(201, user, headers={"Location": f"/users/{user.id}"})


handler = lambda_entrypoint(app, UserRegistration, scope=USERS_WRITE)
