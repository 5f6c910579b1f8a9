"""The users table in pynamodb: users, their uniqueness sentinels, index entries and counter shards
as polymorphic models of one table (the items: README.md, "Users on DynamoDB"), so the table costs
one botocore client however many kinds of item it holds.

docs/decisions.md, "One DynamoDB table, polymorphic items, uniqueness sentinels in transactions".
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from nexus import aws

LEGACY_COUNTER_KEY = "COUNTER#users"
LIST_INDEX_NAME = "by_created"
# The user's ``index_version`` once its entries and tag counts are written (new users, or
# the backfill for users of the layout before entries).
INDEX_VERSION = 1


def user_key(user_id: str) -> str:
    return f"USER#{user_id}"


def username_key(username: str) -> str:
    return f"USERNAME#{username.casefold()}"


def email_key(email: str) -> str:
    return f"EMAIL#{email.casefold()}"


def entry_key(user_id: str, slot: str) -> str:
    return f"ENTRY#{user_id}#{slot}"


def counter_key(shard: int) -> str:
    return f"{LEGACY_COUNTER_KEY}#{shard}"


def tag_counter_key(shard: int, tag: str) -> str:
    return f"COUNTER#tag#{shard}#{tag}"


class UsersTableItem(Model):
    class Meta:
        table_name = "unbound"  # set by bind_users_table() at cold start

    pk = UnicodeAttribute(hash_key=True)
    kind = DiscriminatorAttribute()


class NewestFirstIndex(GlobalSecondaryIndex["UserItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = LIST_INDEX_NAME
        projection = AllProjection()

    list_shard = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)


class UserItem(UsersTableItem, discriminator="user"):
    user_id = UnicodeAttribute()
    username = UnicodeAttribute()
    email = UnicodeAttribute()
    full_name = UnicodeAttribute(null=True)
    is_active = BooleanAttribute()
    # pynamodb's stubs type `of` as the Python type, but it takes the attribute class.
    tags: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, default=list)  # type: ignore[arg-type]
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # Every write increments it; conditions on it make read-modify-write safe.
    version = NumberAttribute()
    list_shard = UnicodeAttribute()
    # INDEX_VERSION once the user's entries and tag counts exist; None for a user written
    # before entries existed, until the backfill (or its next update) indexes it.
    index_version = NumberAttribute(null=True)
    # A digest of the caller and Idempotency-Key of a keyed sign-up: its retry recognises the user.
    creation_key = UnicodeAttribute(null=True)
    # The welcome email's retry path only (nexus.operations.welcome): a consumer's lease while
    # it sends (its end in epoch seconds, and whose it is), and when a retry sent it. An email
    # sent at sign-up writes none of them.
    welcome_lease_until = NumberAttribute(null=True)
    welcome_lease_id = UnicodeAttribute(null=True)
    welcome_sent_at = UnicodeAttribute(null=True)

    by_created = NewestFirstIndex()


class UniqueValueItem(UsersTableItem, discriminator="unique"):
    user_id = UnicodeAttribute()


class IndexEntryItem(UsersTableItem, discriminator="entry"):
    """The user ``user_id`` in the family ``list_shard`` (its hash key in ``by_created``)."""

    list_shard = UnicodeAttribute()
    user_id = UnicodeAttribute()


class CounterItem(UsersTableItem, discriminator="counter"):
    """A shard of the counts: totals, active users and a generation bumped by every write."""

    total = NumberAttribute(default=0)
    active = NumberAttribute(default=0)
    generation = NumberAttribute(default=0)


class TagCounterItem(UsersTableItem, discriminator="tag_counter"):
    """A shard of the number of users with one tag."""

    total = NumberAttribute(default=0)


def bind_users_table(table_name: str, **meta: Any) -> None:
    """Point the models at ``table_name`` and create the shared connection (lazy client)."""
    UsersTableItem.Meta.table_name = table_name
    for name, value in meta.items():
        setattr(UsersTableItem.Meta, name, value)
    UsersTableItem._connection = None
    aws.share_dynamodb_client(UsersTableItem)
