"""HTTPService: the seed's outbound HTTP operations on urllib3, pooled and retried, safe with URLs
from users or configuration: the SSRF guard checks every URL and redirect, the connection goes
to the IP it validated, and an optional deadline bounds the whole request.

docs/decisions.md, "HTTPService on urllib3 with an SSRF guard that connects to the validated IP"
and "Webhook delivery within a time budget".
"""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self, TypedDict, Unpack
from urllib.parse import urlencode, urljoin, urlsplit

from urllib3 import BaseHTTPResponse, HTTPHeaderDict, PoolManager, Timeout
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import HTTPError, MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from nexus.http.errors import DeadlineExceededError, ForbiddenDestinationError, OutboundRequestError
from nexus.http.guard import Destination, DestinationGuard, Resolver, system_resolver
from nexus.observability import logger
from nexus.services import Service, inject
from nexus.settings import HTTPSettings, WebhookSettings

Params = Mapping[str, str | int | float | bool | Sequence[str | int | float | bool]]
FormData = Mapping[str, str | int | float | bool | Sequence[str | int | float | bool]]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that must not follow a redirect to another origin (as urllib3 and browsers do).
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})
# Less time than this left before a deadline: no attempt is started (it could not finish).
MIN_ATTEMPT_SECONDS = 0.1


@dataclass(frozen=True)
class HTTPResult:
    """A response. ``data`` is the parsed JSON value when the content type is JSON,
    otherwise ``{"text": <decoded body>}`` as in the seed."""

    status_code: int
    headers: Mapping[str, str]
    """Case-insensitive; a header sent more than once reads as the values joined by ", "."""
    data: Any
    url: str = ""
    """The URL finally answered (after redirects)."""
    attempts: int = 1
    """Requests sent for the final hop (1 + retries)."""
    redirects: int = field(default=0)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def to_dict(self) -> dict[str, Any]:
        """The seed's shape: ``{"status_code", "headers", "data"}``."""
        return {"status_code": self.status_code, "headers": dict(self.headers), "data": self.data}


class _CountingRetry(Retry):
    """urllib3's ``Retry`` that also counts the retries it grants into a shared cell,
    so the number of attempts is known even when the request finally fails."""

    # urllib3 would also retry 413 when it carries Retry-After; only 429 and 503 here.
    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(
        self, *args: Any, granted: list[int] | None = None, deadline: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.granted = granted if granted is not None else [0]
        self.deadline = deadline

    def new(self, **kw: Any) -> Self:
        clone = super().new(**kw)
        clone.granted = self.granted
        clone.deadline = self.deadline
        return clone

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: Any = None,
    ) -> Self:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # MaxRetryError when exhausted
        if self.deadline is not None and time.monotonic() + retry._wait_before(response) > self.deadline:
            # No time for another attempt: exhausted, as urllib3 itself would end it
            # (a retryable status is then returned, an error raised).
            reason = error or ResponseError("no time left before the deadline")
            raise MaxRetryError(_pool, url, reason) from error  # type: ignore[arg-type]  # as urllib3 does
        self.granted[0] += 1
        return retry

    def _wait_before(self, response: BaseHTTPResponse | None) -> float:
        """An upper bound of the sleep before the next attempt, plus that attempt's minimum."""
        retry_after = (
            self.get_retry_after(response) if response is not None and self.respect_retry_after_header else None
        )
        wait = retry_after if retry_after else self.get_backoff_time() + self.backoff_jitter
        return wait + MIN_ATTEMPT_SECONDS


class _DeadlineTimeout(Timeout):
    """Per-attempt timeouts cut to the time left before a deadline.

    urllib3 clones the timeout for every attempt (retries included), so each clone is
    computed when its attempt starts; ``total`` bounds connect and read together.
    """

    def __init__(self, seconds: float, deadline: float) -> None:
        super().__init__(connect=seconds, read=seconds)
        self._seconds = seconds
        self._deadline = deadline

    def clone(self) -> Timeout:
        left = max(self._deadline - time.monotonic(), 0.001)
        seconds = min(self._seconds, left)
        return Timeout(connect=seconds, read=seconds, total=left)


