"""The users table's own rules (counters, tag counters, index entries, unique names and emails,
every user welcomed or queued), checked on its current items by the tests and the local runner;
each rule that does not hold is reported with the ids it fails for.

local/README.md, "The project's rules on the current data: `/_local/invariants`".
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


def unwelcomed(items: Iterable[Item], welcomed_addresses: set[str], queued_user_ids: set[str]) -> list[str]:
    """Users neither welcomed (marked, or an email to their address) nor queued for a retry."""
    broken = []
    for item in items:
        if not item["pk"]["S"].startswith("USER#") or "welcome_sent_at" in item:
            continue
        user_id = item["user_id"]["S"]
        if item["email"]["S"].casefold() not in welcomed_addresses and user_id not in queued_user_ids:
            broken.append(f"welcome of {user_id}: neither sent nor queued")
    return broken


# What each rule's report starts with -> the rule's name (the local runner's /_local/invariants).
RULES = {
    "counters": "counters match the users",
    "tag counter": "tag counters match the users",
    "entries of": "index entries match their user",
    "orphan entries": "no orphan index entry",
    "sentinel": "names and emails unique (sentinels)",
    "user": "names and emails unique (sentinels)",
    "welcome of": "every user welcomed or queued",
}


def named(report: str) -> dict[str, str]:
    rule = next((name for prefix, name in RULES.items() if report.startswith(prefix)), "other")
    return {"rule": rule, "detail": report}


def main() -> int:
    """`python -m local.invariants` with a JSON request on stdin (the server's /_local/invariants):
    the users table's items are read here, with the layer's current code (layers/shared)."""
    import json
    import sys

    import boto3

    request = json.load(sys.stdin)
    client = boto3.client("dynamodb", endpoint_url=request["endpoint"], region_name=request["region"])
    items: list[Item] = []
    for page in client.get_paginator("scan").paginate(TableName=request["table"], ConsistentRead=True):
        items.extend(page["Items"])
    reports = broken_rules(items, int(request["list_shards"]))
    if request.get("welcomed") is not None:
        reports += unwelcomed(items, set(request["welcomed"]), set(request["queued"]))
    json.dump({"ok": not reports, "broken": [named(report) for report in reports]}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
