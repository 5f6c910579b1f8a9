"""`python -m local snapshot save NAME | load NAME | list`: save and load ask the running
`make start` (found through its endpoint file) to do it, since the sent mail and the triggers live
in that process."""

from __future__ import annotations

import sys

from local.snapshot_file import SnapshotError, listed, snapshot_path


def cli(action: str, name: str | None) -> int:
    """save and load ask the running `make start` (found through its endpoint file) to do it:
    the sent mail and the triggers live in that process."""
    from local.endpoint import ServerUnreachable, call_running

    if action == "list":
        for entry in listed():
            print(entry.line())
        return 0
    try:
        path = snapshot_path(name or "")
    except SnapshotError as error:
        return _error(str(error))
    try:
        status, result = call_running("POST", f"/_local/snapshots/{name}/{action}", timeout=300)
    except ServerUnreachable as error:
        return _error(
            f"{error}: start it, then `python -m local snapshot {action} {name}`", 1 if "answer" in str(error) else 2
        )
    if status >= 400:
        return _error(str(result.get("message", f"the server answered {status}")), 2 if status < 500 else 1)
    done = "saved" if action == "save" else "loaded"
    print(f"{done} snapshot {name} ({result.get('path') or path}): {result['summary']}")
    return 0


def _error(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
