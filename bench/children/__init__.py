"""What the bench's child interpreters run: real modules, which ruff and mypy check.

A child runs ``python -s -S -c PROGRAM``: the whole program is compiled before its first line
runs (no clock includes compiling the code it times), and ``sys.path`` begins with the
function's directory, the working directory, as Lambda's begins with ``/var/task``. PROGRAM is a
driver, ``first_response/child.py`` or ``cold_start/child.py``, whose one measured line runs
ours; for a baseline, the baseline's modules stand in that line's place, their statements
unchanged (a module docstring is a no-op).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
MEASURED = "- the measured line"  # the end of the driver line a baseline replaces


def source(name: str) -> str:
    """The text of ``name``, a path under bench/children/."""
    return (HERE / name).read_text()


def program(driver: str, *parts: str) -> str:
    """``driver``'s text, with ``parts`` (module texts) in place of its measured line if any are given."""
    lines = source(driver).splitlines(keepends=True)
    [measured] = [index for index, line in enumerate(lines) if line.rstrip().endswith(MEASURED)]
    if parts:
        lines[measured] = "".join(part if part.endswith("\n") else f"{part}\n" for part in parts)
    return "".join(lines)
