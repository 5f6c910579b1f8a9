"""Index the users of a table written before index entries and counter shards: each user without
``index_version`` in its own transaction; idempotent, and resumable with ``--start-after``.

Run once after deploying that layout: docs/OPERATIONS.md, "Upgrading a stack that has users".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from nexus import aws
from nexus.errors import ConfigurationError
from nexus.settings import UsersSettings
from nexus.users.service import UserService


@dataclass(frozen=True)
class BackfillPage:
    scanned: int
    indexed: int
    next_key: str | None
    """Where the next page starts (``--start-after``); None when the table is done."""


def backfill_pages(
    service: UserService, table_name: str, *, start_after: str | None = None, page_size: int = 100
) -> Iterator[BackfillPage]:
    """Scan for users not indexed yet, a page at a time, indexing each; one report per page."""
    client = aws.client("dynamodb")
    scan: dict[str, Any] = {
        "TableName": table_name,
        "Limit": page_size,
        "ConsistentRead": True,
        "FilterExpression": "begins_with(pk, :user) AND attribute_not_exists(index_version)",
        "ExpressionAttributeValues": {":user": {"S": "USER#"}},
        "ProjectionExpression": "pk, user_id",
    }
    if start_after is not None:
        scan["ExclusiveStartKey"] = {"pk": {"S": start_after}}
    while True:
        page = client.scan(**scan)
        indexed = sum(service.index_user(item["user_id"]["S"]) for item in page["Items"])
        last = page.get("LastEvaluatedKey")
        next_key = last["pk"]["S"] if last else None
        yield BackfillPage(page["ScannedCount"], indexed, next_key)
        if next_key is None:
            return
        scan["ExclusiveStartKey"] = last


def main(argv: list[str] | None = None, out: Callable[[str], Any] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m nexus.users.backfill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True, help="the stack's UsersTable (physical name)")
    parser.add_argument("--start-after", help="the next_key a previous run printed last")
    parser.add_argument("--page-size", type=int, default=100, help="items scanned per page (1-1000)")
    parser.add_argument(
        "--list-shards",
        type=int,
        default=int(os.environ.get("USER_LIST_SHARDS", "1")),
        help="the stack's UserListShards parameter (default: $USER_LIST_SHARDS or 1)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.page_size <= 1000:
        parser.error("--page-size must be 1 to 1000")
    service = UserService(UsersSettings(users_table_name=args.table, user_list_shards=args.list_shards))
    service.initialize()
    total = 0
    try:
        for page in backfill_pages(service, args.table, start_after=args.start_after, page_size=args.page_size):
            total += page.indexed
            out(json.dumps({"scanned": page.scanned, "indexed": page.indexed, "next_key": page.next_key}))
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out(json.dumps({"done": True, "indexed": total}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
