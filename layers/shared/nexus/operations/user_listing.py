"""Composite list pages: newest first, with filters, counted totals and signed cursors.

The one composite that signs cursors, so only the list function has the signing secret
(``CURSOR_SIGNING_SECRET_ARN``); the key is read when a page first needs a cursor.
Pages are cached when the deployment has a page cache (``nexus.container`` decides).
"""

from __future__ import annotations

from nexus.services import Service, inject
from nexus.users import UserFilters, UserPage, UserService, index
from nexus.users.caching import PageCache
from nexus.users.cursor import CursorCodec


class UserListing(Service):
    def __init__(
        self,
        users: UserService = inject(),
        pages: PageCache | None = inject(),
        cursors: CursorCodec = inject(),
    ) -> None:
        super().__init__()
        self._users = users
        self._pages = pages
        self._cursors = cursors

    def list_users(self, filters: UserFilters, limit: int, cursor: str | None = None) -> UserPage:
        """One page newest first: the counters (total, write generation), then the page."""
        after_id = self._cursors.decode(cursor, filters) if cursor else None
        counts = self._users.get_counts(index.counted_tag(filters))
        cached = self._pages.get(counts.generation, filters, limit, after_id) if self._pages else None
        if cached is not None:
            return cached
        items, next_after = self._users.list_users(filters, limit, after_id)
        page = UserPage(
            items=items,
            next_cursor=self._cursors.encode(next_after, filters) if next_after else None,
            total=index.total(filters, counts),
        )
        if self._pages:
            self._pages.put(counts.generation, filters, limit, after_id, page)
        return page
