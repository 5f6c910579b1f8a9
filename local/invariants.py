"""The users table's own rules, checked on its current items (tests, and the local runner).

Each rule that does not hold is reported with the ids it fails for:

- the counter shards (plus the legacy counter) add up to the users and the active users;
- the tag counter shards add up to the users that have each tag (indexed users only);
- every indexed user has exactly the index entries its fields call for, in its list shard;
- no entry belongs to a user that does not exist;
- every sentinel names an existing user whose username or email it is, and every user holds
  its two sentinels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from nexus.users import index
from nexus.users.index import IndexedUser

Item = dict[str, Any]


def _text(item: Item, name: str) -> str | None:
    value = item.get(name)
    return None if value is None or "NULL" in value else value["S"]


def _number(item: Item, name: str) -> int:
    return int(item[name]["N"]) if name in item else 0


def _indexed_user(item: Item) -> IndexedUser:
    tags = tuple(value["S"] for value in item.get("tags", {}).get("L", []))
    return IndexedUser(
        item["user_id"]["S"],
        item["username"]["S"],
        item["email"]["S"],
        _text(item, "full_name"),
        item["is_active"]["BOOL"],
        tags,
    )


def broken_rules(items: Iterable[Item], list_shards: int) -> list[str]:
    """What does not hold on the users table's ``items`` (empty: every rule holds)."""
    users: dict[str, Item] = {}
    entries: dict[str, dict[str, str]] = {}
    sentinels: dict[str, str] = {}
    totals: Counter[str] = Counter()
    tag_totals: Counter[str] = Counter()
    for item in items:
        key = item["pk"]["S"]
        if key.startswith("USER#"):
            users[key.removeprefix("USER#")] = item
        elif key.startswith("ENTRY#"):
            _, user_id, slot = key.split("#", 2)
            entries.setdefault(user_id, {})[slot] = item["list_shard"]["S"]
        elif key.startswith(("USERNAME#", "EMAIL#")):
            sentinels[key] = item["user_id"]["S"]
        elif key == "COUNTER#users" or key.startswith("COUNTER#users#"):
            for name in ("total", "active"):
                totals[name] += _number(item, name)
        elif key.startswith("COUNTER#tag#"):
            tag_totals[key.split("#", 3)[3]] += _number(item, "total")

    broken = []
    active = sum(1 for user in users.values() if user["is_active"]["BOOL"])
    if (totals["total"], totals["active"]) != (len(users), active):
        broken.append(
            f"counters: total {totals['total']}, active {totals['active']}; users {len(users)}, active {active}"
        )
    indexed = {user_id: _indexed_user(item) for user_id, item in users.items() if "index_version" in item}
    tagged = Counter(tag for user in indexed.values() for tag in user.tags)
    for tag in sorted(set(tagged) | {t for t, n in tag_totals.items() if n}):
        if tagged[tag] != tag_totals[tag]:
            broken.append(f"tag counter {tag!r}: {tag_totals[tag]}; users with it {tagged[tag]}")
    for user_id, user in sorted(indexed.items()):
        shard = index.list_shard_of(user_id, list_shards)
        expected = {slot: index.family_shard_key(family, shard) for slot, family in user.entries().items()}
        if entries.get(user_id, {}) != expected:
            broken.append(f"entries of {user_id}: {entries.get(user_id, {})}; expected {expected}")
    for user_id in sorted(set(entries) - set(users)):
        broken.append(f"orphan entries of {user_id}: {sorted(entries[user_id])}")
    for key, user_id in sorted(sentinels.items()):
        owner = users.get(user_id)
        field = "username" if key.startswith("USERNAME#") else "email"
        if owner is None or key.split("#", 1)[1] != owner[field]["S"].casefold():
            broken.append(f"sentinel {key} names {user_id}, which does not hold it")
    for user_id, user in sorted(users.items()):
        for key in (f"USERNAME#{user['username']['S'].casefold()}", f"EMAIL#{user['email']['S'].casefold()}"):
            if sentinels.get(key) != user_id:
                broken.append(f"user {user_id} does not hold {key}")
    return broken
