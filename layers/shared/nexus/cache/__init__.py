"""CacheService and its backends."""

from nexus.cache.backend import CacheBackend, CacheBackendError, NotAnIntegerError
from nexus.cache.service import CacheService

__all__ = ["CacheBackend", "CacheBackendError", "CacheService", "NotAnIntegerError"]
