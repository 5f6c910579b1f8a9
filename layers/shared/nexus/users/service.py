"""UserService: users on DynamoDB, with uniqueness, index entries and counters kept by transactions.

Every write is one transaction on the user's own items (the user, its sentinels, its index
entries) and on one counter shard: no item is shared by more than 1/32 of the writes
(``nexus.users.index``). DynamoDB cancels a transaction that overlaps another; the write is
sent again (``nexus.conflicts``).
"""

from __future__ import annotations

import contextlib
import heapq
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from nexus import aws
from nexus.conflicts import retry_conflicts
from nexus.errors import ConfigurationError, ConflictError
from nexus.services import Service, inject
from nexus.settings import UsersSettings
from nexus.timeutil import Clock, to_iso, utc_now
from nexus.users import index
from nexus.users.index import IndexedUser
from nexus.users.models import (
    INDEX_VERSION,
    LEGACY_COUNTER_KEY,
    LIST_INDEX_NAME,
    CounterItem,
    IndexEntryItem,
    TagCounterItem,
    UniqueValueItem,
    UserItem,
    UsersTableItem,
    bind_users_table,
    counter_key,
    email_key,
    entry_key,
    tag_counter_key,
    user_key,
    username_key,
)
from nexus.users.schemas import NewUser, User, UserChanges, UserCounts, UserFilters

# Attempts of a read-modify-write that lost a race with another writer of the same user.
_WRITE_ATTEMPTS = 3
_CONDITION_FAILED = "ConditionalCheckFailed"
# BatchGetItem: at most 100 keys a call; unprocessed keys are asked again this many times.
_BATCH_GET_MAX_KEYS = 100
_BATCH_GET_ROUNDS = 5

USERNAME_TAKEN = "username_taken"
EMAIL_TAKEN = "email_taken"


def _new_ulid() -> str:
    from ulid import ULID  # only sign-ups make ids: the reads' cold start skips python-ulid

    return str(ULID())


def to_user(item: UserItem) -> User:
    return User(
        id=item.user_id,
        username=item.username,
        email=item.email,
        full_name=item.full_name,
        is_active=item.is_active,
        tags=list(item.tags or []),
        created_at=item.created_at,
        updated_at=item.updated_at,
        version=int(item.version),
        creation_key=item.creation_key,
    )


def _fields_of(item: UserItem) -> IndexedUser:
    return IndexedUser(item.user_id, item.username, item.email, item.full_name, item.is_active, tuple(item.tags or []))


def _indexed(item: UserItem) -> IndexedUser | None:
    """What ``item``'s entries and tag counts say today: nothing for a user not indexed yet."""
    return None if item.index_version is None else _fields_of(item)


def _failed_keys(exc: TransactWriteError) -> set[str]:
    """The keys of the items whose condition failed.

    Read from the items returned with the cancellation reasons (``ALL_OLD`` on failure),
    not from positions: pynamodb reorders a transaction's items by kind.
    """
    return {
        reason.raw_item["pk"]["S"]
        for reason in exc.cancellation_reasons
        if reason and reason.code == _CONDITION_FAILED and reason.raw_item
    }


def _condition_failed(exc: TransactWriteError) -> bool:
    return any(reason and reason.code == _CONDITION_FAILED for reason in exc.cancellation_reasons)


_TAKEN_MESSAGES = {USERNAME_TAKEN: "Username already exists", EMAIL_TAKEN: "Email already exists"}


def _taken(exc: TransactWriteError, candidates: list[tuple[str, str]]) -> ConflictError | None:
    """The conflict for the first of ``(sentinel key, code)`` whose put failed, if any."""
    failed = _failed_keys(exc)
    for key, code in candidates:
        if key in failed:
            return ConflictError(_TAKEN_MESSAGES[code], code=code)
    return None


def _number(item: dict[str, Any] | None, name: str) -> int:
    return int(item[name]["N"]) if item and name in item else 0


