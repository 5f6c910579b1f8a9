"""What the first-response samples say (bench/first_response.py): per function, the median time
to first response of ours and of each baseline, their ratios, and the verdict on the goal.

The goals: every HTTP read function's median ≤ 0.85x the textbook's, create user's ≤ 1.10x.
Each verdict also comes from the round-by-round ratios: their median with its 95 % interval
(``devkit.bench_statistics``), per function and for the six reads pooled.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from devkit.bench_statistics import median_interval, paired_ratios, pooled, verdict

READ_GOAL = 0.85
CREATE_GOAL = 1.10
READ_FUNCTIONS = (
    "GetUserFunction",
    "GetUserByUsernameFunction",
    "ListUsersFunction",
    "HealthFunction",
    "UserStatsFunction",
    "EventStatsFunction",
)
CREATE_FUNCTION = "CreateUserFunction"


@dataclass
class Sample:
    init_ms: float
    first_ms: float  # init + the first request: time to first response
    status: str


@dataclass
class FirstResponse:
    function: str
    runs: int
    ours: list[Sample]
    textbook: list[Sample]
    bare: list[Sample]
    restored: list[Sample]
    floor: list[Sample]

    @staticmethod
    def _median(samples: list[Sample], field: str = "first_ms") -> float:
        return float(statistics.median(getattr(s, field) for s in samples))

    @property
    def goal(self) -> float:
        return CREATE_GOAL if self.function == CREATE_FUNCTION else READ_GOAL

    def paired_ratios(self) -> list[float]:
        """Ours / textbook round by round: the two ran seconds apart, so drift between rounds cancels."""
        return paired_ratios([o.first_ms for o in self.ours], [t.first_ms for t in self.textbook])

    def row(self) -> dict[str, Any]:
        ours, textbook, bare, floor = (self._median(s) for s in (self.ours, self.textbook, self.bare, self.floor))
        ratios = self.paired_ratios()
        paired, low, high = median_interval(ratios)
        return {
            "function": self.function,
            "runs": self.runs,
            "first_ms": round(ours, 1),
            "init_ms": round(self._median(self.ours, "init_ms"), 1),
            "textbook_first_ms": round(textbook, 1),
            "textbook_init_ms": round(self._median(self.textbook, "init_ms"), 1),
            "bare_first_ms": round(bare, 1),
            "ratio_textbook": round(ours / textbook, 2),
            "ratio_bare": round(ours / bare, 2),
            "textbook_ratio_bare": round(textbook / bare, 2),
            "goal": self.goal,
            "met": ours / textbook <= self.goal,
            "paired_ratio": round(paired, 2),
            "paired_low": round(low, 2),
            "paired_high": round(high, 2),
            "verdict": verdict(low, high, self.goal),
            "paired_ratios": [round(r, 3) for r in ratios],
            "status": sorted({s.status for s in self.ours}),
            "floor_first_ms": round(floor, 1),
            "ratio_floor": round(ours / floor, 2),
            "floor_ratio_textbook": round(floor / textbook, 2),
            "restored_first_ms": round(self._median(self.restored), 1),
            "restored_ratio_textbook": round(self._median(self.restored) / textbook, 2),
        }


def pooled_reads(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Every HTTP read function's paired ratios together (``devkit.bench_statistics.pooled``)."""
    return pooled(rows, READ_FUNCTIONS, READ_GOAL)


def print_first_responses(rows: list[dict[str, Any]]) -> None:
    runs = rows[0]["runs"] if rows else 0
    print(
        f"\nTime to first response (fresh process: init + the first request against moto; median of {runs},"
        " ours / textbook / bare / restored / floor in turn)"
    )
    print(
        f"{'function':28} {'status':>6} {'init':>7} {'first':>7} {'textbook':>9} {'bare':>7}"
        f" {'/textbook':>9} {'goal':>6} {'/bare':>6} {'textbook/bare':>13} {'restored':>9} {'/textbook':>9}"
        f" {'floor':>7} {'floor/textbook':>14} {'/floor':>6}"
    )
    for row in rows:
        print(
            f"{row['function']:28} {','.join(row['status']):>6} {row['init_ms']:7.1f} {row['first_ms']:7.1f}"
            f" {row['textbook_first_ms']:9.1f} {row['bare_first_ms']:7.1f} {row['ratio_textbook']:9.2f}"
            f" {'<= ' + str(row['goal']):>6} {row['ratio_bare']:6.2f} {row['textbook_ratio_bare']:13.2f}"
            f" {row.get('restored_first_ms', 0.0):9.1f} {row.get('restored_ratio_textbook', 0.0):9.2f}"
            f" {row.get('floor_first_ms', 0.0):7.1f} {row.get('floor_ratio_textbook', 0.0):14.2f}"
            f" {row.get('ratio_floor', 0.0):6.2f}"
            f"  {'ok ' if row['met'] else 'MISS'}"
        )
    print(
        "\nOurs / textbook round by round (paired): median and its 95 % interval (order statistics);"
        " met: the whole interval at or under the goal, missed: all over it, unclear: the goal inside it"
    )
    print(f"{'function':28} {'pairs':>5} {'median':>7} {'95 % interval':>14} {'goal':>7} {'verdict':>8}")
    reads = pooled_reads(rows)
    lines = [(row["function"], row) for row in rows if "paired_ratio" in row]
    if reads is not None:
        lines.append(("HTTP reads, pooled", reads))
    for name, line in lines:
        pairs = line.get("pairs", len(line.get("paired_ratios", [])))
        print(
            f"{name:28} {pairs:5d} {line['paired_ratio']:7.2f} {line['paired_low']:6.2f} - {line['paired_high']:5.2f}"
            f" {'<= ' + str(line['goal']):>7} {line['verdict']:>8}"
        )
