"""GET /users: a page of users newest first, with filters and an exact total."""

from aws_lambda_powertools.event_handler import Response

from nexus.api import USERS_READ, create_app, json_response, lambda_entrypoint, parse_query
from nexus.api.docs import responses
from nexus.operations.user_listing import UserListing
from nexus.services import get_service
from nexus.users.schemas import ListUsersQuery, UserPage

app = create_app()


@app.get("/users", responses=responses(200, UserPage, 400, 401, 403, 422))
def list_users() -> Response[dict[str, object]]:
    query = parse_query(app, ListUsersQuery)
    page = get_service(UserListing).list_users(query.filters(), query.limit, query.cursor)
    return json_response(200, page)


handler = lambda_entrypoint(app, UserListing, scope=USERS_READ)
