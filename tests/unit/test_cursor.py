import base64
import json

import pytest

from nexus.errors import BadRequestError
from nexus.users.cursor import CursorCodec
from nexus.users.schemas import UserFilters

USER_ID = "01JD0000000000000000000000"
codec = CursorCodec(key=b"s" * 32)


def test_round_trip() -> None:
    filters = UserFilters(search="al", tags=("b", "a"))

    assert codec.decode(codec.encode(USER_ID, filters), UserFilters(search="AL", tags=("a", "b"))) == USER_ID


def test_other_filters_are_refused() -> None:
    cursor = codec.encode(USER_ID, UserFilters(is_active=True))

    with pytest.raises(BadRequestError, match="other filters"):
        codec.decode(cursor, UserFilters(is_active=False))


def test_a_forged_payload_is_refused() -> None:
    _, signature = codec.encode(USER_ID, UserFilters()).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"v": 1, "after": "01JZ" + "0" * 22, "f": ""}).encode()).decode()

    with pytest.raises(BadRequestError, match="Invalid cursor"):
        codec.decode(f"{forged.rstrip('=')}.{signature}", UserFilters())


def test_a_cursor_signed_with_another_key_is_refused() -> None:
    cursor = CursorCodec(key=b"o" * 32).encode(USER_ID, UserFilters())

    with pytest.raises(BadRequestError):
        codec.decode(cursor, UserFilters())


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "!!!.???", "e30.e30"])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(BadRequestError):
        codec.decode(garbage, UserFilters())
