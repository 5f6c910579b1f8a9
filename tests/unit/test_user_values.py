"""A path's user id and username are checked once, in the handler, into UserId and Username."""

from __future__ import annotations

import pytest

from nexus.errors import NotFoundError
from nexus.users.values import parse_user_id, parse_username


def test_a_well_formed_id_and_username_pass_unchanged() -> None:
    assert parse_user_id("01JD0000000000000000000000") == "01JD0000000000000000000000"
    assert parse_username("Ada.Lovelace_1-x") == "Ada.Lovelace_1-x"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not-a-ulid",
        "01jd0000000000000000000000",
        "01JD00000000000000000000000",
        "8" * 26,
        "01JD0000000000000000000000\n",  # re.match's $ passes a trailing newline: fullmatch does not
    ],
)
def test_a_malformed_id_names_no_user(raw: str) -> None:
    with pytest.raises(NotFoundError, match="No user with id"):
        parse_user_id(raw)


@pytest.mark.parametrize("raw", ["", "ab", "a" * 51, "has space", "semi;colon", "alice\n"])
def test_a_malformed_username_names_no_user(raw: str) -> None:
    with pytest.raises(NotFoundError, match="No user named"):
        parse_username(raw)
