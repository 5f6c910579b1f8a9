"""The SSRF guard on its own: address classification, URL parsing, allowlist, resolution.

No test here opens a connection; resolvers are fakes (``system_resolver`` is tested with
a patched ``socket.getaddrinfo``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from nexus.http import Destination, DestinationGuard, ForbiddenDestinationError, address_refusal, system_resolver
from nexus.http.errors import OutboundRequestError


def resolver_of(table: Mapping[str, Sequence[str]]) -> Any:
    def resolve(host: str) -> Sequence[str]:
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not to bind
        ("::", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("198.18.0.1", "private"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("100.64.0.1", "not globally routable"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:0a00:0001::1", "private"),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2001:db8::1", "private"),  # documentation
        ("4000::1", "reserved"),
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_address_refusal(address: str, reason: str | None) -> None:
    verdict = address_refusal(ipaddress.ip_address(address))
    if reason is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert reason in verdict


def test_loopback_is_allowed_only_in_local_mode() -> None:
    for literal in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        address = ipaddress.ip_address(literal)
        assert address_refusal(address) is not None
        assert address_refusal(address, allow_loopback=True) is None
    # local mode does not open anything else
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), allow_loopback=True) is not None
    assert address_refusal(ipaddress.ip_address("169.254.169.254"), allow_loopback=True) is not None


def public_guard(**kwargs: Any) -> DestinationGuard:
    table = {"api.example.com": ["93.184.216.34"], "a.b.example.org": ["8.8.4.4"], "xn--caf-dma.example": ["1.1.1.1"]}
    options: dict[str, Any] = {"resolver": resolver_of(table)}
    options.update(kwargs)
    return DestinationGuard(
        {"api.example.com", "*.example.org", " ", "xn--caf-dma.example", "8.8.8.8", "2606:4700:4700::1111"}, **options
    )


def test_accepted_destination() -> None:
    destination = public_guard().check("https://API.Example.com./v1/items?q=1#frag")
    assert destination == Destination(
        scheme="https", hostname="api.example.com", port=443, ip="93.184.216.34", target="/v1/items?q=1"
    )
    assert destination.host_header == "api.example.com"
    assert destination.origin == ("https", "api.example.com", 443)


def test_ports_ip_literals_wildcards_and_idna() -> None:
    guard = public_guard()
    assert guard.check("https://api.example.com:8443").host_header == "api.example.com:8443"
    assert guard.check("https://api.example.com:8443").target == "/"
    assert guard.check("https://8.8.8.8/").ip == "8.8.8.8"
    v6 = guard.check("https://[2606:4700:4700::1111]:444/x")
    assert (v6.ip, v6.host_header) == ("2606:4700:4700::1111", "[2606:4700:4700::1111]:444")
    assert guard.check("https://a.b.example.org/").ip == "8.8.4.4"
    assert guard.check("https://café.example/").hostname == "xn--caf-dma.example"
    with pytest.raises(ForbiddenDestinationError, match="allowlist"):
        guard.check("https://example.org/")  # the wildcard covers subdomains only


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("gopher://api.example.com/", "scheme 'gopher'"),
        ("//api.example.com/", "scheme ''"),
        ("https:///path", "no host"),
        ("https://user@api.example.com/", "credentials"),
        ("https://api.example.com\\@evil.example/", "whitespace, control characters"),
        ("https://api.example.com /", "whitespace"),
        ("https://api.example.com:99999/", "cannot be parsed"),
        ("https://[::1/", "cannot be parsed"),
        ("https://evil.example/", "not in the allowlist"),
        ("https://api.example.com.evil.example/", "not in the allowlist"),
        ("http://api.example.com/", "plain http is not allowed"),
        ("https://" + "a" * 64 + "é.example/", "not a valid hostname"),
    ],
)
def test_refused_urls(url: str, why: str) -> None:
    with pytest.raises(ForbiddenDestinationError, match=why):
        public_guard().check(url)


def test_resolver_answers_are_validated() -> None:
    guard = DestinationGuard(
        {"weird.example", "down.example"},
        resolver=resolver_of({"weird.example": ["not-an-ip"], "down.example": []}),
    )
    with pytest.raises(ForbiddenDestinationError, match="non-address"):
        guard.check("https://weird.example/")
    with pytest.raises(OutboundRequestError, match="no addresses"):
        guard.check("https://down.example/")


def test_scoped_ipv6_answers_are_judged_without_the_scope() -> None:
    guard = DestinationGuard({"scoped.example"}, resolver=resolver_of({"scoped.example": ["fe80::1%eth0"]}))
    with pytest.raises(ForbiddenDestinationError, match="link-local"):
        guard.check("https://scoped.example/")


def test_http_in_local_mode_needs_every_address_loopback() -> None:
    guard = DestinationGuard(
        {"localhost", "both.example"},
        allow_loopback_http=True,
        resolver=resolver_of({"localhost": ["127.0.0.1", "::1"], "both.example": ["127.0.0.1", "8.8.8.8"]}),
    )
    assert guard.check("http://localhost:8080/").ip == "127.0.0.1"
    with pytest.raises(ForbiddenDestinationError, match="only to loopback"):
        guard.check("http://both.example/")
    assert guard.check("https://both.example/").ip == "127.0.0.1"


def test_system_resolver_orders_ipv4_first_and_deduplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:4700::1", 0, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 0)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:4700::1", 0, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.35", 0)),
    ]
    seen: list[tuple[Any, ...]] = []

    def fake_getaddrinfo(*args: Any, **kwargs: Any) -> list[Any]:
        seen.append(args)
        return answers

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert system_resolver("example.com") == ["93.184.216.34", "93.184.216.35", "2606:4700::1"]
    assert seen == [("example.com", None)]


def test_system_resolver_resolves_localhost() -> None:
    addresses = system_resolver("localhost")
    assert addresses
    assert all(ipaddress.ip_address(address).is_loopback for address in addresses)
