"""`make start DEBUG=<Function>` (issue 26, item 5): a debugger attaches to that function's worker
and stops at a breakpoint in the handler, over real HTTP and debugpy's real protocol (DAP), as
VS Code's "attach" does."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devkit.local_server import LocalServer, Response, start_server, stop_server
from local.runtime import free_port
from local.template import ROOT

HANDLER = ROOT / "functions" / "health" / "app.py"
BREAK_AT = next(n for n, line in enumerate(HANDLER.read_text().splitlines(), 1) if "app.operation.check()" in line)


class DapClient:
    """The Debug Adapter Protocol over a socket: Content-Length framed JSON."""

    def __init__(self, port: int, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                self.socket = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.socket.settimeout(5)
        self._buffer = b""
        self._sequence = 0
        self.seen: list[dict[str, Any]] = []

    def send(self, command: str, **arguments: Any) -> int:
        self._sequence += 1
        body = json.dumps({"seq": self._sequence, "type": "request", "command": command, "arguments": arguments})
        self.socket.sendall(f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
        return self._sequence

    def _read(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._recv()
        header, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        length = int(header.split(b":")[1])
        while len(self._buffer) < length:
            self._buffer += self._recv()
        message, self._buffer = self._buffer[:length], self._buffer[length:]
        return dict(json.loads(message))

    def _recv(self) -> bytes:
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("debugpy closed the connection")
        return chunk

    def wait_for(self, kind: str, name: str, within: float = 30.0) -> dict[str, Any]:
        """The next response to ``name`` (kind "response") or event ``name`` (kind "event")."""
        key = "command" if kind == "response" else "event"
        for message in self.seen:
            if message["type"] == kind and message.get(key) == name:
                self.seen.remove(message)
                return message
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                message = self._read()
            except TimeoutError:
                continue
            if message["type"] == kind and message.get(key) == name:
                return message
            self.seen.append(message)
        raise TimeoutError(f"no {kind} {name}; seen {[m.get('event') or m.get('command') for m in self.seen]}")


@pytest.fixture(scope="module")
def debugged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, int]]:
    port = free_port()
    log = tmp_path_factory.mktemp("debug") / "server.log"
    running = start_server(log, "--no-reload", "--debug", "HealthFunction", "--debug-port", str(port))
    yield running, port
    stop_server(running)


def test_a_debugger_attaches_and_stops_at_a_breakpoint_in_the_handler(debugged: tuple[LocalServer, int]) -> None:
    server, port = debugged
    assert (
        f"debug: HealthFunction runs under debugpy; at its first request it waits for a debugger on 127.0.0.1:{port}"
        in (server.log.read_text())
    )
    answers: list[Response] = []
    request = threading.Thread(target=lambda: answers.append(server.request("GET", "/health", scope=None)))
    request.start()  # the worker starts, and waits for the debugger

    client = DapClient(port)
    client.send("initialize", adapterID="python", clientID="nexus-test", pathFormat="path", linesStartAt1=True)
    client.wait_for("response", "initialize")
    client.send("attach", justMyCode=False)
    client.wait_for("event", "initialized")
    client.send("setBreakpoints", source={"path": str(HANDLER)}, breakpoints=[{"line": BREAK_AT}])
    [breakpoint] = client.wait_for("response", "setBreakpoints")["body"]["breakpoints"]
    assert breakpoint["verified"], breakpoint
    client.send("configurationDone")
    client.wait_for("response", "configurationDone")

    stopped = client.wait_for("event", "stopped")["body"]
    assert stopped["reason"] == "breakpoint"
    client.send("stackTrace", threadId=stopped["threadId"], levels=1)
    [frame] = client.wait_for("response", "stackTrace")["body"]["stackFrames"]
    assert (frame["source"]["path"], frame["line"]) == (str(HANDLER), BREAK_AT)
    assert not answers, "the request waits while the function is stopped"

    client.send("continue", threadId=stopped["threadId"])
    request.join(timeout=30)
    assert [answer.status for answer in answers] == [200]
    # The same worker, warm, serves the next request with the debugger still attached: it stops again.
    request = threading.Thread(target=lambda: answers.append(server.request("GET", "/health", scope=None)))
    request.start()
    again = client.wait_for("event", "stopped")["body"]
    client.send("continue", threadId=again["threadId"])
    request.join(timeout=30)
    assert [answer.status for answer in answers] == [200, 200]
    assert "GET /health 200 HealthFunction warm" in server.log.read_text()
    client.socket.close()


def test_an_unknown_function_to_debug_is_one_line_and_exit_2(tmp_path: Any) -> None:
    import subprocess
    import sys

    completed = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "local", "start", "--port", str(free_port()), "--debug", "NoSuchFunction"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip() == "error: --debug NoSuchFunction: no such function in template.yaml"
