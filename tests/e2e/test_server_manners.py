"""How `python -m local start` behaves as a process: signals, a busy port, clients that go away, `/`."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from devkit.local_server import LocalServer, descendants, start_server, stop_server
from local.runtime import _LogPump
from local.template import ROOT

STOPPED_WITHIN = 15.0


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _wait_gone(pids: set[int], within: float = STOPPED_WITHIN) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    return sorted(pid for pid in pids if _alive(pid))


def _everything_started(server: LocalServer) -> tuple[int, set[int], str]:
    """The Python process, its workers (an invocation starts one: aws-lambda-rie and its runtime), moto's URL."""
    assert server.request("GET", "/health", scope=None).status == 200
    running = server.running
    python = int(running["pid"])
    workers = descendants(python)  # from each process's parent id: reliable while threads end
    assert len(workers) >= 2, "an invocation leaves a worker: the emulator and its runtime"
    assert _listening(running["aws_endpoint_url"])
    return python, workers, str(running["aws_endpoint_url"])


def _assert_all_stopped(server: LocalServer, python: int, workers: set[int], aws: str) -> None:
    assert _wait_gone({python, *workers}) == []
    assert not _listening(aws), "the embedded moto stopped with the process"
    assert not server.endpoint_file.exists(), "the endpoint file goes with the server"
    log = server.log.read_text()
    assert "stopped" in log
    assert "Traceback" not in log
    assert "SandboxTerminated" not in log, "the emulator's shutdown noise is filtered"


def test_sigint_stops_a_server_started_in_the_background(tmp_path: Path) -> None:
    # A script's `... &` starts the process with SIGINT ignored; the server must take it anyway.
    server = start_server(tmp_path / "server.log", background=True)
    try:
        python, workers, aws = _everything_started(server)
        assert python == server.process.pid
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=STOPPED_WITHIN) == 0
    finally:
        if server.process.poll() is None:
            stop_server(server)
    _assert_all_stopped(server, python, workers, aws)


def test_sigterm_to_make_reaches_the_server(tmp_path: Path) -> None:
    # `kill <pid of make start>`: make passes SIGTERM on to its child, then dies of it itself.
    server = start_server(tmp_path / "server.log", through_make=True)
    try:
        python, workers, aws = _everything_started(server)
        assert python != server.process.pid, "make is the parent"
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=STOPPED_WITHIN)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    _assert_all_stopped(server, python, workers, aws)


def test_sigint_to_the_server_under_a_background_make(tmp_path: Path) -> None:
    # `nohup make start &` in a script: make ignores SIGINT (so does its child, unless it re-enables
    # it); `kill -INT <the pid the banner prints>` stops the server, and make exits with it.
    server = start_server(tmp_path / "server.log", through_make=True, background=True)
    try:
        python, workers, aws = _everything_started(server)
        assert f"kill -INT / -TERM {python}" in server.log.read_text()
        os.kill(python, signal.SIGINT)
        assert server.process.wait(timeout=STOPPED_WITHIN) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
    _assert_all_stopped(server, python, workers, aws)


def test_a_busy_port_is_one_line_naming_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "local", "start", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "LOCAL_ENDPOINT_FILE": str(tmp_path / "endpoint.json")},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        f"error: port {port} is in use: try `make start PORT={port + 1}` (python -m local start --port {port + 1})"
    ]
    assert not (tmp_path / "endpoint.json").exists()


def test_root_redirects_to_the_docs(server: LocalServer) -> None:
    parts = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", "/")
        answer = connection.getresponse()
        answer.read()
    finally:
        connection.close()
    assert (answer.status, answer.getheader("Location")) == (302, "/docs")


