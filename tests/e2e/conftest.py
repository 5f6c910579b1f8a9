"""A `python -m local start` for the session (devkit.local_server drives it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit.local_server import LocalServer, start_server, stop_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    running = start_server(tmp_path_factory.mktemp("local-api") / "server.log")
    yield running
    stop_server(running)
