"""UserService: users on DynamoDB, with uniqueness and counters enforced by transactions."""

from __future__ import annotations

import heapq
import math
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from functools import reduce
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from nexus.errors import ConflictError
from nexus.services import Service, inject
from nexus.settings import UsersSettings
from nexus.timeutil import Clock, to_iso, utc_now
from nexus.users.models import (
    COUNTER_KEY,
    CounterItem,
    UniqueValueItem,
    UserItem,
    UsersTableItem,
    bind_users_table,
    email_key,
    list_shard_key,
    user_key,
    username_key,
)
from nexus.users.schemas import NewUser, User, UserChanges, UserCounts, UserFilters

# Attempts of a read-modify-write that lost a race with another writer of the same user.
_WRITE_ATTEMPTS = 3
# DynamoDB's Limit for filtered queries: items evaluated per round trip.
_FILTERED_PAGE_SIZE = 100
_CONDITION_FAILED = "ConditionalCheckFailed"

USERNAME_TAKEN = "username_taken"
EMAIL_TAKEN = "email_taken"


def _new_ulid() -> str:
    from ulid import ULID  # only sign-ups make ids: the reads' cold start skips python-ulid

    return str(ULID())


def search_text(username: str, email: str, full_name: str | None) -> str:
    return "\n".join([username.casefold(), email.casefold(), (full_name or "").casefold()])


def _to_user(item: UserItem) -> User:
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
    )


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


def _all_of(conditions: list[Condition]) -> Condition | None:
    return reduce(lambda left, right: left & right, conditions) if conditions else None


_TAKEN_MESSAGES = {USERNAME_TAKEN: "Username already exists", EMAIL_TAKEN: "Email already exists"}


def _taken(exc: TransactWriteError, candidates: list[tuple[str, str]]) -> ConflictError | None:
    """The conflict for the first of ``(sentinel key, code)`` whose put failed, if any."""
    failed = _failed_keys(exc)
    for key, code in candidates:
        if key in failed:
            return ConflictError(_TAKEN_MESSAGES[code], code=code)
    return None


class WelcomeClaim(Enum):
    """What ``claim_welcome`` found."""

    CLAIMED = "claimed"
    """This caller holds the lease: send, then ``welcome_sent`` (or ``release_welcome``)."""
    ALREADY_SENT = "already_sent"
    IN_PROGRESS = "in_progress"
    """Another caller's lease is live: try again after it."""
    NO_USER = "no_user"


@dataclass(frozen=True)
class WelcomeLease:
    """``claim_welcome``'s answer: what it found, and with ``CLAIMED`` the user and the lease's end."""

    claim: WelcomeClaim
    user: User | None = None
    lease_id: str = ""
    """``release_welcome`` drops the lease only while it is still this one."""