def test_a_client_that_disconnects_is_one_quiet_line(server: LocalServer) -> None:
    parts = urlsplit(server.base_url)
    path = "/docs/swagger-ui-bundle.min.js"  # ~1.5 MB: more than the socket buffers hold
    before = server.log.read_text()
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        client.settimeout(10)
        client.connect((parts.hostname, parts.port))
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        assert client.recv(64).startswith(b"HTTP/1.1 200")
        # Close with a reset (linger 0) while the server is still writing.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    deadline = time.monotonic() + 10
    new = ""
    while time.monotonic() < deadline and "client disconnected" not in new:
        time.sleep(0.05)
        new = server.log.read_text()[len(before) :]
    gone = [line for line in new.splitlines() if "client disconnected" in line]
    # The reset reaches the server while it writes, or (when the kernel's buffers took the whole
    # reply) while it waits for the connection's next request: one line either way.
    assert len(gone) == 1, new
    assert re.fullmatch(
        rf"(GET {re.escape(path)}|127\.0\.0\.1:\d+): client disconnected \((BrokenPipeError|ConnectionResetError)\)",
        gone[0],
    ), gone
    assert "Traceback" not in new
    assert server.request("GET", "/health", scope=None).status == 200


def test_the_banner_says_how_to_stop_and_where_invoke_finds_the_aws(server: LocalServer) -> None:
    log = server.log.read_text()
    assert f"kill -INT / -TERM {server.process.pid}" in log
    assert f"AWS_ENDPOINT_URL={server.running['aws_endpoint_url']}" in log


# What aws-lambda-rie prints around a cold invocation and at shutdown (copied from a real run).
RIE_COLD = """\
02 Dec 2026 05:00:30,637 [INFO] (rapid) INIT START(type: on-demand, phase: init)
02 Dec 2026 05:00:31,320 [INFO] (rapid) INIT REPORT(durationMs: 683.611000)
02 Dec 2026 05:00:31,321 [INFO] (rapid) INVOKE START(requestId: bb87)
02 Dec 2026 05:00:31,329 [INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 8.562000ms)
END RequestId: bb87
REPORT RequestId: bb87\tInit Duration: 0.03 ms\tDuration: 692.91 ms\tBilled Duration: 693 ms\t\
Memory Size: 512 MB\tMax Memory Used: 512 MB
02 Dec 2026 05:00:32,001 [INFO] (rapid) INVOKE START(requestId: cc98)
02 Dec 2026 05:00:32,004 [INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 2.500000ms)
REPORT RequestId: cc98\tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 512 MB\tMax Memory Used: 512 MB
02 Dec 2026 05:00:33,001 [WARNING] (rapid) Runtime API Server failed to listen
"""
RIE_SHUTDOWN = """\
02 Dec 2026 05:00:31,330 [INFO] (rapid) Received signal signal=terminated
02 Dec 2026 05:00:31,331 [WARNING] (rapid) Reset initiated: SandboxTerminated
"""


def test_report_lines_carry_the_emulators_real_figures_and_shutdown_is_quiet() -> None:
    pump = _LogPump("Fn", memory_size=512, peak_rss_mb=lambda: 61)
    shown = [line for line in map(pump.filter, RIE_COLD.splitlines()) if line is not None]
    assert shown == [
        "END RequestId: bb87",
        "REPORT RequestId: bb87\tInit Duration: 683.61 ms\tDuration: 8.56 ms\tMemory Size: 512 MB\t"
        "Max Memory Used: 61 MB",
        "REPORT RequestId: cc98\tDuration: 2.50 ms\tMemory Size: 512 MB\tMax Memory Used: 61 MB",
        "02 Dec 2026 05:00:33,001 [WARNING] (rapid) Runtime API Server failed to listen",
    ]
    assert pump.inits == 1
    unknown = _LogPump("Fn", memory_size=128)
    assert unknown.filter("REPORT RequestId: x\tMax Memory Used: 128 MB") == "REPORT RequestId: x\tMemory Size: 128 MB"
    pump.stopping = True
    assert [pump.filter(line) for line in RIE_SHUTDOWN.splitlines()] == [None, None]


def test_the_servers_report_lines_show_measured_memory(server: LocalServer) -> None:
    assert server.request("GET", "/health", scope=None).status == 200
    reports = [line for line in server.log.read_text().splitlines() if "] REPORT RequestId: " in line]
    assert reports
    for line in reports:
        assert "Billed Duration" not in line
        used = re.search(r"Max Memory Used: (\d+) MB", line)
        assert used, line
        assert 20 <= int(used[1]) < 512, line  # a Python runtime's peak RSS, not the memory size