def _decode(raw: bytes, content_type: str) -> Any:
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    charset = "utf-8"
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        text = raw.decode(charset, errors="replace")
    except LookupError:
        text = raw.decode("utf-8", errors="replace")
    if media_type == "application/json" or media_type.endswith("+json"):
        if not text.strip():
            return None
        try:
            return jsonlib.loads(text)
        except ValueError:
            logger.warning("outbound response declared JSON but is not", content_type=media_type)
    return {"text": text}


class RequestOptions(TypedDict, total=False):
    """The keyword arguments of ``request`` after method and URL."""

    params: Params | None
    json: Any
    data: FormData | str | bytes | None
    headers: Mapping[str, str] | None
    timeout: float | None
    deadline: float | None


class HTTPService(Service):
    """Outbound HTTP for the layer (the seed's ``HTTPService``), safe to call with URLs
    that came from users or configuration.

    :param settings: ``http_timeout_seconds``, the default connect timeout and read timeout,
        each per attempt; ``http_retries``, the retries after the first attempt (so
        ``retries + 1`` attempts at most); ``local_mode``, local runs only: allow loopback
        addresses, and plain http to them.
    :param webhooks: the only outbound requests are the webhooks: their subscribers' hosts
        are the allowlist. Without a subscriber every destination is refused.
    :param base_url: joined with relative URLs (``base_url.rstrip("/") + "/" + url``).
    :param backoff_factor: urllib3 backoff: ``backoff_factor * 2 ** (n - 1)`` seconds
        before retry *n* ≥ 2 (the first retry is immediate), plus jitter.
    :param backoff_jitter: up to this many random seconds added to each backoff.
    :param backoff_max: cap on one backoff sleep.
    :param retry_after_max: cap on one ``Retry-After`` sleep, in seconds.
    :param max_response_bytes: larger (decoded) bodies raise :class:`OutboundRequestError`.
    :param ca_certs: a CA bundle to verify servers with instead of the system's.
    :param resolver: hostname -> IP strings; defaults to ``socket.getaddrinfo``.
    """

    MAX_REDIRECTS = 5

    def __init__(
        self,
        settings: HTTPSettings = inject(),
        webhooks: WebhookSettings = inject(),
        *,
        base_url: str | None = None,
        backoff_factor: float = 0.2,
        backoff_jitter: float = 0.2,
        backoff_max: float = 2.0,
        retry_after_max: int = 5,
        user_agent: str = "Nexus/1.0",
        max_response_bytes: int = 10 * 1024 * 1024,
        ca_certs: str | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        super().__init__()
        if settings.http_retries < 0:
            raise ValueError("retries must be >= 0")
        if settings.http_timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0")
        self.base_url = base_url
        self.allowed_hosts = webhooks.webhook_hosts
        self.timeout_seconds = settings.http_timeout_seconds
        self.retries = settings.http_retries
        self.backoff_factor = backoff_factor
        self.backoff_jitter = backoff_jitter
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.user_agent = user_agent
        self.max_response_bytes = max_response_bytes
        self.ca_certs = ca_certs
        self.guard = DestinationGuard(
            self.allowed_hosts,
            allow_loopback_http=settings.local_mode,
            resolver=resolver or system_resolver,
        )
        self._pools: PoolManager | None = None

    # Lifecycle -----------------------------------------------------------------

    def _setup(self) -> None:
        # One PoolManager per service, built at cold start and reused warm. Pools are
        # keyed by validated IP + port + scheme + TLS server name.
        self._pools = PoolManager(num_pools=16, maxsize=4, block=False, ca_certs=self.ca_certs)

    def _teardown(self) -> None:
        assert self._pools is not None  # the base class calls this only after _setup()
        self._pools.clear()
        self._pools = None

    # The seed's operations -----------------------------------------------------

    def get(self, url: str, **options: Unpack[RequestOptions]) -> HTTPResult:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Unpack[RequestOptions]) -> HTTPResult:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Unpack[RequestOptions]) -> HTTPResult:
        return self.request("PUT", url, **options)

    def delete(self, url: str, **options: Unpack[RequestOptions]) -> HTTPResult:
        return self.request("DELETE", url, **options)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: FormData | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> HTTPResult:
        """Send one request, following up to ``MAX_REDIRECTS`` redirects, each checked by the guard.

        :param timeout: connect and read timeout per attempt (default ``timeout_seconds``).
        :param deadline: a ``time.monotonic()`` instant the whole request must end by.
        :raises ForbiddenDestinationError: the SSRF guard refused the URL or a redirect.
        :raises DeadlineExceededError: too little time was left to send (a hop of) it.
        :raises OutboundRequestError: resolution, connection, TLS, timeout, too many
            redirects, or an oversized response.
        """
        method = method.upper()
        if method not in RETRY_METHODS:
            raise ValueError(f"unsupported method {method!r}")
        body, content_type = self._encode_body(json, data)
        send_headers: dict[str, str] = {"User-Agent": self.user_agent, "Accept": "application/json, */*;q=0.8"}
        if content_type is not None:
            send_headers["Content-Type"] = content_type
        for name, value in (headers or {}).items():
            if name.lower() == "host":
                continue  # always the destination's own name (_send sets it)
            for existing in [key for key in send_headers if key.lower() == name.lower()]:
                del send_headers[existing]
            send_headers[name] = value
        seconds = timeout if timeout is not None else self.timeout_seconds
        per_attempt = (
            Timeout(connect=seconds, read=seconds) if deadline is None else _DeadlineTimeout(seconds, deadline)
        )

        current_url = self.build_url(url, params)
        started = time.monotonic()
        first_origin: tuple[str, str, int] | None = None
        for hop in range(self.MAX_REDIRECTS + 1):
            try:
                destination = self.guard.check(current_url)
            except ForbiddenDestinationError as exc:
                logger.warning(
                    "outbound request refused", method=method, host=exc.host, reason=exc.reason, redirects=hop
                )
                raise
            if deadline is not None and deadline - time.monotonic() < MIN_ATTEMPT_SECONDS:
                logger.warning("outbound request not sent: deadline", method=method, host=destination.hostname)
                raise DeadlineExceededError(
                    f"{method} {destination.hostname}: no time left before the deadline", host=destination.hostname
                )
            if first_origin is None:
                first_origin = destination.origin
            elif destination.origin != first_origin:
                if body is not None:
                    # A 307/308 resends the body: a signed or private body never goes to another origin.
                    logger.warning("outbound redirect refused: the body would go to another origin", method=method)
                    raise OutboundRequestError(
                        f"{method} redirected to another origin with its body ({destination.hostname})",
                        host=destination.hostname,
                    )
                for name in [key for key in send_headers if key.lower() in _CREDENTIAL_HEADERS]:
                    del send_headers[name]
            status, response_headers, raw, attempts = self._send(
                destination, method, body, send_headers, per_attempt, started, deadline
            )
            location = response_headers.get("location") if status in REDIRECT_STATUSES else None
            if not location:
                duration_ms = round((time.monotonic() - started) * 1000, 1)
                logger.info(
                    "outbound request",
                    method=method,
                    host=destination.hostname,
                    status=status,
                    attempts=attempts,
                    redirects=hop,
                    duration_ms=duration_ms,
                )
                return HTTPResult(
                    status_code=status,
                    headers=response_headers,
                    data=_decode(raw, response_headers.get("content-type", "")),
                    url=current_url,
                    attempts=attempts,
                    redirects=hop,
                )
            logger.info("outbound redirect", method=method, host=destination.hostname, status=status)
            if status == 303 or (status in (301, 302) and method == "POST"):
                # RFC 9110 15.4.4 (303) and the universal practice for 301/302 after POST.
                method, body = "GET", None
                for name in [key for key in send_headers if key.lower() in _BODY_HEADERS]:
                    del send_headers[name]
            current_url = urljoin(current_url, location)
        host = urlsplit(current_url).hostname or "<unknown>"
        raise OutboundRequestError(f"too many redirects (more than {self.MAX_REDIRECTS})", host=host)

    # Helpers --------------------------------------------------------------------

    def build_url(self, url: str, params: Params | None = None) -> str:
        """Join ``url`` with ``base_url`` unless it is absolute, then append ``params``."""
        if not urlsplit(url).scheme:
            if not self.base_url:
                raise ValueError(f"relative URL {url!r} needs a base_url")
            url = self.base_url.rstrip("/") + "/" + url.lstrip("/") if url else self.base_url
        url = url.split("#", 1)[0]
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        return url

    @staticmethod
    def _encode_body(json: Any, data: FormData | str | bytes | None) -> tuple[bytes | None, str | None]:
        if json is not None and data is not None:
            raise ValueError("pass json or data, not both")
        if json is not None:
            return jsonlib.dumps(json, separators=(",", ":")).encode("utf-8"), "application/json"
        if isinstance(data, bytes):
            return data, None
        if isinstance(data, str):
            return data.encode("utf-8"), "text/plain; charset=utf-8"
        if data is not None:
            return urlencode(data, doseq=True).encode("ascii"), "application/x-www-form-urlencoded"
        return None, None

    def _retry(self, deadline: float | None = None) -> _CountingRetry:
        return _CountingRetry(
            deadline=deadline,
            total=self.retries,
            connect=self.retries,
            status=self.retries,
            read=0,  # a read timeout or a cut-off answer: the request may have been processed
            other=0,
            redirect=False,  # request() follows redirects itself, through the guard
            allowed_methods=RETRY_METHODS,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_jitter=self.backoff_jitter,
            backoff_max=self.backoff_max,
            respect_retry_after_header=True,
            retry_after_max=self.retry_after_max,
            raise_on_status=False,
        )

    def _send(
        self,
        destination: Destination,
        method: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: Timeout,
        started: float,
        deadline: float | None = None,
    ) -> tuple[int, HTTPHeaderDict, bytes, int]:
        """One hop, retried by urllib3, on a connection to the validated IP."""
        assert self._pools is not None
        # A pool for the validated IP: urllib3 never resolves the name, so a DNS answer that changes
        # after the check (rebinding) is never used. The name stays the TLS server name (SNI and the
        # certificate check) and the Host header, which urllib3 would otherwise set to the IP.
        pool_kwargs: dict[str, Any] = {}
        if destination.scheme == "https":
            pool_kwargs["server_hostname"] = destination.hostname
        pool = self._pools.connection_from_host(
            destination.ip, port=destination.port, scheme=destination.scheme, pool_kwargs=pool_kwargs
        )
        retry = self._retry(deadline)
        response: BaseHTTPResponse | None = None
        try:
            response = pool.urlopen(
                method,
                destination.target,
                body=body,
                headers={**headers, "Host": destination.host_header},
                retries=retry,
                redirect=False,
                assert_same_host=False,
                timeout=timeout,
                preload_content=False,
                release_conn=False,
            )
            raw = response.read(amt=self.max_response_bytes + 1, decode_content=True)
            if len(raw) > self.max_response_bytes:
                response.close()  # unread data: the connection must not go back to the pool
                raise OutboundRequestError(
                    f"{method} {destination.hostname}: response larger than {self.max_response_bytes} bytes",
                    host=destination.hostname,
                    attempts=retry.granted[0] + 1,
                )
            return response.status, HTTPHeaderDict(response.headers), raw, retry.granted[0] + 1
        except (HTTPError, OSError) as exc:
            attempts = retry.granted[0] + 1
            reason = getattr(exc, "reason", None) or exc
            logger.warning(
                "outbound request failed",
                method=method,
                host=destination.hostname,
                attempts=attempts,
                error=type(reason).__name__,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
            raise OutboundRequestError(
                f"{method} {destination.hostname} failed after {attempts} attempt(s): {type(reason).__name__}",
                host=destination.hostname,
                attempts=attempts,
            ) from exc
        finally:
            if response is not None:
                response.release_conn()
