"""A real redis-server on 127.0.0.1 for the test session: no persistence, stopped at the end.

Authentication is on, as on ElastiCache with a user group: the ``default`` user is off, the
application's user (``nexus``) has a password and the access string it is given (the
template's), and an ``admin`` user with every right does what only the tests need.

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
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

_START_TIMEOUT = 10.0
USERNAME = "nexus"
PASSWORD = "nexus-test-password-0123456789abcdef"
_ADMIN_PASSWORD = "admin-test-password-0123456789abcdef"


@dataclass(frozen=True)
class RedisServer:
    url: str
    """``redis://127.0.0.1:<port>/0``, without credentials."""
    username: str
    password: str
    admin_url: str
    """The same server as the ``admin`` user (every command), for test set-up and checks."""


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
def redis_server(access_string: str = "on ~* +@all") -> Iterator[RedisServer]:
    """A fresh redis-server with ``nexus`` given ``access_string``, terminated when the block ends."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail(
            "redis-server is not on PATH; install it (Debian/Ubuntu: apt-get install -y redis-server)",
            pytrace=False,
        )
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    admin_url = f"redis://admin:{_ADMIN_PASSWORD}@127.0.0.1:{port}/0"
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
                    "--user",
                    "default",
                    "off",
                    "--user",
                    "admin",
                    "on",
                    f">{_ADMIN_PASSWORD}",
                    "~*",
                    "&*",
                    "+@all",
                    "--user",
                    USERNAME,
                    f">{PASSWORD}",
                    *access_string.split(),
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_ping(process, admin_url, log)
            yield RedisServer(url, USERNAME, PASSWORD, admin_url)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
