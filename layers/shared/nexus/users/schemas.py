"""The user as the API sees it, and the validated inputs of each operation (API.md)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from nexus.text_rules import (
    EMAIL_PATTERN,
    IDEMPOTENCY_KEY_PATTERN,
    NO_CONTROL_CHARACTERS_PATTERN,
    USERNAME_PATTERN,
    VISIBLE_TEXT_PATTERN,
    has_control_characters,
    has_format_characters,
)

ULID_PATTERN = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
USERNAME_RE = re.compile(USERNAME_PATTERN)
MAX_TAGS = 20


def _no_control_characters(text: str) -> str:
    if has_control_characters(text):
        raise ValueError("must not contain control characters")
    return text


def _no_format_characters(text: str) -> str:
    if has_format_characters(text):
        raise ValueError("must not contain invisible or direction-changing characters")
    return text


def _distinct_tags(tags: list[str]) -> list[str]:
    distinct = list(dict.fromkeys(tags))
    if len(distinct) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} distinct tags")
    return distinct


# What _no_control_characters checks, for the OpenAPI document (the validator gives the reason).
_PRINTABLE = Field(json_schema_extra={"pattern": NO_CONTROL_CHARACTERS_PATTERN})

# A username in a request body, checked by pydantic (a mismatch is a 422); a path's username
# is parsed into nexus.users.values.Username instead (a mismatch is a 404).
UsernameField = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
Email = Annotated[str, StringConstraints(max_length=100, pattern=EMAIL_PATTERN)]
FullName = Annotated[
    str,
    StringConstraints(max_length=100),
    AfterValidator(_no_control_characters),
    AfterValidator(_no_format_characters),
    Field(json_schema_extra={"pattern": VISIBLE_TEXT_PATTERN}),
]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=50), AfterValidator(_no_control_characters), _PRINTABLE]
Tags = Annotated[list[Tag], AfterValidator(_distinct_tags)]
Source = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_no_control_characters), _PRINTABLE
]


# Every model here builds its validator when first used (defer_build): a function's cold start
# builds those of its own operation only (docs/PERFORMANCE.md).


class _Request(BaseModel):
    """Request bodies: strict types; unknown and read-only fields are refused (extra="forbid")."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class NewUser(_Request):
    """Body of ``POST /users``."""

    username: UsernameField
    email: Email
    full_name: FullName | None = None
    tags: Tags = Field(default_factory=list)
    source: Source | None = None


def _document_changes(schema: dict[str, Any]) -> None:
    """``UserChanges`` in the OpenAPI document: at least one field, and null for full_name alone.

    None is each field's "not sent"; the validator refuses it sent for any field but full_name,
    so the document does not offer it (generated clients would). The types keep ``| None``: a
    wrong value's error then names the field, not a branch of a union.
    """
    schema["minProperties"] = 1
    for name in _NOT_NULLABLE:
        field = schema["properties"][name]
        (branch,) = [b for b in field.pop("anyOf") if b.get("type") != "null"]
        field.update(branch)


_NOT_NULLABLE = ("username", "email", "is_active", "tags")


class UserChanges(_Request):
    """Body of ``PATCH /users/{user_id}``: any of the fields, at least one."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True, json_schema_extra=_document_changes)

    username: UsernameField | None = None
    email: Email | None = None
    full_name: FullName | None = None
    is_active: bool | None = None
    tags: Tags | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> UserChanges:
        if not self.model_fields_set:
            raise ValueError("at least one of username, email, full_name, is_active, tags is required")
        for name in _NOT_NULLABLE:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class User(BaseModel):
    """A user as stored and as returned by the API."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    username: str
    email: str
    full_name: str | None
    is_active: bool
    tags: list[str]
    created_at: str
    updated_at: str
    # Internal: bumped by every write; never part of the API's user.
    version: int = Field(default=0, exclude=True)
    # Internal: a digest of the caller and Idempotency-Key that created the user, if any.
    creation_key: str | None = Field(default=None, exclude=True)


class UserFilters(BaseModel):
    """The filters of ``GET /users``; ``tags`` must all match."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    search: str | None = None
    is_active: bool | None = None
    tags: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.search is None and self.is_active is None and not self.tags

    def fingerprint(self) -> str:
        """A canonical text of the filters: equal filters, equal text."""
        search = self.search.casefold() if self.search is not None else ""
        active = "" if self.is_active is None else str(self.is_active).lower()
        return "\x1f".join([search, active, *sorted(set(self.tags))])


class UserPage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[User]
    next_cursor: str | None
    total: int | None
    """Users matching the filters where a counter holds it (no filter, ``is_active`` alone, one
    tag alone); None otherwise (docs/API.md)."""


class UserCounts(BaseModel):
    model_config = ConfigDict(defer_build=True)

    total: int
    active: int
    generation: int
    tagged: int | None = None
    """Users with the tag asked for, if one was."""


class UserStats(BaseModel):
    """The answer of ``GET /stats/users``: exact as of the last completed write."""

    model_config = ConfigDict(defer_build=True)

    total_users: int
    active_users: int
    inactive_users: int
    activity_rate: float
    generated_at: str


# The query parameters of ``GET /users`` and the header of ``POST /users``, as the handlers
# declare them (``Annotated[PageLimit, Query()]``): Powertools validates them and documents them.
PageLimit = Annotated[int, Field(ge=1, le=100, description="Users per page, 1 to 100")]
# Any text: an invalid cursor is a 400 from the cursor codec, whatever its length.
PageCursor = Annotated[str, Field(description="The `next_cursor` of the previous page; empty: the first page")]
SearchText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100),
    AfterValidator(_no_control_characters),
    _PRINTABLE,
    Field(description="A case-insensitive prefix of the username, the email or a word of the full name"),
]
ActiveFilter = Annotated[bool, Field(description="Only active (`true`) or inactive (`false`) users")]
# Repeatable; its limits go in the handler's Query(): Powertools takes a list wrapped in a
# further Annotated for a single value.
TagFilter = list[Tag]
TAG_FILTER_DESCRIPTION = "Repeatable: a user must have every one of these tags (at most 20)"
# A client's retry token: printable ASCII, as with the usual Idempotency-Key header drafts.
IdempotencyKey = Annotated[
    str,
    StringConstraints(pattern=IDEMPOTENCY_KEY_PATTERN),
    Field(description="Makes a retry safe: the same key and body within 24 hours get the first answer again"),
]