class UserService(Service):
    def __init__(
        self,
        settings: UsersSettings = inject(),
        *,
        clock: Clock = utc_now,
        new_id: Callable[[], str] = _new_ulid,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._clock = clock
        self._new_id = new_id
        self._shards = settings.user_list_shards
        self._table = settings.users_table_name
        self._counter_shards = index.CounterShards()

    def _setup(self) -> None:
        bind_users_table(self._table)

    @property
    def _connection(self) -> Connection:
        return UsersTableItem._get_connection().connection

    def _list_shard(self, family: str, user_id: str) -> str:
        return index.family_shard_key(family, index.list_shard_of(user_id, self._shards))

    def _now(self) -> str:
        return to_iso(self._clock())

    def _transact(self, write: Callable[[TransactWrite], None], operation: str) -> None:
        """One transaction built by ``write``, sent again while DynamoDB cancels it for a conflict.

        Each attempt has its own ClientRequestToken: botocore's own resend of an attempt whose
        answer was lost is then idempotent, and an attempt after a cancellation is a new one.
        """

        def attempt() -> None:
            with TransactWrite(connection=self._connection, client_request_token=uuid.uuid4().hex) as transaction:
                write(transaction)

        retry_conflicts(attempt, operation)

    # Index entries and counters ------------------------------------------------------------

    def _index_changes(
        self,
        transaction: TransactWrite,
        user_id: str,
        before: IndexedUser | None,
        after: IndexedUser | None,
        *,
        total: int = 0,
        active: int = 0,
    ) -> None:
        """The writes that move ``user_id`` from the index entries and tag counts of ``before``
        to those of ``after`` (None: none at all), and add ``total`` and ``active`` to its
        counter shard with its generation."""
        old = before.entries() if before else {}
        new = after.entries() if after else {}
        for slot in sorted(old.keys() | new.keys()):
            if slot not in new:
                transaction.delete(IndexEntryItem(entry_key(user_id, slot)))
            elif old.get(slot) != new[slot]:
                shard = self._list_shard(new[slot], user_id)
                transaction.save(IndexEntryItem(entry_key(user_id, slot), list_shard=shard, user_id=user_id))
        counter_shard = self._counter_shards.take()
        old_tags = set(before.tags) if before else set()
        new_tags = set(after.tags) if after else set()
        for tag, delta in [(t, 1) for t in sorted(new_tags - old_tags)] + [
            (t, -1) for t in sorted(old_tags - new_tags)
        ]:
            transaction.update(
                TagCounterItem(tag_counter_key(counter_shard, tag)), actions=[TagCounterItem.total.add(delta)]
            )
        actions: list[Action] = [CounterItem.generation.add(1)]
        if total:
            actions.append(CounterItem.total.add(total))
        if active:
            actions.append(CounterItem.active.add(active))
        transaction.update(CounterItem(counter_key(counter_shard)), actions=actions)

    # Create ------------------------------------------------------------------------------

    def create_user(self, new: NewUser, creation_key: str | None = None) -> User:
        """Create a user in one transaction: the user, both sentinels, its entries and counts.

        ``creation_key``: the digest of a keyed sign-up (kept on the user, so that its retry
        after a lost answer recognises the user it created)."""
        user_id, now = self._new_id(), self._now()
        item = UserItem(
            user_key(user_id),
            user_id=user_id,
            username=new.username,
            email=new.email,
            full_name=new.full_name,
            is_active=True,
            tags=list(new.tags),
            created_at=now,
            updated_at=now,
            version=1,
            list_shard=self._list_shard(index.ALL_USERS, user_id),
            index_version=INDEX_VERSION,
            creation_key=creation_key,
        )
        is_new = UsersTableItem.pk.does_not_exist()
        sentinels = [(username_key(new.username), USERNAME_TAKEN), (email_key(new.email), EMAIL_TAKEN)]
        indexed = IndexedUser(user_id, new.username, new.email, new.full_name, True, tuple(new.tags))

        def write(transaction: TransactWrite) -> None:
            transaction.save(item, condition=is_new)
            for key, _ in sentinels:
                transaction.save(UniqueValueItem(key, user_id=user_id), condition=is_new, return_values="ALL_OLD")
            self._index_changes(transaction, user_id, None, indexed, total=1, active=1)

        try:
            self._transact(write, "create_user")
        except TransactWriteError as exc:
            conflict = _taken(exc, sentinels)
            if conflict is not None:
                raise conflict from exc
            raise
        return to_user(item)

    # Read --------------------------------------------------------------------------------

    def get_item(self, user_id: str) -> UserItem | None:
        try:
            return UserItem.get(user_key(user_id), consistent_read=True)
        except DoesNotExist:
            return None

    def get_user_by_id(self, user_id: str) -> User | None:
        item = self.get_item(user_id)
        return to_user(item) if item else None

    def get_user_by_username(self, username: str) -> User | None:
        try:
            sentinel = UniqueValueItem.get(username_key(username), consistent_read=True)
        except DoesNotExist:
            return None
        return self.get_user_by_id(sentinel.user_id)

    def _batch_get(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The items of ``keys`` that exist (strongly consistent), by key: one BatchGetItem per
        100 keys, plus a call for any keys DynamoDB left unprocessed."""
        client = aws.client("dynamodb")
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _BATCH_GET_MAX_KEYS):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"pk": {"S": k}} for k in keys[start : start + _BATCH_GET_MAX_KEYS]],
                    "ConsistentRead": True,
                }
            }
            for round_ in range(_BATCH_GET_ROUNDS):
                answer = client.batch_get_item(RequestItems=request)
                found.update({item["pk"]["S"]: item for item in answer["Responses"].get(self._table, [])})
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.02 * 2**round_)
            else:
                raise RuntimeError("BatchGetItem left keys unprocessed after retries")
        return found

    def get_counts(self, tag: str | None = None) -> UserCounts:
        """Total and active users, the write generation and, with ``tag``, the users that have
        it: one strongly consistent BatchGetItem of every counter shard."""
        shards = range(index.COUNTER_SHARDS)
        keys = [LEGACY_COUNTER_KEY, *(counter_key(s) for s in shards)]
        tag_keys = [tag_counter_key(s, tag) for s in shards] if tag is not None else []
        found = self._batch_get(keys + tag_keys)
        counters = [found.get(key) for key in keys]
        return UserCounts(
            total=sum(_number(c, "total") for c in counters),
            active=sum(_number(c, "active") for c in counters),
            generation=sum(_number(c, "generation") for c in counters),
            tagged=sum(_number(found.get(key), "total") for key in tag_keys) if tag is not None else None,
        )

    # Update ------------------------------------------------------------------------------

    def update_user(self, user_id: str, changes: UserChanges) -> User | None:
        """Apply ``changes``; None when there is no such user.

        One transaction, conditioned on the version read: the user item, a sentinel swap
        for each unique value that changes, the entries and counts that change. A lost race
        re-reads and re-applies (the changes are absolute values, so that is safe).
        """
        return self._read_modify_write(user_id, lambda current: self._apply_changes(current, changes), None)

    def _read_modify_write[T](self, user_id: str, write: Callable[[UserItem], T], absent: T) -> T:
        """``write(current)`` on the user as read; ``absent`` when there is none. A write that
        lost to another writer of the user (``_VersionConflict``) reads it again and retries."""
        for _ in range(_WRITE_ATTEMPTS):
            current = self.get_item(user_id)
            if current is None:
                return absent
            try:
                return write(current)
            except _VersionConflict:
                continue
        raise ConflictError("The user was changed concurrently; try again", code="concurrent_update")

    def _transact_at_version(self, write: Callable[[TransactWrite], None], operation: str) -> None:
        """``_transact``, whose failed condition means the user changed since it was read."""
        try:
            self._transact(write, operation)
        except TransactWriteError as exc:
            if _condition_failed(exc):
                raise _VersionConflict from exc
            raise

    def _apply_changes(self, current: UserItem, changes: UserChanges) -> User:
        given = changes.model_dump(include=changes.model_fields_set)
        values: dict[str, Any] = {
            "username": current.username,
            "email": current.email,
            "full_name": current.full_name,
            "is_active": current.is_active,
            "tags": list(current.tags or []),
        }
        values.update(given)
        now = self._now()
        actions: list[Action] = [
            UserItem.username.set(values["username"]),
            UserItem.email.set(values["email"]),
            UserItem.is_active.set(values["is_active"]),
            UserItem.tags.set(values["tags"]),
            UserItem.updated_at.set(now),
            UserItem.version.add(1),
            UserItem.index_version.set(INDEX_VERSION),
            UserItem.full_name.set(values["full_name"])
            if values["full_name"] is not None
            else UserItem.full_name.remove(),
        ]
        # (old sentinel, new sentinel, code) for each unique value whose case-folded form changes
        swaps = [
            (old, new, code)
            for old, new, code in (
                (username_key(current.username), username_key(values["username"]), USERNAME_TAKEN),
                (email_key(current.email), email_key(values["email"]), EMAIL_TAKEN),
            )
            if old != new
        ]
        after = IndexedUser(
            current.user_id,
            values["username"],
            values["email"],
            values["full_name"],
            values["is_active"],
            tuple(values["tags"]),
        )
        owned_by_user = UniqueValueItem.user_id == current.user_id

        def write(transaction: TransactWrite) -> None:
            transaction.update(current, actions=actions, condition=UserItem.version == current.version)
            for old, new, _ in swaps:
                transaction.delete(UniqueValueItem(old), condition=owned_by_user)
                transaction.save(
                    UniqueValueItem(new, user_id=current.user_id),
                    condition=UsersTableItem.pk.does_not_exist(),
                    return_values="ALL_OLD",
                )
            active = int(values["is_active"]) - int(current.is_active)
            self._index_changes(transaction, current.user_id, _indexed(current), after, active=active)

        try:
            self._transact(write, "update_user")
        except TransactWriteError as exc:
            conflict = _taken(exc, [(new, code) for _, new, code in swaps])
            if conflict is not None:
                raise conflict from exc
            if _condition_failed(exc):
                raise _VersionConflict from exc
            raise
        return User(
            id=current.user_id,
            created_at=current.created_at,
            updated_at=now,
            version=int(current.version) + 1,
            **values,
        )

    # Delete ------------------------------------------------------------------------------

    def delete_user(self, user_id: str) -> User | None:
        """Delete the user, free its username and email, drop its entries and counts: one transaction.

        Returns the deleted user (its ``version`` is the deletion's), or None if there was none.
        """

        def delete(current: UserItem) -> User:
            self._transact_at_version(self._deletion(current), "delete_user")
            deleted = to_user(current)
            return deleted.model_copy(update={"version": deleted.version + 1})

        return self._read_modify_write(user_id, delete, None)

    def _deletion(self, current: UserItem) -> Callable[[TransactWrite], None]:
        owned_by_user = UniqueValueItem.user_id == current.user_id

        def write(transaction: TransactWrite) -> None:
            transaction.delete(current, condition=UserItem.version == current.version)
            transaction.delete(UniqueValueItem(username_key(current.username)), condition=owned_by_user)
            transaction.delete(UniqueValueItem(email_key(current.email)), condition=owned_by_user)
            # A user not indexed yet has no entries nor tag counts; it is in the totals all the same.
            active = -int(current.is_active)
            self._index_changes(transaction, current.user_id, _indexed(current), None, total=-1, active=active)

        return write

    # Backfill ------------------------------------------------------------------------------

    def index_user(self, user_id: str) -> bool:
        """Write the entries and tag counts of a user written before they existed (its totals are
        in the legacy counter already). False when there was nothing to do: indexed, or gone.

        One transaction conditioned on the version read and on the user not being indexed, so a
        concurrent update (which indexes the user itself) or a second backfill never counts twice.
        """

        def index_once(current: UserItem) -> bool:
            if current.index_version is not None:
                return False
            if current.list_shard != self._list_shard(index.ALL_USERS, user_id):
                raise ConfigurationError(
                    f"user {user_id} is on list shard {current.list_shard}: "
                    f"USER_LIST_SHARDS ({self._shards}) is not the stack's UserListShards"
                )

            def write(transaction: TransactWrite) -> None:
                transaction.update(
                    current,
                    actions=[UserItem.index_version.set(INDEX_VERSION), UserItem.version.add(1)],
                    condition=(UserItem.version == current.version) & UserItem.index_version.does_not_exist(),
                )
                self._index_changes(transaction, user_id, None, _fields_of(current))

            self._transact_at_version(write, "index_user")
            return True

        return self._read_modify_write(user_id, index_once, False)

    # List ----------------------------------------------------------------------------------

    def _read_family(
        self, family: str, count: int, after_id: str | None, *, whole_items: bool
    ) -> tuple[list[dict[str, Any]], bool]:
        """The first ``count`` items of ``family`` newest first (older than ``after_id``), and
        whether more exist: one Query per list shard, each for ``count + 1``, merged by id."""
        client = aws.client("dynamodb")
        condition = "list_shard = :family" + (" AND user_id < :after" if after_id else "")
        per_shard: list[Iterator[dict[str, Any]]] = []
        for shard in range(self._shards):
            values = {":family": {"S": index.family_shard_key(family, shard)}}
            if after_id:
                values[":after"] = {"S": after_id}
            query: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": LIST_INDEX_NAME,
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ScanIndexForward": False,
                "Limit": count + 1,
            }
            if not whole_items:
                query["ProjectionExpression"] = "user_id"
            per_shard.append(iter(client.query(**query)["Items"]))
        merged = heapq.merge(*per_shard, key=lambda item: item["user_id"]["S"], reverse=True)
        items = [item for _, item in zip(range(count + 1), merged, strict=False)]
        return items[:count], len(items) > count

    def list_users(
        self, filters: UserFilters, limit: int, after_id: str | None = None
    ) -> tuple[list[User], str | None]:
        """Up to ``limit`` users matching ``filters``, newest first and older than ``after_id``,
        and the id to continue after (None: no more).

        Reads one family of the index (``index.plan``): ``limit`` entries when every entry of
        it matches, else ``index.examined(limit)``; the users behind entries come from one
        strongly consistent BatchGetItem and are checked against the filters, so an entry the
        index has not caught up with is never a wrong answer.
        """
        plan = index.plan(filters)
        whole = plan.family == index.ALL_USERS
        count = limit if plan.exact else index.examined(limit)
        items, more = self._read_family(plan.family, count, after_id, whole_items=whole)
        # Once each: an index that has not caught up with a slot rewrite can list a user twice.
        ids = list(dict.fromkeys(item["user_id"]["S"] for item in items))
        if whole:
            found = {item["user_id"]["S"]: item for item in items}
        else:
            found = {item["user_id"]["S"]: item for item in self._batch_get([user_key(i) for i in ids]).values()}
        users: list[User] = []
        for position, user_id in enumerate(ids):
            raw = found.get(user_id)
            user = to_user(UserItem.from_raw_data(raw)) if raw else None
            if user is not None and index.matches(IndexedUser.of(user), filters):
                users.append(user)
            if len(users) == limit:
                return users, user_id if (more or position < len(ids) - 1) else None
        return users, ids[-1] if more and ids else None

    def ping(self) -> None:
        """One GetItem: the table answers (the item need not exist)."""
        with contextlib.suppress(DoesNotExist):
            CounterItem.get(LEGACY_COUNTER_KEY)


class _VersionConflict(Exception):
    """The user changed between our read and our transaction."""
