"""The local server's HTTP plumbing: one request in, one reply out, on 127.0.0.1.

What it knows of HTTP only (reading a body within API Gateway's limit, joining repeated headers,
answering a protocol error as API Gateway's JSON, a client gone mid-request as one line); what a
request means is the ``Dispatcher``'s (local.server.LocalApi).
"""

from __future__ import annotations

import errno
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Protocol
from urllib.parse import urlsplit

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
DRAIN_LIMIT = 64 * 1024 * 1024  # read (and drop) an oversized body up to this, so the client sees the 413


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    function: str = "-"
    state: str = "-"  # cold / warm, for the log line

    @classmethod
    def json(cls, status: int, document: Any, **kwargs: Any) -> Reply:
        text = json.dumps(document, separators=(",", ":"))
        return cls(status, [("Content-Type", "application/json")], text.encode(), **kwargs)

    @classmethod
    def message(cls, status: int, text: str, **kwargs: Any) -> Reply:
        return cls.json(status, {"message": text}, **kwargs)


_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def refused(request: Request) -> Reply | None:
    """A page elsewhere must not drive this server: only ``Host: 127.0.0.1``/``localhost`` is
    answered (a DNS-rebinding page sends its own name), and a ``/_local/*`` write from a page of
    another origin is refused (a cross-site form or fetch sends its ``Origin``)."""
    host = request.headers.get("host")
    if host is not None and urlsplit(f"//{host}").hostname not in _LOCAL_HOSTS:
        return Reply.message(403, "Forbidden: this server answers Host 127.0.0.1 or localhost only")
    origin = request.headers.get("origin")
    local_write = request.path.startswith("/_local/") and request.method not in ("GET", "HEAD")
    if local_write and origin is not None and (host is None or urlsplit(origin).netloc != host):
        return Reply.message(403, "Forbidden: a /_local write from another origin")
    return None


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    source_ip: str


class Dispatcher(Protocol):
    def dispatch(self, request: Request) -> Reply: ...


class LocalHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    api: Dispatcher

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone mid-request is one quiet line; anything else keeps its traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            _client_gone(f"{client_address[0]}:{client_address[1]}", error)
            return
        super().handle_error(request, client_address)


def _client_gone(what: str, error: BaseException) -> None:
    print(f"{what}: client disconnected ({type(error).__name__})", file=sys.stderr, flush=True)


class _Handler(BaseHTTPRequestHandler):
    server: LocalHttpServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        started = time.monotonic()
        target = urlsplit(self.path)
        reply = self._read_and_dispatch(target.path or "/", target.query)
        elapsed = (time.monotonic() - started) * 1000
        # Logged before the reply goes out, so a client that got it also finds its line.
        print(
            f"{self.command} {target.path} {reply.status} {reply.function} {reply.state} {elapsed:.0f} ms",
            file=sys.stderr,
            flush=True,
        )
        try:
            self._send(reply)
        except ConnectionError as error:
            self.close_connection = True
            _client_gone(f"{self.command} {target.path}", error)

    def _read_and_dispatch(self, path: str, query: str) -> Reply:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return Reply.message(400, "Bad Request")
        if length > MAX_BODY:
            self._drain(length)
            return Reply.message(413, "Request Entity Too Large")
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(self.command, path, query, self._joined_headers(), body, self.client_address[0])
        try:
            return refused(request) or self.server.api.dispatch(request)
        except Exception as error:  # noqa: BLE001 - one bad request must not stop the server
            print(f"local server error: {error!r}", file=sys.stderr)
            return Reply.message(500, "Internal Server Error")

    def _joined_headers(self) -> dict[str, str]:
        # API Gateway joins a repeated header's values with commas.
        joined: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            joined[key] = f"{joined[key]},{value}" if key in joined else value
        return joined

    def _drain(self, length: int) -> None:
        self.close_connection = True
        remaining = min(length, DRAIN_LIMIT)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                return
            remaining -= len(chunk)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, CONNECT, PROPFIND, ...) is routed too: API Gateway answers
        those with its JSON 404, where http.server would send a 501 HTML page."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a malformed request line, headers too long) as API Gateway's
        JSON ``{"message": ...}``, never its HTML page."""
        self.log_message("%s", f"code {code}, message {message}")
        reply = Reply.message(code, message or HTTPStatus(code).phrase)
        self.close_connection = True
        # A request line it could not read leaves HTTP/0.9, which has no status line or headers.
        self.request_version = self.protocol_version
        try:
            self._send(reply)
        except ConnectionError:
            return

    def log_message(self, format: str, *args: Any) -> None:
        """The per-request line is ours (_serve); http.server's own goes only for protocol errors."""
        if args and str(args[0]).startswith(("code 4", "code 5")):
            super().log_message(format, *args)


def stop_on_signals(server: LocalHttpServer) -> None:
    """SIGINT and SIGTERM both stop the server. SIGINT is set explicitly: a background job (`make
    start &` in a script) inherits it ignored, and Python then leaves it ignored."""

    def handle(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, handle)


def bind(port: int) -> LocalHttpServer | str:
    """The listening socket first, so a busy port fails in a line before anything starts; its
    ``api`` is set once the stack behind it runs."""
    try:
        return LocalHttpServer(("127.0.0.1", port), _Handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return f"port {port} is in use: try `make start PORT={port + 1}` (python -m local start --port {port + 1})"
        return f"cannot listen on 127.0.0.1:{port} ({error.strerror}): try another, `make start PORT=8080`"
