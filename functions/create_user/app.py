"""POST /users: create a user and welcome them; ``Idempotency-Key`` makes retries safe."""

from typing import Annotated

from nexus.api import (
    USERS_WRITE,
    Body,
    Header,
    Response,
    create_app,
    json_response,
    lambda_entrypoint,
)
from nexus.api.docs import LOCATION_HEADER, responses
from nexus.operations.registration import UserRegistration
from nexus.users import NewUser, User
from nexus.users.schemas import IdempotencyKey

app = create_app(UserRegistration, scope=USERS_WRITE)


@app.post(
    "/users",
    tags=["users"],
    responses=responses(201, User, 400, 401, 403, 409, 413, 422, description="Created", headers=LOCATION_HEADER),
)
def create_user(
    new_user: Annotated[NewUser, Body()],
    idempotency_key: Annotated[IdempotencyKey | None, Header(alias="Idempotency-Key")] = None,
) -> Response[User]:
    """Create a user.

    Creates the user (username and email unique without regard to case), records a
    `user_created` event and sends the welcome email. With an `Idempotency-Key`, a retry of the
    same body within 24 hours gets the first `201` again; another body with the key is a `409`.
    Keys are the caller's own (the token's subject).
    """
    user = app.operation.create_user_once(new_user, idempotency_key, app.caller.subject)
    return json_response(201, user, headers={"Location": f"/users/{user.id}"})


handler = lambda_entrypoint(app)
