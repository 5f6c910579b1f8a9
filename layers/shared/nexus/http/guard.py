"""The SSRF guard: before any connection, whether a URL may be fetched and at which IP. Only https
(http to loopback in local mode), allowlisted hosts, and no address that is not public after
resolution; the service then connects to that IP, so a later DNS answer (a rebind) is never used.

docs/decisions.md, "HTTPService on urllib3 with an SSRF guard that connects to the validated IP".
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from nexus.http.errors import ForbiddenDestinationError, OutboundRequestError

Resolver = Callable[[str], Sequence[str]]
"""Resolves a hostname to its IP addresses (as strings), most preferred first."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


def system_resolver(host: str) -> list[str]:
    """``socket.getaddrinfo``, deduplicated, IPv4 addresses first.

    IPv4 comes first because the service connects to exactly one validated address
    and a Lambda outside a dual-stack VPC has no IPv6 egress.
    """
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    v4: list[str] = []
    v6: list[str] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0])
        bucket = v4 if family == socket.AF_INET else v6
        if address not in bucket:
            bucket.append(address)
    return v4 + v6


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _classify(address: IPAddress) -> str | None:
    """Why ``address`` is not a public destination, or None when it is."""
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address.is_private:
        return "private address"
    if address.is_reserved:
        return "reserved address"
    if not address.is_global:
        return "address is not globally routable"
    return None


def effective_address(address: IPAddress) -> IPAddress:
    """The address that decides: the embedded IPv4 address of an IPv6 form that has one.

    ``::ffff:127.0.0.1`` is loopback, and ``::ffff:8.8.8.8`` is public even though
    ``::ffff:0:0/96`` itself counts as reserved.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return embedded
    return address


def address_refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is allowed."""
    effective = effective_address(address)
    if allow_loopback and effective.is_loopback:
        return None
    reason = _classify(effective)
    if reason is not None and effective is not address:
        return f"{reason} ({effective} embedded)"
    return reason


def _normalize_host(host: str) -> str:
    host = host.strip("[]").rstrip(".").lower()
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    return host


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True)
class Destination:
    """A URL the guard accepted, with the address it was validated at."""

    scheme: str
    hostname: str
    port: int
    ip: str
    target: str
    """The request target: path and query (never a fragment)."""

    @property
    def host_header(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.hostname, self.port)


class DestinationGuard:
    """Checks URLs, each redirect's ``Location`` included, against ``allowed_hosts``: exact hostnames
    or IP literals (any case, trailing dot ignored), or ``*.example.com`` for any subdomain (not
    ``example.com`` itself); any port. An empty allowlist refuses every destination (fail closed).
    ``allow_loopback_http`` (local mode) allows loopback addresses, and plain http only to them."""

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        *,
        allow_loopback_http: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        exact: set[str] = set()
        suffixes: list[str] = []
        for entry in allowed_hosts:
            entry = entry.strip()
            if entry.startswith("*."):
                suffixes.append("." + _normalize_host(entry[2:]))
            elif entry:
                exact.add(_normalize_host(entry))
        self._exact = frozenset(exact)
        self._suffixes = tuple(suffixes)
        self.allow_loopback_http = allow_loopback_http
        self._resolver = resolver

    def is_allowed_host(self, host: str) -> bool:
        return host in self._exact or any(host.endswith(suffix) for suffix in self._suffixes)

    def _parse(self, url: str) -> tuple[SplitResult, str, int]:
        if _UNSAFE_URL_CHARS.search(url):
            raise ForbiddenDestinationError("<unparsable>", "the URL contains whitespace, control characters or '\\'")
        try:
            parts = urlsplit(url)
            raw_host = parts.hostname
            port = parts.port
        except ValueError as exc:
            raise ForbiddenDestinationError("<unparsable>", f"the URL cannot be parsed ({exc})") from exc
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ForbiddenDestinationError(raw_host or "<none>", f"scheme {scheme!r} is not allowed, only https")
        if not raw_host:
            raise ForbiddenDestinationError("<none>", "the URL has no host")
        try:
            host = _normalize_host(raw_host)
        except UnicodeError as exc:
            raise ForbiddenDestinationError(raw_host, "the host is not a valid hostname") from exc
        if "@" in parts.netloc:
            raise ForbiddenDestinationError(host, "credentials in the URL are not allowed")
        return parts, host, port if port is not None else _DEFAULT_PORTS[scheme]

    def _resolve(self, host: str) -> list[IPAddress]:
        literal = _ip_literal(host)
        if literal is not None:
            return [literal]
        try:
            answers = list(self._resolver(host))
        except OSError as exc:
            raise OutboundRequestError(f"cannot resolve {host!r}: {exc}", host=host) from exc
        if not answers:
            raise OutboundRequestError(f"cannot resolve {host!r}: no addresses", host=host)
        addresses: list[IPAddress] = []
        for answer in answers:
            address = _ip_literal(answer.split("%", 1)[0])
            if address is None:
                raise ForbiddenDestinationError(host, f"the resolver returned a non-address {answer!r}")
            addresses.append(address)
        return addresses

    def check(self, url: str) -> Destination:
        """Validate ``url`` and return where to connect; raise before any connection if refused.

        :raises ForbiddenDestinationError: the guard refuses the destination.
        :raises OutboundRequestError: the host cannot be resolved.
        """
        parts, host, port = self._parse(url)
        scheme = parts.scheme.lower()
        if not self.is_allowed_host(host):
            raise ForbiddenDestinationError(host, "the host is not in the allowlist")
        addresses = self._resolve(host)
        # One forbidden answer refuses the host: a name with public and private addresses is a
        # rebinding attempt, not something to pick through.
        for address in addresses:
            reason = address_refusal(address, allow_loopback=self.allow_loopback_http)
            if reason is not None:
                raise ForbiddenDestinationError(host, f"it resolves to {address}: {reason}")
        if scheme == "http":
            if not self.allow_loopback_http:
                raise ForbiddenDestinationError(host, "plain http is not allowed, only https")
            if not all(effective_address(address).is_loopback for address in addresses):
                raise ForbiddenDestinationError(host, "plain http is allowed only to loopback addresses in local mode")
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        return Destination(scheme=scheme, hostname=host, port=port, ip=str(addresses[0]), target=target)
