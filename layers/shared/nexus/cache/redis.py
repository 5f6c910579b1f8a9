"""A cache backend on Redis (or Valkey / ElastiCache) with the DynamoDB backend's contract: one
string per cache key with the TTL as the key's own expiry, read-modify-writes in Lua scripts, and
every Redis error a ``CacheBackendError`` (which CacheService reads as a miss).

docs/decisions.md, "Redis backend with Lua scripts" and "Redis mode: password auth through a
generated secret, and usage limits".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.credentials import CredentialProvider
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

from nexus.cache.backend import CacheBackend, CacheBackendError, NotAnIntegerError

# set_if_newer's values are '@<version>:<JSON text>' (no JSON text starts with '@'): the version
# lives and expires with the value in one key.
_VERSIONED = "@"

# INCRBY, and the TTL on a key it has just created, in one atomic step: a counter never
# lives without an expiry, and a live counter keeps its first TTL.
_INCREMENT = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return value
"""

# Store '@<version>:<json>' unless a live value of an equal or higher version is there.
_SET_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local version = string.match(current, '^@(%-?%d+):')
  if version and tonumber(version) >= tonumber(ARGV[1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], '@' .. ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _decode(raw: bytes | str) -> Any:
    text = raw.decode() if isinstance(raw, bytes) else raw
    if text.startswith(_VERSIONED):
        text = text.partition(":")[2]
    return json.loads(text)


@contextmanager
def _redis_errors() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise CacheBackendError(f"redis: {type(exc).__name__}: {exc}") from exc


class _PasswordCredentials(CredentialProvider):
    """A username and the current password, asked for on every new connection."""

    def __init__(self, username: str, password: Callable[[], str]) -> None:
        self._username = username
        self._password = password

    def get_credentials(self) -> tuple[str, str]:
        try:
            password = self._password()
        except Exception as exc:
            # Not a ConnectionError: no reconnect retry would make the secret readable.
            raise RedisError(f"the cache password cannot be read: {type(exc).__name__}") from exc
        return self._username, password

    def __repr__(self) -> str:
        return f"_PasswordCredentials({self._username!r}, <password>)"


class RedisCacheBackend(CacheBackend):
    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        username: str = "",
        password: Callable[[], str] | None = None,
        client: redis.Redis | None = None,
        socket_timeout: float = 0.5,
    ) -> None:
        """``url``: ``redis://host:port/db``, or ``rediss://`` for TLS; ``username`` and
        ``password`` authenticate each connection. ``password`` is a function, asked on every new
        connection (a rotated secret is used from the next one); the client connects at first use."""
        if client is None:
            credentials = _PasswordCredentials(username, password) if password is not None else None
            client = redis.Redis.from_url(
                url,
                credential_provider=credentials,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                # A cache must fail fast: one quick retry on a broken connection (a warm
                # environment's socket the server closed while it was frozen), and none
                # on a timeout, where INCRBY may already have run.
                retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1, (RedisConnectionError,)),
                health_check_interval=30,
            )
        self.client = client
        self._increment = client.register_script(_INCREMENT)
        self._set_if_newer = client.register_script(_SET_IF_NEWER)

    def get(self, key: str) -> Any | None:
        with _redis_errors():
            raw: bytes | str | None = self.client.get(key)
        if raw is None:
            return None
        try:
            return _decode(raw)
        except ValueError as exc:  # not written by this backend
            raise CacheBackendError(f"cache value of {key!r} is not JSON") from exc

    def set(self, key: str, value: Any, ttl: int) -> None:
        with _redis_errors():
            self.client.set(key, _dumps(value), ex=ttl)

    def set_if_newer(self, key: str, value: Any, version: int, ttl: int) -> bool:
        with _redis_errors():
            stored = self._set_if_newer(keys=[key], args=[int(version), _dumps(value), ttl])
        return bool(stored)

    def delete(self, key: str) -> bool:
        with _redis_errors():
            deleted: int = self.client.delete(key)
        return deleted > 0

    def exists(self, key: str) -> bool:
        with _redis_errors():
            found: int = self.client.exists(key)
        return found > 0

    def increment(self, key: str, amount: int, ttl: int) -> int:
        # An integer's JSON text is a Redis integer; any other value (true, 3.5, "42") fails INCRBY.
        try:
            with _redis_errors():
                value = self._increment(keys=[key], args=[int(amount), ttl])
        except CacheBackendError as exc:
            if isinstance(exc.__cause__, ResponseError) and "not an integer" in str(exc.__cause__):
                raise NotAnIntegerError(f"cache value of {key!r} is not an integer") from exc.__cause__
            raise
        return int(value)

    def ping(self) -> None:
        with _redis_errors():
            self.client.ping()
