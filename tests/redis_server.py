"""A real redis-server on 127.0.0.1 for the test session: no persistence, stopped at the end.

redis-server must be on PATH (Debian: ``apt-get install redis-server``; CI installs it).
A missing server fails the tests that need it rather than skipping them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

_START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_ping(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    deadline = time.monotonic() + _START_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                output = log.read_text(errors="replace")
                pytest.fail(f"redis-server exited with {process.returncode}:\n{output}", pytrace=False)
            try:
                if client.ping():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server did not answer PING on {url} within {_START_TIMEOUT}s", pytrace=False)
            time.sleep(0.02)
    finally:
        client.close()


@contextmanager
def redis_server() -> Iterator[str]:
    """Yield ``redis://127.0.0.1:<port>/0`` of a fresh redis-server, terminated when the block ends."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail(
            "redis-server is not on PATH; install it (Debian/Ubuntu: apt-get install -y redis-server)",
            pytrace=False,
        )
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with tempfile.TemporaryDirectory(prefix="nexus-redis-") as workdir:
        log = Path(workdir) / "redis.log"
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603 - a fixed executable and arguments
                [
                    executable,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    workdir,
                    "--daemonize",
                    "no",
                    "--loglevel",
                    "warning",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_ping(process, url, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
