"""HTTPService against real local HTTP(S) servers on 127.0.0.1 (pytest-httpserver).

Safety net: while these tests run, an audit hook aborts every ``socket.connect`` to an
address other than loopback, by raising an exception that nothing in the service can
catch (a ``BaseException``). If the SSRF guard were missing, the private and
link-local cases below would fail loudly instead of sending traffic anywhere.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from nexus.errors import NexusError
from nexus.http import (
    DeadlineExceededError,
    ForbiddenDestinationError,
    HTTPResult,
    HTTPService,
    OutboundRequestError,
)
from nexus.services import ServiceNotInitializedError
from nexus.settings import HTTPSettings, WebhookSettings

# --- the no-real-traffic safety net -------------------------------------------------------

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class RealTrafficAttempted(BaseException):
    """A test tried to connect beyond loopback; never swallowed by ``except Exception``."""


class _ConnectWatch:
    def __init__(self) -> None:
        self.enforcing = False
        self.connects: list[tuple[str, int]] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "socket.connect" or not self.enforcing:
            return
        address = args[1]
        if not isinstance(address, tuple):
            return  # unix sockets
        host, port = str(address[0]), int(address[1])
        self.connects.append((host, port))
        if host not in _LOOPBACK:
            raise RealTrafficAttempted(f"connect to {host}:{port} attempted")


_watch = _ConnectWatch()
sys.addaudithook(_watch)  # audit hooks cannot be removed; it is inert unless enforcing


@pytest.fixture(autouse=True)
def connects() -> Iterator[list[tuple[str, int]]]:
    """Every socket connect made by the test, enforced to loopback."""
    _watch.connects = []
    _watch.enforcing = True
    try:
        yield _watch.connects
    finally:
        _watch.enforcing = False


def test_the_safety_net_aborts_a_connect_beyond_loopback() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(RealTrafficAttempted):
            sock.connect(("10.0.0.1", 80))
    finally:
        sock.close()


# --- servers and services ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    httpserver = HTTPServer(host="127.0.0.1", threaded=True)
    httpserver.start()
    yield httpserver
    httpserver.clear()
    httpserver.stop()


@pytest.fixture(autouse=True)
def _clear_server(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").clear()


class FakeResolver:
    """A resolver from a fixed table that records every lookup."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str) -> Sequence[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


def http_service(
    *,
    allowed_hosts: Iterable[str] = frozenset(),
    allow_loopback_http: bool = False,
    timeout_seconds: float = 5.0,
    retries: int = 3,
    **options: Any,
) -> HTTPService:
    """An HTTPService whose settings say these, unchecked (so that what the service itself
    refuses shows). Its allowlist is the webhook subscribers' hosts: one subscriber per host."""
    settings = HTTPSettings.model_construct(
        local_mode=allow_loopback_http, http_timeout_seconds=timeout_seconds, http_retries=retries
    )
    subscribers = tuple(f"https://[{host}]/hooks" if ":" in host else f"https://{host}/hooks" for host in allowed_hosts)
    return HTTPService(settings, WebhookSettings.model_construct(webhook_urls=subscribers), **options)


def test_the_allowlist_is_the_hosts_the_settings_give() -> None:
    hosts = {"127.0.0.1", "localhost", "::1", "api.nexus.test"}

    assert http_service(allowed_hosts=hosts).allowed_hosts == hosts


MakeService = Callable[..., HTTPService]


@pytest.fixture
def make_service(server: HTTPServer) -> Iterator[MakeService]:
    created: list[HTTPService] = []

    def make(**overrides: Any) -> HTTPService:
        options: dict[str, Any] = {
            "base_url": f"http://127.0.0.1:{server.port}",
            "allowed_hosts": frozenset({"127.0.0.1", "localhost"}),
            "allow_loopback_http": True,
            "timeout_seconds": 2.0,
            "backoff_factor": 0.01,
            "backoff_jitter": 0.01,
        }
        options.update(overrides)
        service = http_service(**options)
        service.initialize()
        created.append(service)
        return service

    yield make
    for service in created:
        service.cleanup()


