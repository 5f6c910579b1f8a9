"""nexus.users.index: where a user is found, which family a listing reads, and its total."""

from __future__ import annotations

import itertools

import pytest

from nexus.users import index
from nexus.users.index import IndexedUser, plan
from nexus.users.schemas import MAX_TAGS, UserCounts, UserFilters

ALICE = IndexedUser(
    "01J0000000000000000000000A", "Alice_L", "alice@Example.com", "Alice  Pleasance Liddell", True, ("beta",)
)


def test_terms_are_the_folded_username_email_and_first_six_words_of_the_full_name() -> None:
    assert ALICE.terms() == ("alice_l", "alice@example.com", "alice", "pleasance", "liddell")
    many = IndexedUser("id", "u", "u@x.io", "one two three four five six seven", True, ())
    assert many.terms()[2:] == ("one", "two", "three", "four", "five", "six")


def test_prefixes_are_each_terms_1_2_4_and_8_first_characters_once() -> None:
    assert index.search_prefixes(["alice", "alice@example.com", "al"]) == ["a", "al", "alic", "alice@ex"]


@pytest.mark.parametrize(
    ("search", "prefix"),
    [("A", "a"), ("al", "al"), ("ALI", "al"), ("alic", "alic"), ("alice@e", "alic"), ("alice@exam", "alice@ex")],
)
def test_a_search_reads_the_family_of_its_longest_indexed_prefix(search: str, prefix: str) -> None:
    assert index.indexed_prefix(search) == prefix


def test_every_term_a_search_matches_holds_the_prefix_the_search_reads() -> None:
    """The family a search reads is complete: no user whose term starts with it is missing."""
    words = ["a", "ab", "abc", "abcd", "abcde", "abcdefgh", "abcdefghij", "b", "ba"]
    for term, search in itertools.product(words, words):
        if term.startswith(search):
            assert index.indexed_prefix(search) in index.search_prefixes([term]), (term, search)


def test_entries_name_the_active_value_each_tag_and_each_prefix() -> None:
    assert ALICE.entries() == {
        "A": "ACTIVE#1",
        "T0": "TAG#beta",
        **{
            f"P{i}": f"PREFIX#{p}"
            for i, p in enumerate(["a", "al", "alic", "alice@ex", "l", "li", "lidd", "p", "pl", "plea", "pleasanc"])
        },
    }


def test_the_largest_user_keeps_create_and_update_transactions_under_100_items() -> None:
    """Slot bound: 1 active + 20 tags + (2 + 6 terms) x 4 prefixes; the transaction adds the user,
    4 sentinel actions and a counter shard, and an update swaps every tag's counter."""
    tags = tuple(f"tag{n:02d}" for n in range(MAX_TAGS))
    name = " ".join(f"{c}{c}word{c}{c}" for c in "abcdfghijklmnop"[: index.MAX_NAME_WORDS])  # no e, u: own prefixes
    largest = IndexedUser("id", "u" * 50, "e" * 88 + "@example.com", name, True, tags)
    slots = len(largest.entries())
    assert slots == 1 + MAX_TAGS + (2 + index.MAX_NAME_WORDS) * len(index.PREFIX_LENGTHS)
    create = 1 + 2 + slots + MAX_TAGS + 1
    update = 1 + 4 + slots + 2 * MAX_TAGS + 1
    assert max(create, update) <= 100, (create, update)


@pytest.mark.parametrize(
    ("filters", "family", "exact"),
    [
        (UserFilters(), "USERS", True),
        (UserFilters(is_active=False), "ACTIVE#0", True),
        (UserFilters(tags=("b", "a")), "TAG#a", False),
        (UserFilters(tags=("a", "a")), "TAG#a", True),
        (UserFilters(search="Alic"), "PREFIX#alic", True),
        (UserFilters(search="Alice"), "PREFIX#alic", False),
        (UserFilters(search="al", tags=("x",)), "PREFIX#al", False),
        (UserFilters(is_active=True, tags=("x",)), "TAG#x", False),
    ],
)
def test_the_plan_reads_one_family(filters: UserFilters, family: str, exact: bool) -> None:
    assert plan(filters) == index.ListingPlan(family, exact)


@pytest.mark.parametrize(
    ("filters", "matched"),
    [
        (UserFilters(search="PLEA"), True),
        (UserFilters(search="pleasance liddell"), False),
        (UserFilters(search="example"), False),
        (UserFilters(search="ALICE@"), True),
        (UserFilters(tags=("beta",), is_active=True), True),
        (UserFilters(tags=("beta", "ops")), False),
        (UserFilters(is_active=False), False),
    ],
)
def test_matches(filters: UserFilters, matched: bool) -> None:
    assert index.matches(ALICE, filters) is matched


COUNTS = UserCounts(total=10, active=7, generation=3, tagged=4)


@pytest.mark.parametrize(
    ("filters", "total"),
    [
        (UserFilters(), 10),
        (UserFilters(is_active=True), 7),
        (UserFilters(is_active=False), 3),
        (UserFilters(tags=("x",)), 4),
        (UserFilters(tags=("x", "x")), 4),
        (UserFilters(tags=("x", "y")), None),
        (UserFilters(tags=("x",), is_active=True), None),
        (UserFilters(search="a"), None),
    ],
)
def test_the_total_is_a_counter_or_null(filters: UserFilters, total: int | None) -> None:
    assert index.total(filters, COUNTS) == total
    assert (index.counted_tag(filters) is not None) == (filters.tags != () and total is not None)


def test_writes_take_the_counter_shards_in_turn_from_a_random_start() -> None:
    shards = index.CounterShards()
    taken = [shards.take() for _ in range(3 * index.COUNTER_SHARDS)]
    assert sorted(taken) == sorted(list(range(index.COUNTER_SHARDS)) * 3)
    assert taken[1] == (taken[0] + 1) % index.COUNTER_SHARDS
    assert index.CounterShards(start=31).take() == 31
