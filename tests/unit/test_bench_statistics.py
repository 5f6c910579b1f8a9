"""devkit.bench_statistics: interleaved rounds, paired ratios, the median's confidence interval and
the verdict it gives on a goal."""

from collections.abc import Callable

import pytest

from devkit.bench_statistics import interleaved, median_interval, paired_ratios, pooled, verdict

READS = ("GetUserFunction", "ListUsersFunction", "HealthFunction")


def test_the_sides_run_in_turn_each_round_after_one_warm_up_each() -> None:
    calls: list[str] = []

    def side(name: str) -> Callable[[], str]:
        def run() -> str:
            calls.append(name)
            return f"{name}{sum(1 for c in calls if c == name)}"

        return run

    samples = interleaved([side("a"), side("b")], runs=2)

    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert samples == [["a2", "a3"], ["b2", "b3"]]  # the warm-up's samples are not kept


def test_paired_ratios_divide_round_by_round_and_need_as_many_of_each() -> None:
    assert paired_ratios([2.0, 3.0], [4.0, 1.5]) == [0.5, 2.0]
    with pytest.raises(ValueError, match="longer"):
        paired_ratios([1.0], [1.0, 2.0])


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
