"""The contract every cache backend keeps (DynamoDB TTL items; Redis later)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar


class CacheBackendError(Exception):
    """The backend failed; CacheService degrades this to a miss."""


class NotAnIntegerError(CacheBackendError):
    """``increment`` on a key whose value is not an integer."""


class CacheBackend(ABC):
    """JSON values with a TTL in seconds; an expired key reads as missing."""

    name: ClassVar[str]
    """``"dynamodb"`` or ``"redis"``: callers decide what is worth caching by what a read costs."""

    @abstractmethod
    def get(self, key: str) -> Any | None: ...

    @abstractmethod
    def set(self, key: str, value: Any, ttl: int) -> None: ...

    @abstractmethod
    def set_if_newer(self, key: str, value: Any, version: int, ttl: int) -> bool:
        """Store unless a live value of an equal or higher ``version`` is there."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """True when a live value was deleted."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def increment(self, key: str, amount: int, ttl: int) -> int:
        """Atomically add ``amount``; a missing or expired key starts at 0 with ``ttl``."""

    @abstractmethod
    def ping(self) -> None:
        """Raise when the backend cannot be reached."""
