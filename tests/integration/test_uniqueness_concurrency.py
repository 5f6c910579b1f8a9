"""Uniqueness under real concurrency: 16 writers race for one username and email.

moto runs in server mode over real HTTP; each thread plays one Lambda execution
environment calling the create operation at the same moment.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from devkit.users_api import counts
from local import strict_dynamodb
from local.invariants import broken_rules
from local.provisioning import LocalResources
from nexus.api.errors import status_for
from nexus.errors import ConflictError
from nexus.operations.registration import UserRegistration
from nexus.services import get_service
from nexus.users import NewUser

WRITERS = 16

pytestmark = [
    pytest.mark.server,
    # The operation is called directly, not through a handler: there is no Lambda context.
    pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time left"),
]


def _race(new_users: list[NewUser]) -> list[int | str]:
    operations = get_service(UserRegistration)
    start = threading.Barrier(len(new_users))

    def create(new_user: NewUser) -> int | str:
        start.wait()
        try:
            operations.create_user_with_welcome(new_user)
        except ConflictError as exc:
            return f"{status_for(exc)} {exc.code}"
        return 201

    with ThreadPoolExecutor(max_workers=len(new_users)) as pool:
        return list(pool.map(create, new_users))


def _items(resources: LocalResources) -> list[dict[str, dict[str, str]]]:
    client = resources.client("dynamodb")
    return client.scan(TableName=resources.physical["UsersTable"]["Ref"], ConsistentRead=True)["Items"]


def test_one_of_sixteen_identical_creates_wins(server_stack: LocalResources) -> None:
    outcomes = _race([NewUser(username="Racer", email="racer@example.com") for _ in range(WRITERS)])

    assert outcomes.count(201) == 1
    assert sorted(o for o in outcomes if o != 201) == ["409 username_taken"] * (WRITERS - 1)
    items = _items(server_stack)
    kinds = sorted({item["pk"]["S"].split("#")[0] for item in items})
    assert kinds == ["COUNTER", "EMAIL", "ENTRY", "USER", "USERNAME"]
    assert len([item for item in items if item["pk"]["S"].startswith("USER#")]) == 1
    assert counts(lambda _: items) == (1, 1)
    user_id = next(item["user_id"]["S"] for item in items if item["pk"]["S"].startswith("USER#"))
    sentinel_owners = {item["user_id"]["S"] for item in items if item["pk"]["S"].startswith(("USERNAME#", "EMAIL#"))}
    assert sentinel_owners == {user_id}


def test_same_email_in_other_cases_is_taken_once(server_stack: LocalResources) -> None:
    new_users = [
        NewUser(username=f"writer{i}", email=f"Shared@{'EXAMPLE' if i % 2 else 'example'}.com") for i in range(WRITERS)
    ]

    outcomes = _race(new_users)

    assert outcomes.count(201) == 1
    assert sorted(o for o in outcomes if o != 201) == ["409 email_taken"] * (WRITERS - 1)
    items = _items(server_stack)
    assert len([i for i in items if i["pk"]["S"].startswith("USERNAME#")]) == 1
    assert counts(lambda _: items) == (1, 1)


def test_one_of_sixteen_creates_wins_while_transactions_overlap_and_conflict(server_stack: LocalResources) -> None:
    """As DynamoDB runs them: a transaction holds its items for a while (here 30 ms), and one that
    overlaps it is cancelled with TransactionConflict; a fifth are cancelled besides. The race
    still gives one 201 and fifteen 409s, and never a 5xx."""
    strict_dynamodb.conflicts.overlap_seconds = 0.03
    strict_dynamodb.conflicts.rate = 0.2
    # Under load the racers may reach moto more than 30 ms apart: these conflicts happen anyway.
    strict_dynamodb.conflicts.cancel_next(3, where=lambda key: key[1] == "USERNAME#overlap")

    outcomes = _race([NewUser(username="Overlap", email=f"overlap{i}@example.com") for i in range(WRITERS)])

    assert outcomes.count(201) == 1
    assert sorted(o for o in outcomes if o != 201) == ["409 username_taken"] * (WRITERS - 1)
    assert strict_dynamodb.conflicts.cancelled >= 3
    assert broken_rules(_items(server_stack), list_shards=1) == []