def local(server: HTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


# --- lifecycle -------------------------------------------------------------------------------


def test_use_before_initialize_raises() -> None:
    service = http_service(allowed_hosts={"127.0.0.1"}, allow_loopback_http=True)
    with pytest.raises(ServiceNotInitializedError):
        service.get("http://127.0.0.1:1/")


def test_use_after_cleanup_raises_and_lifecycle_is_idempotent(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/ping").respond_with_data("pong")
    service = make_service()
    service.initialize()
    assert service.get("/ping").data == {"text": "pong"}
    service.cleanup()
    service.cleanup()
    with pytest.raises(ServiceNotInitializedError):
        service.get("/ping")


def test_constructor_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="retries"):
        http_service(retries=-1)
    with pytest.raises(ValueError, match="timeout"):
        http_service(timeout_seconds=0)


# --- responses, bodies, URLs ---------------------------------------------------------------


def test_json_response_is_parsed(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/doc").respond_with_json({"id": 7, "tags": ["a", "b"]}, headers={"X-Trace": "t-1"})
    result = make_service().get("/doc")
    assert isinstance(result, HTTPResult)
    assert result.status_code == 200
    assert result.ok
    assert result.data == {"id": 7, "tags": ["a", "b"]}
    assert result.headers["x-trace"] == "t-1"  # case-insensitive
    shape = result.to_dict()
    assert set(shape) == {"status_code", "headers", "data"}
    assert shape["status_code"] == 200
    assert shape["data"] == {"id": 7, "tags": ["a", "b"]}
    assert shape["headers"]["Content-Type"] == "application/json"
    with pytest.raises(AttributeError):
        result.status_code = 500  # type: ignore[misc]


def test_text_response_is_wrapped_like_the_seed(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/txt").respond_with_data("héllo", content_type="text/plain; charset=utf-8")
    server.expect_request("/latin").respond_with_data(
        "café".encode("latin-1"), content_type="text/plain; charset=iso-8859-1"
    )
    server.expect_request("/unknown-charset").respond_with_data(b"ok", content_type="text/plain; charset=nope")
    service = make_service()
    assert service.get("/txt").data == {"text": "héllo"}
    assert service.get("/latin").data == {"text": "café"}
    assert service.get("/unknown-charset").data == {"text": "ok"}


def test_problem_json_empty_json_and_broken_json(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/problem").respond_with_data(
        '{"title": "nope"}', status=422, content_type="application/problem+json"
    )
    server.expect_request("/empty").respond_with_data("", status=200, content_type="application/json")
    server.expect_request("/broken").respond_with_data("{not json", content_type="application/json")
    service = make_service()
    problem = service.get("/problem")
    assert (problem.status_code, problem.data, problem.ok) == (422, {"title": "nope"}, False)
    assert service.get("/empty").data is None
    assert service.get("/broken").data == {"text": "{not json"}


def test_post_json_body_arrives_intact(server: HTTPServer, make_service: MakeService) -> None:
    payload = {"name": "Zoë", "n": [1, 2.5, None], "nested": {"ok": True}}
    server.expect_request("/items", method="POST", json=payload).respond_with_json({"created": True}, status=201)
    result = make_service().post("/items", json=payload, headers={"X-Request-Id": "r-1"})
    assert result.status_code == 201
    assert result.data == {"created": True}
    request = server.log[0][0]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Request-Id"] == "r-1"
    assert request.headers["User-Agent"] == "Nexus/1.0"


def test_put_form_data_and_delete(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/items/1", method="PUT").respond_with_data("", status=204)
    server.expect_request("/items/1", method="DELETE").respond_with_data("", status=204)
    server.expect_request("/raw", method="POST").respond_with_data("ok")
    service = make_service(user_agent="Nexus-Test/2")
    assert service.put("/items/1", data={"a": "1", "b": ["x", "y"]}).status_code == 204
    assert service.delete("/items/1").status_code == 204
    assert service.post("/raw", data=b"\x00\x01", headers={"Content-Type": "application/octet-stream"}).ok
    assert service.post("/raw", data="plain text").ok
    put, delete, raw_bytes, raw_text = (entry[0] for entry in server.log)
    assert put.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert put.form.to_dict(flat=False) == {"a": ["1"], "b": ["x", "y"]}
    assert put.headers["User-Agent"] == "Nexus-Test/2"
    assert delete.method == "DELETE"
    assert raw_bytes.get_data() == b"\x00\x01"
    assert raw_bytes.headers["Content-Type"] == "application/octet-stream"
    assert raw_text.get_data() == b"plain text"
    assert raw_text.headers["Content-Type"].startswith("text/plain")


def test_query_params(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/search").respond_with_json([])
    service = make_service()
    service.get("/search", params={"q": "a b&c", "tag": ["x", "y"], "n": 3})
    service.get("/search?fixed=1#fragment", params={"q": "z"})
    first, second = (entry[0] for entry in server.log)
    assert first.args.to_dict(flat=False) == {"q": ["a b&c"], "tag": ["x", "y"], "n": ["3"]}
    assert second.args.to_dict(flat=False) == {"fixed": ["1"], "q": ["z"]}


def test_base_url_joining(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/api/v1/users").respond_with_data("users")
    server.expect_request("/api/v1").respond_with_data("root")
    server.expect_request("/other").respond_with_data("other")
    for base in (local(server, "/api/v1"), local(server, "/api/v1/")):
        service = make_service(base_url=base)
        assert service.get("users").data == {"text": "users"}
        assert service.get("/users").data == {"text": "users"}
        assert service.build_url("users") == local(server, "/api/v1/users")
    assert make_service(base_url=local(server, "/api/v1")).get("").data == {"text": "root"}
    # An absolute URL ignores base_url (and still goes through the guard).
    assert make_service(base_url="https://elsewhere.example").get(local(server, "/other")).ok
    with pytest.raises(ValueError, match="needs a base_url"):
        make_service(base_url=None).get("/relative")


def test_bad_arguments(make_service: MakeService) -> None:
    service = make_service()
    with pytest.raises(ValueError, match="not both"):
        service.post("/x", json={"a": 1}, data="b")
    with pytest.raises(ValueError, match="unsupported method"):
        service.request("PATCH", "/x")


def test_connections_are_pooled_and_reused(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/ping").respond_with_data("pong")
    service = make_service()
    for _ in range(3):
        assert service.get("/ping").ok
    assert service._pools is not None
    assert len(service._pools.pools) == 1  # one pool for the validated 127.0.0.1:port


def test_oversized_response_is_refused_and_the_pool_still_works(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/big").respond_with_data("x" * 2048)
    server.expect_request("/small").respond_with_data("ok")
    service = make_service(max_response_bytes=1024)
    with pytest.raises(OutboundRequestError, match="larger than 1024"):
        service.get("/big")
    assert service.get("/small").data == {"text": "ok"}


# --- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_retries_on_503_then_succeeds(server: HTTPServer, make_service: MakeService, method: str) -> None:
    server.expect_oneshot_request("/flaky", method=method).respond_with_data("busy", status=503)
    server.expect_oneshot_request("/flaky", method=method).respond_with_data("busy", status=502)
    server.expect_request("/flaky", method=method).respond_with_json({"ok": True})
    result = make_service(retries=3).request(method, "/flaky", json={"k": "v"})
    assert result.status_code == 200
    assert result.attempts == 3
    assert len(server.log) == 3
    assert all(request.get_json() == {"k": "v"} for request, _ in server.log)


def test_final_5xx_after_retries_is_returned_not_raised(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/down").respond_with_json({"error": "down"}, status=500)
    result = make_service(retries=2).get("/down")
    assert result.status_code == 500
    assert result.data == {"error": "down"}
    assert result.attempts == 3
    assert len(server.log) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_no_retry_on_4xx(server: HTTPServer, make_service: MakeService, status: int) -> None:
    server.expect_request("/bad").respond_with_json({"error": "bad"}, status=status)
    result = make_service(retries=3).post("/bad", json={})
    assert result.status_code == status
    assert result.attempts == 1
    assert len(server.log) == 1


def test_413_with_retry_after_is_not_retried(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/large").respond_with_data("", status=413, headers={"Retry-After": "1"})
    started = time.monotonic()
    assert make_service().post("/large", data="x").status_code == 413
    assert time.monotonic() - started < 0.9
    assert len(server.log) == 1


def test_429_retry_after_is_honoured(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_oneshot_request("/limited").respond_with_data("slow down", status=429, headers={"Retry-After": "1"})
    server.expect_request("/limited").respond_with_json({"ok": True})
    started = time.monotonic()
    result = make_service(retries=2).get("/limited")
    elapsed = time.monotonic() - started
    assert result.status_code == 200
    assert result.attempts == 2
    assert len(server.log) == 2
    assert 1.0 <= elapsed < 3.0


def test_retry_after_is_capped(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_oneshot_request("/limited").respond_with_data("", status=503, headers={"Retry-After": "3600"})
    server.expect_request("/limited").respond_with_data("ok")
    started = time.monotonic()
    assert make_service(retry_after_max=1).get("/limited").ok
    assert 1.0 <= time.monotonic() - started < 3.0


def test_timeout_raises_and_per_call_timeout_overrides(server: HTTPServer, make_service: MakeService) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("late")

    server.expect_request("/slow").respond_with_handler(slow)
    service = make_service(timeout_seconds=10.0, retries=3)
    started = time.monotonic()
    with pytest.raises(OutboundRequestError) as caught:
        service.get("/slow", timeout=0.2)
    assert time.monotonic() - started < 0.9
    assert caught.value.code == "outbound_request_failed"
    assert caught.value.attempts == 1  # a read timeout is not retried
    assert isinstance(caught.value, NexusError)
    assert "ReadTimeoutError" in caught.value.message
    time.sleep(0.9)  # let the handler finish before the server is cleared
    assert len(server.log) == 1


# --- deadlines ------------------------------------------------------------------------------


def test_a_deadline_cuts_the_per_attempt_timeout(server: HTTPServer, make_service: MakeService) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("late")

    server.expect_request("/slow").respond_with_handler(slow)
    service = make_service(timeout_seconds=10.0)
    started = time.monotonic()
    with pytest.raises(OutboundRequestError) as caught:
        service.get("/slow", deadline=started + 0.3)
    assert 0.25 < time.monotonic() - started < 0.8  # the deadline, not the 10 s timeout
    assert "ReadTimeoutError" in caught.value.message
    time.sleep(1.0)  # let the handler finish before the server is cleared


def test_no_request_is_sent_when_the_deadline_has_passed(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/never").respond_with_data("ok")
    with pytest.raises(DeadlineExceededError) as caught:
        make_service().get("/never", deadline=time.monotonic() + 0.01)
    assert caught.value.code == "outbound_deadline_exceeded"
    assert isinstance(caught.value, OutboundRequestError)
    assert len(server.log) == 0


def test_no_retry_whose_backoff_would_pass_the_deadline(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/busy").respond_with_data("", status=503, headers={"Retry-After": "2"})
    service = make_service(retries=3, retry_after_max=5)
    started = time.monotonic()
    result = service.get("/busy", deadline=started + 1.0)  # Retry-After 2 s does not fit
    assert result.status_code == 503
    assert result.attempts == 1
    assert time.monotonic() - started < 0.5
    assert len(server.log) == 1


def test_retries_that_fit_before_the_deadline_are_made(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_oneshot_request("/flaky").respond_with_data("", status=503)
    server.expect_request("/flaky").respond_with_data("ok")
    result = make_service(retries=3).get("/flaky", deadline=time.monotonic() + 5.0)
    assert (result.status_code, result.attempts) == (200, 2)


def test_connection_retries_stop_at_the_deadline(make_service: MakeService) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    # urllib3's backoff: the first retry at once, then 0.8 s, 1.6 s...: two retries fit in 1 s.
    service = make_service(base_url=f"http://127.0.0.1:{free_port}", retries=5, backoff_factor=0.4)
    started = time.monotonic()
    with pytest.raises(OutboundRequestError) as caught:
        service.get("/", deadline=started + 1.0)
    assert time.monotonic() - started < 1.0
    assert caught.value.attempts == 3  # without the deadline: 6, over ~6 s


def test_connection_refused_is_retried_then_raises(make_service: MakeService) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    service = make_service(base_url=f"http://127.0.0.1:{free_port}", retries=2)
    with pytest.raises(OutboundRequestError) as caught:
        service.get("/")
    assert caught.value.attempts == 3
    assert caught.value.host == "127.0.0.1"


# --- redirects ------------------------------------------------------------------------------


def test_redirects_are_followed(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new"})
    server.expect_request("/new").respond_with_json({"here": True})
    result = make_service().get("/old")
    assert (result.status_code, result.data, result.redirects) == (200, {"here": True}, 1)
    assert result.url == local(server, "/new")


def test_303_after_post_becomes_get_and_307_keeps_the_body(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/submit", method="POST").respond_with_data("", status=303, headers={"Location": "/done"})
    server.expect_request("/done", method="GET").respond_with_data("done")
    server.expect_request("/moved", method="POST").respond_with_data("", status=307, headers={"Location": "/target"})
    server.expect_request("/target", method="POST", json={"a": 1}).respond_with_data("kept")
    service = make_service()
    assert service.post("/submit", json={"a": 1}).data == {"text": "done"}
    done = server.log[1][0]
    assert done.method == "GET"
    assert done.get_data() == b""
    assert "Content-Type" not in done.headers
    assert service.post("/moved", json={"a": 1}).data == {"text": "kept"}


def test_too_many_redirects(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})
    with pytest.raises(OutboundRequestError, match="too many redirects"):
        make_service().get("/loop")
    assert len(server.log) == HTTPService.MAX_REDIRECTS + 1


def test_cross_origin_redirect_drops_credentials(server: HTTPServer, make_service: MakeService) -> None:
    other_origin = f"http://localhost:{server.port}/landing"
    server.expect_request("/same").respond_with_data("", status=302, headers={"Location": "/landing"})
    server.expect_request("/cross").respond_with_data("", status=302, headers={"Location": other_origin})
    server.expect_request("/landing").respond_with_data("ok")
    service = make_service(resolver=FakeResolver({"localhost": ["127.0.0.1"]}))
    secret = {"Authorization": "Bearer s3cret", "Cookie": "sid=1"}
    service.get("/same", headers=secret)
    service.get("/cross", headers=secret)
    same_landing, cross_landing = server.log[1][0], server.log[3][0]
    assert same_landing.headers.get("Authorization") == "Bearer s3cret"
    assert "Authorization" not in cross_landing.headers
    assert "Cookie" not in cross_landing.headers
    assert cross_landing.headers["Host"] == f"localhost:{server.port}"


@pytest.mark.parametrize("status", [307, 308])
def test_a_body_is_never_resent_to_another_origin(server: HTTPServer, make_service: MakeService, status: int) -> None:
    other_origin = f"http://localhost:{server.port}/elsewhere"
    server.expect_request("/same").respond_with_data("", status=status, headers={"Location": "/landing"})
    server.expect_request("/cross").respond_with_data("", status=status, headers={"Location": other_origin})
    server.expect_request("/landing", method="POST").respond_with_data("ok")
    service = make_service(resolver=FakeResolver({"localhost": ["127.0.0.1"]}))
    signed = {"Nexus-Signature": "t=1,v1=abc"}

    assert service.post("/same", json={"a": 1}, headers=signed).status_code == 200  # same origin: followed
    with pytest.raises(OutboundRequestError, match="another origin"):
        service.post("/cross", json={"a": 1}, headers=signed)

    assert [request.path for request, _ in server.log] == ["/same", "/landing", "/cross"]


@pytest.mark.parametrize(
    ("location", "table", "why"),
    [
        ("http://10.0.0.1/", {}, "private"),
        ("https://10.0.0.1/admin", {}, "private"),
        ("http://169.254.169.254/latest/meta-data/", {}, "link-local"),
        ("https://metadata.internal/", {"metadata.internal": ["169.254.169.254"]}, "link-local"),
        ("http://[::ffff:10.0.0.1]/", {}, "private"),
        ("https://not-allowed.example/", {}, "not in the allowlist"),
        ("ftp://10.0.0.1/", {}, "scheme"),
    ],
)
def test_redirect_to_a_forbidden_destination_is_refused_before_connecting(
    server: HTTPServer,
    make_service: MakeService,
    connects: list[tuple[str, int]],
    location: str,
    table: dict[str, Sequence[str]],
    why: str,
) -> None:
    server.expect_request("/jump").respond_with_data("", status=302, headers={"Location": location})
    resolver = FakeResolver(table)
    service = make_service(
        allowed_hosts={"127.0.0.1", "10.0.0.1", "169.254.169.254", "metadata.internal", "::ffff:10.0.0.1"},
        resolver=resolver,
    )
    started = time.monotonic()
    with pytest.raises(ForbiddenDestinationError, match=why) as caught:
        service.get("/jump")
    assert time.monotonic() - started < 1.0
    assert caught.value.code == "forbidden_destination"
    assert len(server.log) == 1  # only the allowed local server was asked
    assert {host for host, _port in connects} == {"127.0.0.1"}


# --- the SSRF guard before the first connection ------------------------------------------


@pytest.mark.parametrize(
    ("url", "options", "why"),
    [
        # a public-looking name that resolves to loopback, loopback not allowed
        ("https://internal.example/", {"allow_loopback_http": False}, "127.0.0.1: loopback"),
        ("https://internal.example/", {"allow_loopback_http": True}, None),  # allowed: reaches the connect step
        ("https://169.254.169.254/latest/meta-data/", {}, "link-local"),
        ("https://metadata.example/", {}, "169.254.169.254: link-local"),
        ("https://10.0.0.1/", {}, "10.0.0.1: private"),
        ("https://private.example/", {}, "10.0.0.1: private"),
        ("https://mixed.example/", {}, "10.0.0.1: private"),
        ("https://v6private.example/", {}, "private"),
        ("https://mapped.example/", {}, "embedded"),
        ("https://outside.example/", {}, "not in the allowlist"),
        ("http://public.example/", {}, "plain http is not allowed"),
        ("http://public.example/", {"allow_loopback_http": True}, "only to loopback"),
        ("https://user:pw@public.example/", {}, "credentials"),
        ("file:///etc/passwd", {}, "scheme 'file' is not allowed"),
    ],
)
def test_guard_refuses_before_any_connection(
    make_service: MakeService,
    connects: list[tuple[str, int]],
    url: str,
    options: dict[str, Any],
    why: str | None,
) -> None:
    resolver = FakeResolver(
        {
            "internal.example": ["127.0.0.1"],
            "metadata.example": ["169.254.169.254"],
            "private.example": ["10.0.0.1"],
            "mixed.example": ["93.184.216.34", "10.0.0.1"],
            "v6private.example": ["fd00::1"],
            "mapped.example": ["::ffff:192.168.1.1"],
            "public.example": ["93.184.216.34"],
        }
    )
    allowed = {
        "internal.example",
        "169.254.169.254",
        "metadata.example",
        "10.0.0.1",
        "private.example",
        "mixed.example",
        "v6private.example",
        "mapped.example",
        "public.example",
    }
    options = {"allow_loopback_http": False, "retries": 0, **options}
    service = make_service(base_url=None, allowed_hosts=allowed, resolver=resolver, **options)
    if why is None:
        # Allowed by the guard: the connection goes to the validated 127.0.0.1 (port 443,
        # nothing listening), never to a re-resolved name.
        with pytest.raises(OutboundRequestError):
            service.get(url, timeout=0.5)
        assert connects == [("127.0.0.1", 443)]
        return
    with pytest.raises(ForbiddenDestinationError, match=why) as caught:
        service.get(url)
    assert caught.value.host in url or caught.value.host == "<none>"
    assert connects == []
    if "not in the allowlist" in why:
        assert resolver.calls == []  # refused before DNS too


def test_empty_allowlist_refuses_everything(make_service: MakeService, connects: list[tuple[str, int]]) -> None:
    resolver = FakeResolver({})
    service = make_service(allowed_hosts=frozenset(), resolver=resolver)
    with pytest.raises(ForbiddenDestinationError, match="not in the allowlist"):
        service.get("/anything")
    assert resolver.calls == []
    assert connects == []


def test_resolution_failures_are_outbound_errors(make_service: MakeService) -> None:
    service = make_service(
        base_url=None, allowed_hosts={"nowhere.example", "empty.example"}, resolver=FakeResolver({"empty.example": []})
    )
    with pytest.raises(OutboundRequestError, match=r"cannot resolve 'nowhere\.example'"):
        service.get("https://nowhere.example/")
    with pytest.raises(OutboundRequestError, match="no addresses"):
        service.get("https://empty.example/")


def test_connects_to_the_validated_ip_not_a_re_resolved_name(
    server: HTTPServer, make_service: MakeService, connects: list[tuple[str, int]]
) -> None:
    """DNS rebinding: the first answer is validated and used; a later answer is never asked for."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]])
    calls: list[str] = []

    def rebinding_resolver(host: str) -> list[str]:
        calls.append(host)
        return next(answers)

    server.expect_request("/who").respond_with_data("ok")
    service = make_service(base_url=None, allowed_hosts={"rebind.example"}, resolver=rebinding_resolver)
    assert service.get(f"http://rebind.example:{server.port}/who").ok
    assert calls == ["rebind.example"]
    assert connects == [("127.0.0.1", server.port)]
    assert server.log[0][0].headers["Host"] == f"rebind.example:{server.port}"
    # The next request resolves again, gets the rebound private answer, and is refused.
    with pytest.raises(ForbiddenDestinationError, match="private"):
        service.get(f"http://rebind.example:{server.port}/who")
    assert len(connects) == 1


def test_caller_headers_override_defaults_but_never_host(server: HTTPServer, make_service: MakeService) -> None:
    server.expect_request("/h").respond_with_data("ok")
    make_service().get("/h", headers={"Host": "evil.example", "accept": "text/plain", "user-agent": "custom"})
    request = server.log[0][0]
    assert request.headers["Host"] == f"127.0.0.1:{server.port}"
    assert request.headers.getlist("Accept") == ["text/plain"]
    assert request.headers.getlist("User-Agent") == ["custom"]


# --- HTTPS: SNI and certificate verification against the hostname, connection to the IP ---


def _certificate_authority(tmp: Path) -> tuple[Path, ssl.SSLContext]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nexus Test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.nexus.test")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.nexus.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = tmp / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path = tmp / "leaf.pem"
    cert_path.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    key_path = tmp / "leaf.key"
    key_path.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return ca_path, context


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HTTPServer, Path, list[str | None]]]:
    ca_path, context = _certificate_authority(tmp_path_factory.mktemp("tls"))
    server_names: list[str | None] = []

    def record_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        server_names.append(name)

    context.sni_callback = record_sni
    httpserver = HTTPServer(host="127.0.0.1", ssl_context=context, threaded=True)
    httpserver.start()
    yield httpserver, ca_path, server_names
    httpserver.clear()
    httpserver.stop()


def test_https_uses_the_hostname_for_sni_and_verification_while_connecting_to_the_ip(
    tls_server: tuple[HTTPServer, Path, list[str | None]],
    make_service: MakeService,
    connects: list[tuple[str, int]],
) -> None:
    httpserver, ca_path, server_names = tls_server
    server_names.clear()
    httpserver.expect_request("/secure").respond_with_json({"tls": True})
    resolver = FakeResolver({"api.nexus.test": ["127.0.0.1"], "wrong.nexus.test": ["127.0.0.1"]})
    service = make_service(
        base_url=None,
        allowed_hosts={"api.nexus.test", "wrong.nexus.test"},
        resolver=resolver,
        ca_certs=str(ca_path),
    )
    result = service.get(f"https://api.nexus.test:{httpserver.port}/secure")
    assert result.data == {"tls": True}
    assert server_names == ["api.nexus.test"]
    assert connects == [("127.0.0.1", httpserver.port)]
    assert httpserver.log[0][0].headers["Host"] == f"api.nexus.test:{httpserver.port}"

    # The same IP under a name the certificate does not cover: verification fails, not retried.
    with pytest.raises(OutboundRequestError, match="SSLError") as caught:
        service.get(f"https://wrong.nexus.test:{httpserver.port}/secure")
    assert caught.value.attempts == 1
    assert len(httpserver.log) == 1
    httpserver.clear()


def test_https_without_the_ca_is_refused_by_verification(
    tls_server: tuple[HTTPServer, Path, list[str | None]], make_service: MakeService
) -> None:
    httpserver, _ca_path, _names = tls_server
    service = make_service(
        base_url=None, allowed_hosts={"api.nexus.test"}, resolver=FakeResolver({"api.nexus.test": ["127.0.0.1"]})
    )
    with pytest.raises(OutboundRequestError, match="SSLError"):
        service.get(f"https://api.nexus.test:{httpserver.port}/secure")
    assert httpserver.log == []


def test_ip_module_sanity() -> None:
    # The guard relies on these stdlib classifications (Python 3.13).
    assert ipaddress.ip_address("169.254.169.254").is_link_local
    assert ipaddress.ip_address("fd00::1").is_private


def test_ipv6_validated_address(make_service: MakeService, connects: list[tuple[str, int]]) -> None:
    try:
        v6_server = HTTPServer(host="::1")
        v6_server.start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        v6_server.expect_request("/six").respond_with_data("six")
        service = make_service(
            base_url=None, allowed_hosts={"six.test", "::1"}, resolver=FakeResolver({"six.test": ["::1"]})
        )
        assert service.get(f"http://six.test:{v6_server.port}/six").data == {"text": "six"}
        assert service.get(f"http://[::1]:{v6_server.port}/six").ok
        hosts = [request.headers["Host"] for request, _ in v6_server.log]
        assert hosts == [f"six.test:{v6_server.port}", f"[::1]:{v6_server.port}"]
        assert {host for host, _port in connects} == {"::1"}
    finally:
        v6_server.clear()
        v6_server.stop()
