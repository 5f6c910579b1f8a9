"""schemathesis against the local runner: every phase, every check but those of schemathesis.toml.

Bounded: ``max-time`` and ``max-examples`` in tests/e2e/schemathesis.toml (about 1-1.5 minutes).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devkit.local_server import LocalServer
from local.template import ROOT
from local.tokens import ALL_SCOPES, make_token

CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_nothing(server: LocalServer, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        # The committed document (test_openapi.py checks that the server serves exactly it).
        str(ROOT / "docs" / "openapi.json"),
        "--url",
        server.base_url,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--header",
        f"Authorization: Bearer {make_token(ALL_SCOPES)}",
        "--seed",
        "20261202",
    ]
    done = subprocess.run(  # noqa: S603 - the dev venv's schemathesis
        command, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False
    )
    summary = done.stdout[-12000:]
    assert done.returncode == 0, summary
    assert "No issues found" in summary or " passed" in summary, summary
