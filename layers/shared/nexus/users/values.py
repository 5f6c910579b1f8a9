"""The users' value types, checked once where input enters: the handlers parse a path's id or
username into a ``UserId`` or ``Username`` and the layers below take those, never a raw ``str``.

A malformed id or username names no user: it is a 404 like an unknown one (API.md), and
nothing below the handler sees it.
"""

from __future__ import annotations

from typing import NewType

from nexus.errors import NotFoundError
from nexus.users.schemas import ULID_PATTERN, USERNAME_RE

UserId = NewType("UserId", str)
"""A well-formed user id: a ULID in Crockford base32, upper case."""

Username = NewType("Username", str)
"""A well-formed username (3 to 50 of A-Z a-z 0-9 _ . -), in the caller's case."""


def user_not_found(user_id: str) -> NotFoundError:
    return NotFoundError(f"No user with id {user_id!r}")


def username_not_found(username: str) -> NotFoundError:
    return NotFoundError(f"No user named {username!r}")


def parse_user_id(raw: str) -> UserId:
    """``raw`` as a ``UserId``; ``NotFoundError`` if it cannot be one."""
    if not ULID_PATTERN.fullmatch(raw):  # match's $ would pass a trailing newline
        raise user_not_found(raw)
    return UserId(raw)


def parse_username(raw: str) -> Username:
    """``raw`` as a ``Username``; ``NotFoundError`` if it cannot be one."""
    if not USERNAME_RE.fullmatch(raw):
        raise username_not_found(raw)
    return Username(raw)
