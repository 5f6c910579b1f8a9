"""A `python -m local start` driven over real HTTP: start it, call it, run the local CLI beside it, stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.endpoint import ENDPOINT_FILE_ENV
from local.runtime import children, free_port
from local.template import ROOT
from local.tokens import ALL_SCOPES, make_token

READY_WITHIN = 20.0


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LocalServer:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    ready_seconds: float
    endpoint_file: Path  # its local.endpoint file: its own, never a developer's .build/local-endpoint.json

    @property
    def running(self) -> dict[str, Any]:
        return dict(json.loads(self.endpoint_file.read_text()))

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        scope: str | None = ALL_SCOPES,
    ) -> Response:
        """``scope`` None sends no Authorization header."""
        all_headers = dict(headers or {})
        if scope is not None:
            all_headers.setdefault("Authorization", f"Bearer {make_token(scope)}")
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(  # noqa: S310 - our local server
            self.base_url + path, data=body, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return Response(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers.items()), error.read())


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_server(
    log: Path,
    *arguments: str,
    through_make: bool = False,
    background: bool = False,
    project: Path = ROOT,
    environment: dict[str, str] | None = None,
) -> LocalServer:
    """``through_make``: `make start PORT=... ARGUMENTS...` (make is then the process, the arguments
    its variables); ``background``: started with SIGINT ignored, as a shell script's `make start &`
    is; ``project``: a copy of the project to serve (devkit/project_copy.py); ``environment``:
    variables set for the server on top of this process's."""
    port = free_port()
    endpoint_file = log.with_name(f"{log.stem}-endpoint.json")
    if through_make:
        command = ["make", "--no-print-directory", "-s", "start", f"PORT={port}", *arguments]
    else:
        command = [sys.executable, "-m", "local", "start", "--port", str(port), *arguments]
    variables = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    variables.update(environment or {})
    variables[ENDPOINT_FILE_ENV] = str(endpoint_file)
    started = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=project,
            env=variables,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=_ignore_sigint if background else None,
        )
    server = LocalServer(process, f"http://127.0.0.1:{port}", log, 0.0, endpoint_file)
    deadline = started + READY_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if server.request("GET", "/_local/emails", scope=None).status == 200:
                server.ready_seconds = time.monotonic() - started
                return server
        except OSError:
            time.sleep(0.05)
    stop_server(server)
    raise TimeoutError(f"server not ready within {READY_WITHIN}s:\n{log.read_text()}")


def local_command(
    *arguments: str, endpoint_file: Path, environment: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m local ARGUMENTS` from the clone, as a developer types it beside a running server
    (``endpoint_file``: that server's, never the clone's own), with ``environment`` on top."""
    variables = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    variables.update(environment or {})
    variables[ENDPOINT_FILE_ENV] = str(endpoint_file)
    return subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "local", *arguments],
        cwd=ROOT,
        env=variables,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def eventually[T](check: Callable[[], T], within: float = 15.0, every: float = 0.05) -> T:
    """``check()``'s first true result, or its last result once ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(every)


def stop_server(server: LocalServer) -> int:
    server.process.send_signal(signal.SIGTERM)
    return server.process.wait(timeout=15)


def descendants(pid: int) -> set[int]:
    """Every process under ``pid``, read from each process's stat line (local.runtime.children)."""
    found: set[int] = set()
    for child in children(pid):
        found |= {child} | descendants(child)
    return found
