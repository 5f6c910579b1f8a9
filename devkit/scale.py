"""Users at scale on the strict emulated DynamoDB: seeding, and what each request reads and writes.

Shared by tests/integration/test_users_scale.py (bounded work, hot items) and ``make bench``
(the same figures at 1k and 10k users). Users are created through ``UserService`` itself (the
same transactions as a sign-up, without the email and event around it), with ids from a
seeded generator so that a run is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from devkit.api_client import ApiClient
from local import strict_dynamodb
from nexus.settings import UsersSettings
from nexus.users import NewUser, UserChanges, UserService

TAGS = [f"tag{n}" for n in range(8)]


def seeded_ids(seed: int) -> Callable[[], str]:
    """ULIDs in creation order (time part increasing), random part from ``seed``."""
    from ulid import ULID

    rng = random.Random(seed)
    state = {"ms": 1_700_000_000_000}

    def new_id() -> str:
        state["ms"] += rng.randrange(1, 50)
        return str(ULID.from_bytes(state["ms"].to_bytes(6, "big") + rng.randbytes(10)))

    return new_id


def user_service(seed: int = 0) -> UserService:
    service = UserService(UsersSettings.from_env(), new_id=seeded_ids(seed))
    service.initialize()
    return service


def seed_users(service: UserService, count: int, *, start: int = 0, seed: int = 0) -> list[Any]:
    """``count`` users: every tenth inactive, each with one of eight tags (12.5 % of users each)."""
    rng = random.Random(seed + start)
    users = []
    for n in range(start, start + count):
        user = service.create_user(
            NewUser(
                username=f"member{n:06d}",
                email=f"member{n:06d}@example.com",
                full_name=f"{rng.choice(['Ada', 'Grace', 'Alan', 'Edsger'])} Member{n:06d}",
                tags=[TAGS[n % len(TAGS)]],
            )
        )
        if n % 10 == 9:
            user = service.update_user(user.id, UserChanges(is_active=False))
        users.append(user)
    return users


def items_read(request: Callable[[], Any]) -> int:
    """Items DynamoDB examined for ``request`` (summed over its calls), from the strict emulator's meter."""
    strict_dynamodb.meter.take()
    request()
    return int(strict_dynamodb.meter.totals(strict_dynamodb.meter.take())["items_read"])


# GET /users requests whose reads must not grow with the table: every filter, alone and combined.
REQUESTS: dict[str, list[tuple[str, str]]] = {
    "page, no filter": [],
    "search matching one user": [("search", "member000042")],
    "search matching every user": [("search", "member")],
    "one tag (12.5 % of users)": [("tag", "tag3")],
    "tag and is_active=false": [("tag", "tag3"), ("is_active", "false")],
    "search and is_active=false": [("search", "memb"), ("is_active", "false")],
    "is_active=false": [("is_active", "false")],
}


def read_per_request(api: ApiClient, limit: int) -> dict[str, int]:
    """Items examined by each of ``REQUESTS`` (a page of ``limit``) and by ``GET /stats/users``."""

    def get(path: str, query: list[tuple[str, str]]) -> Callable[[], Any]:
        def request() -> None:
            response = api.get(path, query=[*query, ("limit", str(limit))] if path == "/users" else None)
            assert response.status == 200, response.body

        return request

    measured = {name: items_read(get("/users", query)) for name, query in REQUESTS.items()}
    measured["GET /stats/users"] = items_read(get("/stats/users", []))
    return measured
