"""Secrets Manager secrets read at run time, cached per execution environment: no value sits in a
function's environment (where whoever may read its configuration would see it); the function gets
the ARN and reads the value at first need, again after ``max_age_seconds``.

docs/decisions.md, "The cursor signing key read at run time, through nexus.aws".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from nexus import aws
from nexus.observability import logger

DEFAULT_MAX_AGE_SECONDS = 300.0
# After a failed refresh, the value read before is served this long before trying again.
RETRY_AFTER_FAILURE_SECONDS = 30.0


class CachedSecret:
    """The ``SecretString`` of one secret; thread-safe; its value is never logged or shown."""

    def __init__(
        self,
        secret_id: str,
        *,
        client: Callable[[], Any] = lambda: aws.client("secretsmanager"),
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_id = secret_id
        self._client = client
        self._max_age = max_age_seconds
        self._clock = clock
        self._value: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            now = self._clock()
            if self._value is not None and now < self._expires:
                return self._value
            try:
                value = str(self._client().get_secret_value(SecretId=self.secret_id)["SecretString"])
            except Exception as exc:
                if self._value is None:
                    raise
                # Keep serving the value read before rather than failing every request.
                logger.warning("secret refresh failed", secret_id=self.secret_id, error=type(exc).__name__)
                self._expires = now + RETRY_AFTER_FAILURE_SECONDS
                return self._value
            self._value, self._expires = value, now + self._max_age
            return value

    def __repr__(self) -> str:
        return f"CachedSecret({self.secret_id!r})"