def _condition_check_failed(exc: UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


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

    def _setup(self) -> None:
        bind_users_table(self._settings.users_table_name)

    @property
    def _connection(self) -> Connection:
        return UsersTableItem._get_connection().connection

    def _shard_of(self, user_id: str) -> str:
        return list_shard_key(zlib.crc32(user_id.encode()) % self._shards)

    def _now(self) -> str:
        return to_iso(self._clock())

    # Create ------------------------------------------------------------------------------

    def create_user(self, new: NewUser) -> User:
        """Create a user in one transaction: the user, both sentinels and the counters."""
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
            list_shard=self._shard_of(user_id),
            search_text=search_text(new.username, new.email, new.full_name),
        )
        is_new = UsersTableItem.pk.does_not_exist()
        sentinels = [(username_key(new.username), USERNAME_TAKEN), (email_key(new.email), EMAIL_TAKEN)]
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(item, condition=is_new)
                for key, _ in sentinels:
                    transaction.save(UniqueValueItem(key, user_id=user_id), condition=is_new, return_values="ALL_OLD")
                transaction.update(CounterItem(COUNTER_KEY), actions=self._counter_actions(total=1, active=1))
        except TransactWriteError as exc:
            conflict = _taken(exc, sentinels)
            if conflict is not None:
                raise conflict from exc
            raise
        return _to_user(item)

    @staticmethod
    def _counter_actions(*, total: int = 0, active: int = 0) -> list[Action]:
        actions: list[Action] = [CounterItem.generation.add(1)]
        if total:
            actions.append(CounterItem.total.add(total))
        if active:
            actions.append(CounterItem.active.add(active))
        return actions

    # Read --------------------------------------------------------------------------------

    def _get_item(self, user_id: str) -> UserItem | None:
        try:
            return UserItem.get(user_key(user_id), consistent_read=True)
        except DoesNotExist:
            return None

    def get_user_by_id(self, user_id: str) -> User | None:
        item = self._get_item(user_id)
        return _to_user(item) if item else None

    def get_user_by_username(self, username: str) -> User | None:
        try:
            sentinel = UniqueValueItem.get(username_key(username), consistent_read=True)
        except DoesNotExist:
            return None
        return self.get_user_by_id(sentinel.user_id)

    def get_counts(self) -> UserCounts:
        """Total and active users and the write generation: one strongly consistent read."""
        try:
            counter = CounterItem.get(COUNTER_KEY, consistent_read=True)
        except DoesNotExist:
            return UserCounts(total=0, active=0, generation=0)
        return UserCounts(total=int(counter.total), active=int(counter.active), generation=int(counter.generation))

    # The welcome email's retry marker -------------------------------------------------------
    # Conditional updates of the user item itself: no record of its own, and a deleted user
    # takes its marker with it. Only the retry path writes them (nexus.operations.welcome).

    def claim_welcome(self, user_id: str, lease_seconds: int) -> WelcomeLease:
        """Take the lease on sending ``user_id``'s welcome email, unless it was sent or is leased.

        One conditional UpdateItem that returns the user on success; a consistent GetItem only
        when the condition fails, to say why.
        """
        now = math.floor(self._clock().timestamp())
        lease_id = uuid.uuid4().hex
        free = UserItem.welcome_lease_until.does_not_exist() | (UserItem.welcome_lease_until <= now)
        item = UserItem(user_key(user_id))
        try:
            item.update(
                actions=[
                    UserItem.welcome_lease_until.set(now + lease_seconds),
                    UserItem.welcome_lease_id.set(lease_id),
                ],
                condition=UsersTableItem.pk.exists() & UserItem.welcome_sent_at.does_not_exist() & free,
            )
        except UpdateError as exc:
            if not _condition_check_failed(exc):
                raise
            current = self._get_item(user_id)
            if current is None:
                return WelcomeLease(WelcomeClaim.NO_USER)
            if current.welcome_sent_at is not None:
                return WelcomeLease(WelcomeClaim.ALREADY_SENT)
            return WelcomeLease(WelcomeClaim.IN_PROGRESS)
        return WelcomeLease(WelcomeClaim.CLAIMED, _to_user(item), lease_id)

    def welcome_sent(self, user_id: str) -> None:
        """Record that the welcome email went out (and drop the lease); nothing if the user is gone."""
        self._end_welcome_lease(user_id, [UserItem.welcome_sent_at.set(self._now())], UsersTableItem.pk.exists())

    def release_welcome(self, user_id: str, lease: WelcomeLease) -> None:
        """Drop ``lease`` after a failed send, so that the next delivery may try at once; a lease
        that lapsed and was taken by another consumer is that consumer's and stays."""
        self._end_welcome_lease(user_id, [], UsersTableItem.pk.exists() & (UserItem.welcome_lease_id == lease.lease_id))

    def _end_welcome_lease(self, user_id: str, actions: list[Action], condition: Condition) -> None:
        try:
            UserItem(user_key(user_id)).update(
                actions=[*actions, UserItem.welcome_lease_until.remove(), UserItem.welcome_lease_id.remove()],
                condition=condition,
            )
        except UpdateError as exc:
            if not _condition_check_failed(exc):  # deleted meanwhile, or not our lease: nothing to do
                raise

    # Update ------------------------------------------------------------------------------

    def update_user(self, user_id: str, changes: UserChanges) -> User | None:
        """Apply ``changes``; None when there is no such user.

        One transaction, conditioned on the version read: the user item, a sentinel swap
        for each unique value that changes, and the counters. A lost race re-reads and
        re-applies (the changes are absolute values, so that is safe).
        """
        for _ in range(_WRITE_ATTEMPTS):
            current = self._get_item(user_id)
            if current is None:
                return None
            try:
                return self._apply_changes(current, changes)
            except _VersionConflict:
                continue
        raise ConflictError("The user was changed concurrently; try again", code="concurrent_update")

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
            UserItem.search_text.set(search_text(values["username"], values["email"], values["full_name"])),
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
        active_delta = int(values["is_active"]) - int(current.is_active)
        owned_by_user = UniqueValueItem.user_id == current.user_id
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.update(current, actions=actions, condition=UserItem.version == current.version)
                for old, new, _ in swaps:
                    transaction.delete(UniqueValueItem(old), condition=owned_by_user)
                    transaction.save(
                        UniqueValueItem(new, user_id=current.user_id),
                        condition=UsersTableItem.pk.does_not_exist(),
                        return_values="ALL_OLD",
                    )
                transaction.update(CounterItem(COUNTER_KEY), actions=self._counter_actions(active=active_delta))
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
        """Delete the user, free its username and email, adjust the counters: one transaction.

        Returns the deleted user (its ``version`` is the deletion's), or None if there was none.
        """
        for _ in range(_WRITE_ATTEMPTS):
            current = self._get_item(user_id)
            if current is None:
                return None
            owned_by_user = UniqueValueItem.user_id == current.user_id
            try:
                with TransactWrite(connection=self._connection) as transaction:
                    transaction.delete(current, condition=UserItem.version == current.version)
                    transaction.delete(UniqueValueItem(username_key(current.username)), condition=owned_by_user)
                    transaction.delete(UniqueValueItem(email_key(current.email)), condition=owned_by_user)
                    transaction.update(
                        CounterItem(COUNTER_KEY),
                        actions=self._counter_actions(total=-1, active=-1 if current.is_active else 0),
                    )
            except TransactWriteError as exc:
                if _condition_failed(exc):
                    continue
                raise
            deleted = _to_user(current)
            return deleted.model_copy(update={"version": deleted.version + 1})
        raise ConflictError("The user was changed concurrently; try again", code="concurrent_update")

    # List ----------------------------------------------------------------------------------

    def _filter_condition(self, filters: UserFilters) -> Condition | None:
        conditions: list[Condition] = []
        if filters.search is not None:
            conditions.append(UserItem.search_text.contains(filters.search.casefold()))
        if filters.is_active is not None:
            conditions.append(UserItem.is_active == filters.is_active)
        conditions.extend(UserItem.tags.contains(tag) for tag in filters.tags)
        return _all_of(conditions)

    def list_users(self, filters: UserFilters, limit: int, after_id: str | None = None) -> tuple[list[User], bool]:
        """Up to ``limit`` users newest first (older than ``after_id``), and whether more exist.

        One Query per shard of the ``by_created`` index, merged by id (ULIDs sort by time).
        """
        condition = self._filter_condition(filters)
        wanted = limit + 1  # one more than a page tells whether there is a next page
        per_shard: list[Iterable[UserItem]] = []
        for shard in range(self._shards):
            per_shard.append(
                UserItem.by_created.query(
                    list_shard_key(shard),
                    UserItem.user_id < after_id if after_id else None,
                    filter_condition=condition,
                    scan_index_forward=False,
                    limit=wanted,
                    page_size=_FILTERED_PAGE_SIZE if condition is not None else wanted,
                )
            )
        merged = heapq.merge(*per_shard, key=lambda item: item.user_id, reverse=True)
        items = [_to_user(item) for _, item in zip(range(wanted), merged, strict=False)]
        return items[:limit], len(items) > limit

    def count_users(self, filters: UserFilters) -> int:
        """Exact number of users matching ``filters``.

        Without filters, one read of the counters; with filters, a COUNT query over the
        whole index (cost grows with the number of users: see README).
        """
        condition = self._filter_condition(filters)
        if condition is None:
            return self.get_counts().total
        return sum(
            UserItem.by_created.count(list_shard_key(shard), filter_condition=condition)
            for shard in range(self._shards)
        )

    def ping(self) -> None:
        self.get_counts()


class _VersionConflict(Exception):
    """The user changed between our read and our transaction."""
