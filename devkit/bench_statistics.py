"""The bench's statistics: samples taken in interleaved rounds, their paired ratios, a median's
confidence interval, and what it says of a goal.

The benches compare medians of ratios against goals on a noisy VM: a verdict needs the median's
uncertainty, and the ratio's two sides must be measured under the same drift. Here (the bench
imports devkit, never the other way round) so that the unit tests can check it. docs/decisions.md,
"The first-response verdicts carry a confidence interval; the reads are also pooled".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Collection, Sequence
from typing import Any


def interleaved[T](sides: Sequence[Callable[[], T]], runs: int) -> list[list[T]]:
    """Each side's samples: every side once to warm up (the OS file cache), then ``runs`` rounds
    in which the sides run in turn.

    Interleaving puts the machine's drift on every side alike: sample ``i`` of one side and of
    another were taken within seconds of each other, so their ratio (``paired_ratios``) cancels it.
    """
    for side in sides:
        side()
    samples: list[list[T]] = [[] for _ in sides]
    for _ in range(runs):
        for index, side in enumerate(sides):
            samples[index].append(side())
    return samples


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Round by round: the ``i``-th numerator over the ``i``-th denominator."""
    return [n / d for n, d in zip(numerators, denominators, strict=True)]


def median_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The median of ``values`` and a distribution-free confidence interval for it.

    The interval runs from the k-th smallest to the k-th largest value, k the largest rank at
    which a Binomial(n, 1/2) falls below k with probability at most (1 - confidence) / 2: no
    assumption about the shape of the noise. With fewer than 6 values no interval reaches 95 %;
    it is then the whole range.
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    tail = (1 - confidence) / 2
    below, k = 0.0, 0  # below: P(B <= k - 1) for B ~ Binomial(n, 1/2)
    while k < n // 2 and below + math.comb(n, k) / 2**n <= tail:
        below += math.comb(n, k) / 2**n
        k += 1
    k = max(k, 1)
    return statistics.median(ordered), ordered[k - 1], ordered[n - k]


def verdict(low: float, high: float, goal: float) -> str:
    """``met`` when the whole interval is at or under the goal, ``missed`` when it is all over it."""
    if high <= goal:
        return "met"
    if low > goal:
        return "missed"
    return "unclear"


def pooled(rows: list[dict[str, Any]], functions: Collection[str], goal: float) -> dict[str, Any] | None:
    """The ``paired_ratios`` of the rows of ``functions`` together, their median, interval and verdict.

    For functions that share their cold start (the HTTP reads: a resolver, pynamodb, one client,
    one or two calls) the pool measures it with all their rounds: 6 functions' 11 rounds give an
    interval about 2.5 x narrower than one function's.
    """
    ratios = [r for row in rows if row["function"] in functions for r in row.get("paired_ratios", [])]
    if not ratios:
        return None
    median, low, high = median_interval(ratios)
    return {
        "functions": [row["function"] for row in rows if row["function"] in functions],
        "pairs": len(ratios),
        "paired_ratio": round(median, 2),
        "paired_low": round(low, 2),
        "paired_high": round(high, 2),
        "goal": goal,
        "verdict": verdict(low, high, goal),
    }
