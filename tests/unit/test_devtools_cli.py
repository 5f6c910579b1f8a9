"""`python -m local faults|invariants` beside a server that stopped answering: one line, exit 2."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import devtools_cli
from local.endpoint import ENDPOINT_FILE_ENV, RunningApi
from local.runtime import free_port


@pytest.fixture
def listening() -> Iterator[int]:
    """A port that accepts connections (the emulated AWS the endpoint file names)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def test_a_server_that_does_not_answer_is_one_line(
    tmp_path: Path, listening: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = tmp_path / "endpoint.json"
    dead = f"http://127.0.0.1:{free_port()}"
    RunningApi(os.getpid(), dead, f"http://127.0.0.1:{listening}", {}).write(endpoint)
    monkeypatch.setenv(ENDPOINT_FILE_ENV, str(endpoint))

    assert devtools_cli.faults("list", None, 1.0, None, 0.0) == 2
    assert devtools_cli.invariants() == 2

    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2
    assert all(line.startswith(f"error: the server at {dead} did not answer") for line in errors)
