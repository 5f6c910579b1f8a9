"""`python -m local start`: the HTTP API of template.yaml on 127.0.0.1, as API Gateway serves it.

Per request: route match (404 as API Gateway when none), the JWT authorizer emulated (claims
decoded, signature not checked; 401 without a readable token), a payload 2.0 event, the route's
function in a warm worker (local.runtime), and its result mapped back to HTTP. A function error
or timeout is API Gateway's 500 "Internal Server Error"; an integration that does not answer
within API Gateway's 30 s is its 503 "Service Unavailable". The template's Kinesis and SQS
triggers are polled too (local.triggers), so a tracked event gets counted and a queued welcome
email gets retried as in AWS.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from local import openapi, snapshots, strict_dynamodb
from local.aws import EmulatedAws
from local.devtools import DevTools
from local.diagnosis import ColdStartFailure, diagnose
from local.endpoint import RunningApi, endpoint_file, remove_if_ours
from local.events import RouteMatch, build_http_event, match_route
from local.reload import LAYER_SOURCE, LayerSync, Watcher, template_change
from local.runtime import (
    LAYER_DIR,
    FunctionPool,
    Invocation,
    RuntimeSetupError,
    check_layer,
    ensure_runtime_dir,
    find_rie,
    lambda_environment,
    stop_all,
)
from local.template import ROOT, TEMPLATE_PATH, Function, Template
from local.tokens import InvalidToken, bearer_claims, make_token
from local.triggers import Triggers

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
DRAIN_LIMIT = 64 * 1024 * 1024  # read (and drop) an oversized body up to this, so the client sees the 413
SWAGGER_ASSETS = ("swagger-ui-bundle.min.js", "swagger-ui.min.css")
API_DOC = Path(__file__).resolve().parent.parent / "docs" / "API.md"  # linked from the document
SNAPSHOTS = "/_local/snapshots/"
# How long a save waits for the triggers to deliver what the streams and queues hold.
SETTLE_SECONDS = 10.0


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


def _refused_origin(request: Request) -> Reply | None:
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


def _request_id() -> str:
    # Shaped like API Gateway's ids ("JKJaXmPLvHcESHA=").
    return base64.b64encode(secrets.token_bytes(10)).decode("ascii")


def function_reply(invocation: Invocation) -> Reply:
    """An integration response (payload format 2.0) as API Gateway turns it into HTTP."""
    state = "cold" if invocation.cold else "warm"
    if invocation.error == "Timeout":
        return Reply.message(503, "Service Unavailable", state=state)
    payload = invocation.payload
    if invocation.failed:
        return Reply.message(500, "Internal Server Error", state=state)
    if not (isinstance(payload, dict) and "statusCode" in payload):
        # Without a statusCode, API Gateway takes the result as a JSON body of a 200.
        return Reply.json(200, payload, state=state)
    try:
        return _structured_reply(payload, state)
    except (TypeError, ValueError):
        return Reply.message(500, "Internal Server Error", state=state)


def _structured_reply(payload: dict[str, Any], state: str) -> Reply:
    headers = [(str(k), str(v)) for k, v in (payload.get("headers") or {}).items()]
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in payload.get("cookies") or [])
    body = payload.get("body")
    if body is None:
        data = b""
    elif payload.get("isBase64Encoded"):
        data = base64.b64decode(body, validate=True)
    else:
        data = str(body).encode()
    return Reply(int(payload["statusCode"]), headers, data, state=state)


class LocalApi:
    """What the server serves: the template's routes, their functions' pools, the local extras."""

    def __init__(
        self,
        template: Template,
        aws: EmulatedAws,
        rie: Path,
        runtime_dir: Path,
        layer_dir: Path,
        debug: tuple[str, int] | None = None,
    ) -> None:
        self.template = template
        self.debug = debug  # (function, port): that function's worker runs under debugpy
        self.aws = aws
        self.rie = rie
        self.runtime_dir = runtime_dir
        self.layer_dir = layer_dir
        self.functions = template.functions(aws.parameters)
        self.routes = template.routes()
        self._pools: dict[str, FunctionPool] = {}
        self._lock = threading.Lock()
        self._failures: dict[str, ColdStartFailure | None] = {}  # a function's failed cold start, diagnosed
        self._openapi: dict[str, Any] | None = None
        self._openapi_lock = threading.Lock()
        self.triggers = Triggers(template, lambda name, event: self.pool(name).invoke(event))
        self.devtools = DevTools(aws)
        self.layer_sync = LayerSync(layer_dir / "nexus")
        self._watcher: Watcher | None = None
        self._state_lock = threading.Lock()  # one reset, save or load at a time

    def start(self, *, reload: bool = False, restored: bool = False) -> LocalApi:
        """``reload``: watch the sources (local/reload.py); ``restored``: the emulated AWS holds a
        loaded snapshot, whose stream records are not delivered again."""
        self.triggers.start(self.aws.resources, skip_existing=restored)
        if reload:
            roots = [*{function.code_uri for function in self.functions.values()}, LAYER_SOURCE, TEMPLATE_PATH]
            self._watcher = Watcher(roots, self.apply_changes).start()
        return self

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        self.triggers.stop()
        self.stop_workers()

    def apply_changes(self, paths: set[Path]) -> None:
        """A save under functions/, layers/shared/ or template.yaml: restart what it affects (local.reload)."""
        started = time.monotonic()
        notes: list[str] = []
        affected: set[str] = set()
        for path in sorted(p for p in paths if p.is_relative_to(LAYER_SOURCE)):
            self.layer_sync.apply(path)
            affected |= set(self.functions)  # every function imports the layer
        notes += list(self.layer_sync.syntax_errors.values())
        for name, function in self.functions.items():
            if any(path.is_relative_to(function.code_uri) for path in paths):
                affected.add(name)
        if TEMPLATE_PATH in paths:
            change = template_change(self.template, self.aws.parameters)
            if isinstance(change, str):
                notes.append(change)
            else:
                self.template, self.routes = change.template, change.template.routes()
                self.functions = change.template.functions(self.aws.parameters)
                affected |= change.functions
                with self._openapi_lock:
                    self._openapi = None
                if change.needs_restart:
                    notes.append(f"template.yaml: restart `make start` to apply {', '.join(change.needs_restart)}")
        self._retire(affected)
        changed = ", ".join(sorted(str(p.relative_to(ROOT)) for p in paths if p.is_relative_to(ROOT)))
        restarted = ", ".join(sorted(affected)) or "nothing"
        print(f"reload: {changed} -> {restarted} ({(time.monotonic() - started) * 1000:.0f} ms)", file=sys.stderr)
        for note in notes:
            print(f"reload: {note}", file=sys.stderr, flush=True)

    def _retire(self, names: set[str]) -> None:
        with self._lock:
            pools = [self._pools.pop(name) for name in names if name in self._pools]
            for name in names:
                self._failures.pop(name, None)
        for pool in pools:
            threading.Thread(target=pool.retire, daemon=True).start()

    def environment(self, function: Function) -> dict[str, str]:
        variables = self.aws.resources.environment(function)
        return lambda_environment(function, variables, self.aws.endpoint_url, self.runtime_dir, self.layer_dir)

    def pool(self, logical_id: str) -> FunctionPool:
        with self._lock:
            if logical_id not in self._pools:
                function = self.functions[logical_id]
                # The REPORT line's costs: the boundary sees the calls only of moto in this process.
                usage = self.aws.usage.take if self.aws.embedded else None
                port = self.debug[1] if self.debug and self.debug[0] == logical_id else None
                self._pools[logical_id] = FunctionPool(function, self.environment(function), self.rie, usage, port)
            return self._pools[logical_id]

    def stop_workers(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        stop_all([worker for pool in pools for worker in pool.detach()])

    def reset(self) -> None:
        # New resources come with a new secret value: workers started before hold the old one.
        with self._state_lock:
            self.triggers.stop()
            self.stop_workers()
            self.aws.reset()
            self.triggers.start(self.aws.resources)

    def save(self, path: Path) -> snapshots.Snapshot:
        """Once the triggers have delivered what the streams and queues hold, the data into ``path``."""
        with self._state_lock:
            late = self.triggers.settle(SETTLE_SECONDS)
            if late:
                print(
                    f"snapshot: still delivering after {SETTLE_SECONDS:.0f} s: {', '.join(late)} "
                    "(what they have not read yet is not delivered after a load)",
                    file=sys.stderr,
                    flush=True,
                )
            snapshot = snapshots.capture(self.aws)
            snapshots.write(path, snapshot)
            return snapshot

    def load(self, path: Path, name: str | None = None) -> snapshots.Snapshot:
        """Replace the data with the snapshot in ``path``: checked whole first, so a snapshot that
        cannot be loaded changes nothing; one that fails while it is written leaves empty resources."""
        snapshot = snapshots.read(path, name)
        if not self.aws.embedded:
            raise snapshots.NotEmbedded("snapshots need the embedded emulated AWS (AWS_ENDPOINT_URL is set)")
        snapshots.check(snapshot, self.aws.resources, str(path))
        with self._state_lock:
            self.triggers.stop()
            self.stop_workers()  # they hold the secrets' values of before
            self.aws.reset()
            try:
                snapshots.restore(self.aws, snapshot)
            except (ClientError, BotoCoreError, snapshots.SnapshotError, ValueError, KeyError, TypeError) as error:
                self.aws.reset()
                self.triggers.start(self.aws.resources)
                raise snapshots.SnapshotError(
                    f"{path} could not be loaded ({error}): the emulated AWS was left empty"
                ) from error
            self.triggers.start(self.aws.resources, skip_existing=True)
        return snapshot

    def _cold_start_failure(self, name: str) -> ColdStartFailure | None:
        """Why ``name``'s cold start failed, as a file and a line (diagnosed once per reload)."""
        with self._lock:
            if name in self._failures:
                return self._failures[name]
        function = self.functions[name]
        failure = diagnose(function, self.environment(function))
        with self._lock:
            self._failures[name] = failure
        if failure is not None:
            print(f"[{name}] cold start failed: {failure.file}:{failure.line}: {failure.error}", file=sys.stderr)
        return failure

    def openapi(self) -> dict[str, Any]:
        with self._openapi_lock:
            if self._openapi is None:
                self._openapi = openapi.generate(
                    list(self.functions.values()), self._openapi_environment(), self.routes
                )
            return self._openapi

    def _openapi_environment(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for function in self.functions.values():
            merged.update(self.environment(function))
        return merged

    def dispatch(self, request: Request) -> Reply:
        refused = _refused_origin(request)
        if refused is not None:
            return refused
        local = self._local_route(request)
        if local is not None:
            return local
        found = match_route(self.routes, request.method, request.path)
        if not isinstance(found, RouteMatch):
            # API Gateway answers an unknown path and a known path's unknown method alike.
            return Reply.message(404, "Not Found")
        claims: dict[str, Any] | None = None
        if found.route.auth:
            try:
                claims = bearer_claims(request.headers.get("authorization"))
            except InvalidToken:
                return Reply.message(401, "Unauthorized", function=found.route.function)
        request_id = _request_id()
        event = build_http_event(
            method=request.method,
            path=request.path,
            route_key=found.route.route_key,
            raw_query=request.raw_query,
            headers=request.headers,
            body=request.body,
            path_parameters=found.path_parameters,
            claims=claims,
            source_ip=request.source_ip,
            request_id=request_id,
        )
        invocation = self.pool(found.route.function).invoke(event)
        reply = function_reply(invocation)
        if invocation.failed and invocation.cold:
            failure = self._cold_start_failure(found.route.function)
            if failure is not None:
                reply = Reply.json(500, {"message": "Internal Server Error", "local": failure.document()})
                reply.state = "cold"
        reply.function = found.route.function
        reply.headers.append(("apigw-requestid", request_id))
        return reply

    def _local_route(self, request: Request) -> Reply | None:
        key = (request.method, request.path)
        if key in (("GET", "/"), ("HEAD", "/")):
            return Reply(302, [("Location", "/docs")])
        if key == ("GET", "/openapi.json"):
            return Reply(200, [("Content-Type", "application/json")], openapi_text(self.openapi()).encode())
        if key == ("GET", "/docs/API.md"):
            return Reply(200, [("Content-Type", "text/markdown; charset=utf-8")], API_DOC.read_bytes())
        if key == ("GET", "/docs"):
            return Reply(200, [("Content-Type", "text/html; charset=utf-8")], DOCS_PAGE.encode())
        if request.method == "GET" and request.path.startswith("/docs/") and request.path[6:] in SWAGGER_ASSETS:
            return _swagger_asset(request.path[6:])
        if request.method == "GET" and (request.path == "/_local/emails" or request.path.startswith("/_local/emails/")):
            return self._emails(request)
        if key == ("POST", "/_local/reset"):
            self.reset()
            self.devtools.forget_webhooks()
            return Reply.json(200, {"reset": True})
        if request.method == "POST" and request.path.startswith(SNAPSHOTS):
            name, _, action = request.path.removeprefix(SNAPSHOTS).partition("/")
            if action in ("save", "load"):
                return self._snapshot(unquote(name), action)
        return self._devtools_route(request)

    def _devtools_route(self, request: Request) -> Reply | None:
        tools, key = self.devtools, (request.method, request.path)
        answer = None
        if key == ("GET", "/_local/faults"):
            answer = tools.faults()
        elif key == ("POST", "/_local/faults"):
            answer = tools.turn_on(request.body)
        elif key == ("DELETE", "/_local/faults"):
            answer = tools.turn_off(None)
        elif request.method == "DELETE" and request.path.startswith("/_local/faults/"):
            answer = tools.turn_off(unquote(request.path.removeprefix("/_local/faults/")))
        elif key == ("GET", "/_local/invariants"):
            answer = tools.invariants()
        elif key == ("POST", "/_local/webhooks"):
            answer = tools.receive_webhook(request.headers, request.body)
        elif key == ("GET", "/_local/webhooks"):
            answer = tools.webhooks()
        return None if answer is None else Reply.json(*answer)

    def _snapshot(self, name: str, action: str) -> Reply:
        """`python -m local snapshot save|load NAME`, done here: the mail and the triggers are this process's."""
        try:
            path = snapshots.snapshot_path(name)
            snapshot = self.save(path) if action == "save" else self.load(path, name)
        except snapshots.SnapshotError as error:
            return Reply.message(error.status, str(error))
        done = "saved" if action == "save" else "loaded"
        print(f"snapshot {name} {done} ({path}): {snapshot.summary()}", file=sys.stderr, flush=True)
        return Reply.json(200, {"name": name, "path": str(path), "summary": snapshot.summary()})

    def _emails(self, request: Request) -> Reply:
        """The inbox: HTML for a browser, JSON for scripts (see local.inbox.wants_html)."""
        from local import inbox

        mails = self.aws.sent_mail()
        rest = request.path.removeprefix("/_local/emails").strip("/")
        if not rest:
            try:
                html = inbox.wants_html(request.headers.get("accept"), request.raw_query)
            except inbox.FormatError as error:
                return Reply.message(400, str(error))
            if not html:
                reply = Reply.json(200, {"emails": [mail.document() for mail in mails]})
            else:
                page = inbox.inbox_page(mails, embedded=self.aws.embedded)
                reply = Reply(200, list(inbox.PAGE_HEADERS), page.encode())
            reply.headers.append(("Vary", "Accept"))
            return reply
        message_id, _, part = unquote(rest).partition("/")
        found = next((mail for mail in mails if mail.id == message_id), None)
        if found is None or part not in ("", "html"):
            return Reply.message(404, "Not Found")
        if part == "html":
            return Reply(200, list(inbox.MESSAGE_HEADERS), (found.html or "").encode())
        return Reply(200, list(inbox.PAGE_HEADERS), inbox.message_page(found).encode())


def _swagger_asset(name: str) -> Reply:
    # Powertools ships Swagger UI for its own /swagger route: no CDN needed offline.
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    data = (Path(swagger_ui.__file__).parent / name).read_bytes()
    kind = "application/javascript" if name.endswith(".js") else "text/css"
    return Reply(200, [("Content-Type", kind), ("Cache-Control", "max-age=3600")], data)


DOCS_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Nexus Serverless API (local)</title>
<link rel="stylesheet" href="/docs/swagger-ui.min.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.min.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true});</script>
</body></html>
"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: LocalApi

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
    server: _Server
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
            return self.server.api.dispatch(request)
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


def _banner(port: int, seconds: float, aws_endpoint: str, persisted: Path | None = None) -> str:
    token = make_token()
    base = f"http://127.0.0.1:{port}"
    return "\n".join(
        [
            f"Nexus Serverless local API on {base} (ready in {seconds:.2f} s)",
            f"  docs: {base}/docs  openapi: {base}/openapi.json  emails: {base}/_local/emails",
            f"  webhooks: {base}/_local/webhooks  faults: {base}/_local/faults  invariants: {base}/_local/invariants",
            f"  emulated AWS: AWS_ENDPOINT_URL={aws_endpoint}",
            *([f"  the data is saved to {persisted} when the server stops (--persist)"] if persisted else []),
            "  token with every scope (signature not checked locally):",
            f"  TOKEN={token}",
            f'  curl -H "Authorization: Bearer $TOKEN" {base}/users',
            f"  `python -m local invoke` uses this AWS while the server runs ({endpoint_file()})",
            f"Ctrl-C, or kill -INT / -TERM {os.getpid()}, stops the server, its workers and moto.",
        ]
    )


def _stop_on_signals(server: _Server) -> None:
    """SIGINT and SIGTERM both stop the server. SIGINT is set explicitly: a background job (`make
    start &` in a script) inherits it ignored, and Python then leaves it ignored."""

    def handle(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, handle)


def _bind(port: int) -> _Server | str:
    """The listening socket first, so a busy port fails in a line before anything starts."""
    try:
        return _Server(("127.0.0.1", port), _Handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return f"port {port} is in use: try `make start PORT={port + 1}` (python -m local start --port {port + 1})"
        return f"cannot listen on 127.0.0.1:{port} ({error.strerror}): try another, `make start PORT=8080`"


def openapi_text(document: dict[str, Any]) -> str:
    """The document as `make openapi` commits it (docs/openapi.json) and the server serves it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _runtime() -> tuple[Path, Path, Path] | None:
    """The runtime directory, the built layer and aws-lambda-rie; None (said on stderr) if one is missing."""
    try:
        return ensure_runtime_dir(), check_layer(LAYER_DIR), find_rie()
    except RuntimeSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def write_openapi(out: str) -> int:
    """`make openapi`: the document from the functions' resolvers, over an embedded emulated AWS
    (the functions read their configuration at import, as at a cold start)."""
    template = Template()
    runtime = _runtime()
    if runtime is None:
        return 2
    runtime_dir, layer_dir, rie = runtime
    aws = EmulatedAws(template).start()
    try:
        text = openapi_text(LocalApi(template, aws, rie, runtime_dir, layer_dir).openapi())
    finally:
        aws.stop()
    if out == "-":
        sys.stdout.write(text)
    else:
        Path(out).write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    return 0


def _persisted_state(persist: bool) -> tuple[Path | None, snapshots.Snapshot | None] | str:
    """--persist: where the state is kept and what it holds (None: none yet); an error line when it cannot be read."""
    if not persist:
        return None, None
    if os.environ.get("AWS_ENDPOINT_URL"):
        return "--persist keeps the embedded emulated AWS's data: AWS_ENDPOINT_URL is set, and that keeps its own"
    path = snapshots.state_file()
    if not path.exists():
        return path, None
    try:
        return path, snapshots.read(path)
    except snapshots.SnapshotError as error:
        return f"{error}: move it away, or start without --persist"


def _load_state(aws: EmulatedAws, path: Path, state: snapshots.Snapshot) -> str | None:
    """The persisted state into the new emulated AWS; an error line when it cannot be."""
    started = time.monotonic()
    try:
        snapshots.check(state, aws.resources, str(path))
        snapshots.restore(aws, state)
    except (ClientError, BotoCoreError, snapshots.SnapshotError, ValueError, KeyError, TypeError) as error:
        return f"{path} could not be loaded ({error}): move it away, or start without --persist"
    elapsed = time.monotonic() - started
    print(f"loaded the state of {path} in {elapsed:.2f} s: {state.summary()}", file=sys.stderr, flush=True)
    return None


def _save_state(api: LocalApi, path: Path) -> None:
    started = time.monotonic()
    try:
        snapshot = api.save(path)
    except (ClientError, BotoCoreError, snapshots.SnapshotError, OSError) as error:
        print(f"error: the state was not saved to {path}: {error}", file=sys.stderr, flush=True)
        return
    elapsed = time.monotonic() - started
    print(f"saved the state to {path} in {elapsed:.2f} s: {snapshot.summary()}", file=sys.stderr, flush=True)


def main(
    port: int,
    parameters: dict[str, str] | None = None,
    conflicts: tuple[float, float] = (0.0, 0.0),
    persist: bool = False,
    *,
    reload: bool = True,
    debug: tuple[str, int] | None = None,
) -> int:
    """Serve the API; ``conflicts``: the share of DynamoDB transactions cancelled with
    TransactionConflict, and how long a transaction holds its items (local/strict_dynamodb.py);
    ``persist``: start from the data saved when the last such server stopped, save it when this
    one stops; ``reload``: a saved change is live on the next request (local/reload.py);
    ``debug``: (function, port) whose worker runs under debugpy."""
    started = time.monotonic()
    template = Template()
    persisted = _persisted_state(persist)
    if isinstance(persisted, str):
        print(f"error: {persisted}", file=sys.stderr)
        return 2
    state_path, state = persisted
    runtime = _runtime()
    if runtime is None:
        return 2
    runtime_dir, layer_dir, rie = runtime
    if debug is not None and debug[0] not in template.functions():
        print(f"error: --debug {debug[0]}: no such function in template.yaml", file=sys.stderr)
        return 2
    server = _bind(port)
    if isinstance(server, str):
        print(f"error: {server}", file=sys.stderr)
        return 2
    _stop_on_signals(server)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    # Webhooks go to the server's own receiver (/_local/webhooks) unless told otherwise.
    parameters = {"WebhookUrls": f"{base_url}/_local/webhooks", **(parameters or {})}
    aws = EmulatedAws(template, os.environ.get("AWS_ENDPOINT_URL"), parameters).start()
    if state_path is not None and state is not None:
        failed = _load_state(aws, state_path, state)
        if failed is not None:
            server.server_close()
            aws.stop()
            print(f"error: {failed}", file=sys.stderr)
            return 2
    strict_dynamodb.conflicts.rate, strict_dynamodb.conflicts.overlap_seconds = conflicts
    api = LocalApi(template, aws, rie, runtime_dir, layer_dir, debug).start(reload=reload, restored=state is not None)
    server.api = api
    running_file = endpoint_file()
    resources = {name: found["Ref"] for name, found in aws.resources.physical.items()}
    RunningApi(os.getpid(), base_url, aws.endpoint_url, resources).write(running_file)
    ready = time.monotonic() - started
    print(_banner(server.server_address[1], ready, aws.endpoint_url, state_path), file=sys.stderr, flush=True)
    if debug is not None:
        print(
            f"  debug: {debug[0]} runs under debugpy; at its first request it waits for a debugger on"
            f" 127.0.0.1:{debug[1]} (VS Code: local/README.md, A debugger)",
            file=sys.stderr,
            flush=True,
        )
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        remove_if_ours(running_file, os.getpid())
        server.server_close()
        if state_path is not None:
            _save_state(api, state_path)  # no request comes in any more; the triggers still deliver
        api.stop()
        aws.stop()
        print("stopped", file=sys.stderr, flush=True)
    return 0
