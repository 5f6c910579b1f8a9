"""CachedSecret: read on first use, once per max age, a failed refresh served from the last value."""

from __future__ import annotations

from typing import Any

import pytest

from nexus import container
from nexus.errors import ConfigurationError
from nexus.secrets import CachedSecret
from nexus.services import registry
from nexus.users.cursor import CursorCodec
from nexus.users.schemas import UserFilters

SECRET = "s" * 64


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeSecretsManager:
    def __init__(self, values: list[str | Exception]) -> None:
        self.values = values
        self.calls: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls.append(SecretId)
        value = self.values[min(len(self.calls), len(self.values)) - 1]
        if isinstance(value, Exception):
            raise value
        return {"SecretString": value}


def test_read_on_first_use_then_cached_for_its_max_age() -> None:
    client, clock = FakeSecretsManager([SECRET, "rotated" * 6]), Clock()
    secret = CachedSecret("arn:secret", client=lambda: client, max_age_seconds=300, clock=clock)
    assert client.calls == []  # nothing at construction (the cold start)

    assert [secret.get() for _ in range(3)] == [SECRET] * 3
    clock.now += 299
    assert secret.get() == SECRET
    assert client.calls == ["arn:secret"]

    clock.now += 1
    assert secret.get() == "rotated" * 6
    assert len(client.calls) == 2


def test_a_failed_first_read_raises_and_a_failed_refresh_serves_the_last_value() -> None:
    client, clock = FakeSecretsManager([RuntimeError("throttled")]), Clock()
    secret = CachedSecret("arn:secret", client=lambda: client, clock=clock)
    with pytest.raises(RuntimeError):
        secret.get()

    client.values = [SECRET, RuntimeError("throttled")]
    client.calls = []
    assert secret.get() == SECRET
    clock.now += 300
    assert secret.get() == SECRET  # refresh failed: the value read before
    assert secret.get() == SECRET  # and no new call for a while
    assert len(client.calls) == 2


def test_neither_the_secret_nor_the_codec_shows_the_value() -> None:
    client = FakeSecretsManager([SECRET])
    secret = CachedSecret("arn:secret", client=lambda: client)
    codec = CursorCodec(key=lambda: secret.get().encode())
    codec.encode("01JD0000000000000000000000", UserFilters())

    assert SECRET not in repr(secret)
    assert SECRET not in repr(codec)


def test_the_codec_reads_a_lazy_key_only_when_it_signs() -> None:
    reads: list[int] = []

    def key() -> bytes:
        reads.append(1)
        return b"k" * 32

    codec = CursorCodec(key=key)
    assert reads == []
    cursor = codec.encode("01JD0000000000000000000000", UserFilters())
    assert codec.decode(cursor, UserFilters()) == "01JD0000000000000000000000"
    assert CursorCodec(key=b"k" * 32).decode(cursor, UserFilters()) == "01JD0000000000000000000000"


def test_the_list_function_fails_its_cold_start_without_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_settings import VALID

    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CURSOR_SIGNING_SECRET_ARN")
    container.register_all()

    assert container.CURSORS.path in registry.resolution_order([container.USER_LISTING])
    with pytest.raises(ConfigurationError, match="CURSOR_SIGNING_SECRET_ARN: Field required"):
        registry.start(container.CURSORS)


def test_a_short_signing_secret_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_settings import VALID

    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    container.register_all()
    registry.start(container.CURSORS)
    codec = registry.get(CursorCodec)
    monkeypatch.setattr("nexus.secrets.CachedSecret.get", lambda self: "short")

    with pytest.raises(ConfigurationError, match="shorter than 32"):
        codec.encode("01JD0000000000000000000000", UserFilters())
