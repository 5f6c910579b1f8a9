"""Why a function's cold start failed, as a file and a line of this project (local only).

The runtime reports an import or syntax error as one message (``Unable to import module
'app': ...``); the developer wants the place. The handler module is imported again in a
process with the worker's own environment and ``sys.path``, and the last frame of the
traceback that is in this project (the layer's copy mapped back to ``layers/shared``) is
the answer.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from local.runtime_dir import LAYER_DIR, base_python
from local.template import ROOT, Function

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)', re.MULTILINE)
_LAYER_COPY = str(LAYER_DIR / "nexus")
_LAYER_SOURCE = str(ROOT / "layers" / "shared" / "nexus")


@dataclass(frozen=True)
class ColdStartFailure:
    file: str  # relative to the project
    line: int
    error: str  # the exception's last line, e.g. "SyntaxError: invalid syntax"

    def document(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "error": self.error}


def diagnose(function: Function, environment: dict[str, str]) -> ColdStartFailure | None:
    """Import the handler module as the worker does; None when it imports (the failure was elsewhere)."""
    module = function.handler.rsplit(".", 1)[0]
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module name
        [base_python(), "-S", "-s", "-c", f"import {module}"],
        cwd=function.code_uri,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if completed.returncode == 0:
        return None
    return failure_from_traceback(completed.stderr)


def failure_from_traceback(text: str) -> ColdStartFailure | None:
    """The last frame in this project (a SyntaxError's own "File ..." line included)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    error = lines[-1].strip() if lines else "unknown error"
    ours = [
        (match["file"].replace(_LAYER_COPY, _LAYER_SOURCE), int(match["line"]))
        for match in _FRAME.finditer(text)
        if match["file"].startswith(str(ROOT)) and "/.build/runtime/" not in match["file"]
    ]
    if not ours:
        return None
    file, line = ours[-1]
    return ColdStartFailure(str(_relative(file)), line, error)


def _relative(file: str) -> str:
    try:
        return str(Path(file).relative_to(ROOT))
    except ValueError:
        return file
