"""This checkout's cold starts against another checkout's, interleaved: a before/after of a change.

``python -m bench.cold_start_ab OTHER [--runs 9] [--functions A,B]``: OTHER is another checkout
of the project with its layer built (``make layer`` there). Each round runs, for every function,
``import app`` in a fresh interpreter from this checkout and from OTHER in turn, each side first
in half the rounds (the same child program and environment as ``make bench``'s cold starts, only
the function's directory and the layer differ), so that both sides see the same drift of the
machine. It prints each side's median
and the median of the paired ratios (this / other) with its 95 % interval.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

from bench.cold_start import _HANDLER_CODE, Runner
from devkit.bench_statistics import interleaved, median_interval, paired_ratios
from local.template import Template


def _pythonpath_of(checkout: Path, environment: dict[str, str]) -> dict[str, str]:
    """``environment`` with the function's directory and the layer of ``checkout``."""
    function_dir, _, runtime = environment["PYTHONPATH"].split(os.pathsep)
    name = Path(function_dir).name
    layer = checkout / ".build" / "layer" / "python"
    if not (layer / "nexus").is_dir():
        raise SystemExit(f"{layer} has no nexus package: run `make layer` in {checkout}")
    return {**environment, "PYTHONPATH": os.pathsep.join((str(checkout / "functions" / name), str(layer), runtime))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("other", type=Path, help="another checkout, its layer built")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--functions", default="", help="comma-separated logical ids (default: all)")
    arguments = parser.parse_args(argv)
    other = arguments.other.resolve()
    runner = Runner(Template())
    only = [name for name in arguments.functions.split(",") if name]
    print(f"init ms, median of {arguments.runs} (this and {other} in turn); ratio: this / other, paired")
    print(f"{'function':28} {'this':>7} {'other':>7}  ratio  95 % interval")
    ratios: list[float] = []
    for name, function in sorted(runner.template.functions().items()):
        if only and name not in only:
            continue
        here = runner.environment(function)
        there = _pythonpath_of(other, here)
        theirs = replace(function, code_uri=other / "functions" / function.code_uri.name)

        ours = partial(runner.run, function, _HANDLER_CODE)
        other_side = partial(runner.run, theirs, _HANDLER_CODE, environment=there)
        # Half the rounds each side goes first: the order of a pair must not favour either side.
        first = interleaved([ours, other_side], arguments.runs // 2)
        second = interleaved([other_side, ours], arguments.runs - arguments.runs // 2)
        this = [init for init, _, _ in first[0] + second[1]]
        that = [init for init, _, _ in first[1] + second[0]]
        paired = paired_ratios(this, that)
        ratios.extend(paired)
        median, low, high = median_interval(paired)
        print(
            f"{name:28} {statistics.median(this):7.1f} {statistics.median(that):7.1f}  "
            f"{median:5.2f}  {low:.2f} - {high:.2f}"
        )
        sys.stdout.flush()
    median, low, high = median_interval(ratios)
    print(f"{'every function, pooled':28} {'':7} {'':7}  {median:5.2f}  {low:.2f} - {high:.2f}")


if __name__ == "__main__":
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "layers" / "shared")]
    main()
