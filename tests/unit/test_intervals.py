"""devkit.intervals: the median's confidence interval, and the verdict it gives on a goal."""

import pytest

from devkit.intervals import median_interval, pooled, verdict

READS = ("GetUserFunction", "ListUsersFunction", "HealthFunction")


def test_eleven_rounds_give_the_second_and_tenth_values_as_the_95_percent_interval() -> None:
    values = [float(v) for v in (9, 3, 7, 1, 11, 5, 2, 10, 4, 8, 6)]
    assert median_interval(values) == (6.0, 2.0, 10.0)


def test_twenty_values_give_ranks_6_and_15_as_the_published_tables_do() -> None:
    values = [float(v) for v in range(1, 21)]
    median, low, high = median_interval(values)
    assert (median, low, high) == (10.5, 6.0, 15.0)


def test_too_few_values_for_95_percent_give_the_whole_range() -> None:
    assert median_interval([3.0, 1.0, 2.0, 5.0, 4.0]) == (3.0, 1.0, 5.0)


def test_no_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        median_interval([])


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0.70, 0.85, "met"), (0.86, 0.95, "missed"), (0.80, 0.90, "unclear"), (0.85, 0.85, "met")],
)
def test_the_verdict_is_met_only_for_an_interval_wholly_at_or_under_the_goal(
    low: float, high: float, expected: str
) -> None:
    assert verdict(low, high, 0.85) == expected


def test_the_pool_takes_every_named_functions_pairs_and_no_others() -> None:
    reads = [{"function": name, "paired_ratios": [0.80 + i / 100 for i in range(11)]} for name in READS]
    create = {"function": "CreateUserFunction", "paired_ratios": [5.0] * 11}
    pool = pooled([*reads, create], READS, 0.85)
    assert pool is not None
    assert pool["pairs"] == 11 * len(READS)
    assert pool["paired_ratio"] == 0.85
    assert pool["paired_high"] < 5.0  # the create's ratios are not in it
    assert pool["verdict"] == "unclear"  # 0.80-0.90 around a goal of 0.85
    assert pooled([create], READS, 0.85) is None
