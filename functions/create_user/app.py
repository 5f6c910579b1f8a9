"""POST /users: create a user, cache it and welcome them."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from nexus.api import USERS_WRITE, create_app, json_response, lambda_entrypoint
from nexus.operations.users import UserCommands
from nexus.services import get_service
from nexus.users import NewUser

app = create_app()


@app.post("/users")
def create_user(new_user: Annotated[NewUser, Body()]) -> Response[dict[str, object]]:
    user = get_service(UserCommands).create_user_with_welcome(new_user)
    return json_response(201, user, headers={"Location": f"/users/{user.id}"})


handler = lambda_entrypoint(app, UserCommands, scope=USERS_WRITE)
