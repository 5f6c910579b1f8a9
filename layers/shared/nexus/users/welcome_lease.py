"""The welcome email's lease and its sent marker, kept on the user item itself.

Conditional updates of the user item: no record of its own, and a deleted user takes its marker
with it. Only the retry path writes them (nexus.operations.welcome_retries): a message may be
delivered more than once, and the lease makes one consumer at a time send it.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from enum import Enum

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from nexus.conflicts import retry_conflicts
from nexus.services import Service, inject
from nexus.timeutil import Clock, to_iso, utc_now
from nexus.users.models import UserItem, UsersTableItem, user_key
from nexus.users.schemas import User
from nexus.users.service import UserService, to_user


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


class WelcomeLeases(Service):
    def __init__(self, users: UserService = inject(), *, clock: Clock = utc_now) -> None:
        super().__init__()
        self._users = users  # binds the users table; reads a user whose lease could not be taken
        self._clock = clock

    def _now(self) -> str:
        return to_iso(self._clock())

    def claim_welcome(self, user_id: str, lease_seconds: int) -> WelcomeLease:
        """Take the lease on sending ``user_id``'s welcome email, unless it was sent or is leased.

        One conditional UpdateItem that returns the user on success; a consistent GetItem only
        when the condition fails, to say why.
        """
        now = math.floor(self._clock().timestamp())
        lease_id = uuid.uuid4().hex
        free = UserItem.welcome_lease_until.does_not_exist() | (UserItem.welcome_lease_until <= now)
        item = UserItem(user_key(user_id))

        def claim() -> None:
            item.update(
                actions=[
                    UserItem.welcome_lease_until.set(now + lease_seconds),
                    UserItem.welcome_lease_id.set(lease_id),
                ],
                condition=UsersTableItem.pk.exists() & UserItem.welcome_sent_at.does_not_exist() & free,
            )

        try:
            retry_conflicts(claim, "claim_welcome")
        except UpdateError as exc:
            if not _condition_check_failed(exc):
                raise
            current = self._users.get_item(user_id)
            if current is None:
                return WelcomeLease(WelcomeClaim.NO_USER)
            if current.welcome_sent_at is not None:
                return WelcomeLease(WelcomeClaim.ALREADY_SENT)
            return WelcomeLease(WelcomeClaim.IN_PROGRESS)
        return WelcomeLease(WelcomeClaim.CLAIMED, to_user(item), lease_id)

    def welcome_sent(self, user_id: str) -> None:
        """Record that the welcome email went out (and drop the lease); nothing if the user is gone."""
        self._end_welcome_lease(user_id, [UserItem.welcome_sent_at.set(self._now())], UsersTableItem.pk.exists())

    def release_welcome(self, user_id: str, lease: WelcomeLease) -> None:
        """Drop ``lease`` after a failed send, so that the next delivery may try at once; a lease
        that lapsed and was taken by another consumer is that consumer's and stays."""
        self._end_welcome_lease(user_id, [], UsersTableItem.pk.exists() & (UserItem.welcome_lease_id == lease.lease_id))

    def _end_welcome_lease(self, user_id: str, actions: list[Action], condition: Condition) -> None:
        def end() -> None:
            UserItem(user_key(user_id)).update(
                actions=[*actions, UserItem.welcome_lease_until.remove(), UserItem.welcome_lease_id.remove()],
                condition=condition,
            )

        try:
            retry_conflicts(end, "end_welcome_lease")
        except UpdateError as exc:
            if not _condition_check_failed(exc):  # deleted meanwhile, or not our lease: nothing to do
                raise
