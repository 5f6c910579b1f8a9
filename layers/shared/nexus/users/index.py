"""What finds a user in a listing, as pure functions of the user (no DynamoDB here): the *families*
of the ``by_created`` index it is in (all users, its ``is_active`` value, each tag, each prefix of
its search terms), its entry items in numbered slots (rewritten in place, so an update stays
within a transaction's 100 items), and which family a page reads.

docs/decisions.md, "Users at DynamoDB's scale: index entries in slots, counter shards taken in
turn, conflicts retried".
"""

from __future__ import annotations

import itertools
import random
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from nexus.users.schemas import User, UserCounts, UserFilters

PREFIX_LENGTHS = (1, 2, 4, 8)
MAX_NAME_WORDS = 6
# Counter items per count: writes take the shards in turn (1/32 of writes each).
COUNTER_SHARDS = 32
# A page that filters what its family holds examines five entries per user asked for, at most
# 100 (one BatchGetItem of the users behind them).
EXAMINED_PER_RESULT = 5
EXAMINED_PER_PAGE = 100

ALL_USERS = "USERS"
SLOT_ACTIVE = "A"


def tag_family(tag: str) -> str:
    return f"TAG#{tag}"


def active_family(is_active: bool) -> str:
    return f"ACTIVE#{int(is_active)}"


def prefix_family(prefix: str) -> str:
    return f"PREFIX#{prefix}"


def family_shard_key(family: str, shard: int) -> str:
    """The ``by_created`` hash key of ``family`` on list shard ``shard`` (the shard is last, so
    a tag holding ``#`` cannot collide with another tag's key)."""
    return f"{family}#{shard}"


def list_shard_of(user_id: str, list_shards: int) -> int:
    return zlib.crc32(user_id.encode()) % list_shards


class CounterShards:
    """Which counter shard a write adds to: each in turn, from a random start per process.

    Totals are sums over every shard, so any shard will do for any write; taking them in turn
    spreads a process's writes evenly (a hash of the user id would leave some shards on more
    than their share), and random starts keep concurrent environments off one shard.
    """

    def __init__(self, start: int | None = None) -> None:
        first = random.randrange(COUNTER_SHARDS) if start is None else start  # noqa: S311 - spread, not a secret
        self._next = itertools.count(first)

    def take(self) -> int:
        return next(self._next) % COUNTER_SHARDS


def search_terms(username: str, email: str, full_name: str | None) -> tuple[str, ...]:
    words = (full_name or "").casefold().split()[:MAX_NAME_WORDS]
    return (username.casefold(), email.casefold(), *words)


def search_prefixes(terms: Iterable[str]) -> list[str]:
    """Every indexed prefix of ``terms``, each once, sorted (slot order is stable)."""
    return sorted({term[:length] for term in terms for length in PREFIX_LENGTHS if len(term) >= length})


def indexed_prefix(search: str) -> str:
    """The prefix of ``search`` whose family holds every user it can match."""
    folded = search.casefold()
    length = max(n for n in PREFIX_LENGTHS if n <= len(folded))
    return folded[:length]


@dataclass(frozen=True)
class IndexedUser:
    """The fields of a user that its index entries depend on."""

    user_id: str
    username: str
    email: str
    full_name: str | None
    is_active: bool
    tags: tuple[str, ...]

    @classmethod
    def of(cls, user: User) -> IndexedUser:
        return cls(user.id, user.username, user.email, user.full_name, user.is_active, tuple(user.tags))

    def terms(self) -> tuple[str, ...]:
        return search_terms(self.username, self.email, self.full_name)

    def entries(self) -> dict[str, str]:
        """Slot name -> family: where this user is found besides ``USERS``."""
        slots = {SLOT_ACTIVE: active_family(self.is_active)}
        slots.update({f"T{index}": tag_family(tag) for index, tag in enumerate(self.tags)})
        slots.update({f"P{index}": prefix_family(p) for index, p in enumerate(search_prefixes(self.terms()))})
        return slots


def matches(user: IndexedUser, filters: UserFilters) -> bool:
    """Whether ``user`` is in the listing of ``filters`` (all of them must hold)."""
    if filters.is_active is not None and user.is_active != filters.is_active:
        return False
    if any(tag not in user.tags for tag in filters.tags):
        return False
    if filters.search is not None:
        folded = filters.search.casefold()
        return any(term.startswith(folded) for term in user.terms())
    return True


@dataclass(frozen=True)
class ListingPlan:
    """Which family a listing reads, and whether every user in it matches (``exact``).

    An exact family gives a full page of ``limit`` users; any other is examined
    ``examined(limit)`` entries at a time and its pages may be short.
    """

    family: str
    exact: bool


def examined(limit: int) -> int:
    """How many entries a page of ``limit`` users examines in a family that needs filtering."""
    return min(EXAMINED_PER_PAGE, EXAMINED_PER_RESULT * limit)


def plan(filters: UserFilters) -> ListingPlan:
    """The family to read: a search prefix, else a tag, else the ``is_active`` value, else all.

    A prefix or a tag is usually the most selective family; the choice only decides how
    much is examined per page, never which users are returned.
    """
    filter_count = (filters.search is not None) + len(set(filters.tags)) + (filters.is_active is not None)
    if filters.search is not None:
        prefix = indexed_prefix(filters.search)
        return ListingPlan(prefix_family(prefix), filter_count == 1 and prefix == filters.search.casefold())
    if filters.tags:
        return ListingPlan(tag_family(sorted(filters.tags)[0]), filter_count == 1)
    if filters.is_active is not None:
        return ListingPlan(active_family(filters.is_active), True)
    return ListingPlan(ALL_USERS, True)


def counted_tag(filters: UserFilters) -> str | None:
    """The tag whose counter is the listing's total: the one filter is one tag."""
    if filters.search is None and filters.is_active is None and len(set(filters.tags)) == 1:
        return filters.tags[0]
    return None


def total(filters: UserFilters, counts: UserCounts) -> int | None:
    """The number of users matching ``filters`` where counters hold it, else None."""
    if filters.is_empty:
        return counts.total
    if filters.search is None and not filters.tags:
        return counts.active if filters.is_active else counts.total - counts.active
    return counts.tagged if counted_tag(filters) is not None else None
