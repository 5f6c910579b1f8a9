"""GET /users: a page of users newest first, with filters and an exact total."""

from typing import Annotated

from nexus.api import USERS_READ, Query, create_app, lambda_entrypoint
from nexus.api.docs import responses
from nexus.operations.user_listing import UserListing
from nexus.users.schemas import (
    MAX_TAGS,
    TAG_FILTER_DESCRIPTION,
    ActiveFilter,
    PageCursor,
    PageLimit,
    SearchText,
    TagFilter,
    UserFilters,
    UserPage,
)

app = create_app(UserListing, scope=USERS_READ)


@app.get("/users", tags=["users"], responses=responses(200, UserPage, 400, 401, 403, 422))
def list_users(
    limit: Annotated[PageLimit, Query()] = 20,
    cursor: Annotated[PageCursor | None, Query()] = None,
    search: Annotated[SearchText | None, Query()] = None,
    is_active: Annotated[ActiveFilter | None, Query()] = None,
    tag: Annotated[TagFilter, Query(max_length=MAX_TAGS, description=TAG_FILTER_DESCRIPTION)] = [],  # noqa: B006 - Powertools copies a default, never mutates it
) -> UserPage:
    """List users.

    A page of users, newest first, matching every filter given, with `total` over all pages.
    Pass the page's `next_cursor` as `cursor`, with the same filters, for the next page; it is
    `null` on the last one.
    """
    filters = UserFilters(search=search, is_active=is_active, tags=tuple(tag))
    return app.operation.list_users(filters, limit, cursor)


handler = lambda_entrypoint(app)
