"""Typed settings read from the environment once, at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic import ValidationError as PydanticValidationError

from nexus.errors import ConfigurationError
from nexus.users.schemas import EMAIL_PATTERN


class Settings(BaseModel):
    """Every field is read from the upper-cased environment variable of its name."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    users_table_name: str = Field(min_length=3, max_length=255)
    cache_table_name: str = Field(min_length=3, max_length=255)
    # Signs list cursors (HMAC-SHA256); from Secrets Manager via the template.
    cursor_signing_key: SecretStr = Field(min_length=32)
    cache_default_ttl_seconds: int = Field(default=3600, ge=1, le=30 * 24 * 3600)
    user_cache_ttl_seconds: int = Field(default=300, ge=1, le=24 * 3600)
    list_cache_ttl_seconds: int = Field(default=60, ge=1, le=3600)
    # Shards of the newest-first listing index (see README: hot partitions).
    user_list_shards: int = Field(default=1, ge=1, le=16)
    idempotency_table_name: str = Field(min_length=3, max_length=255)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)
    email_sender_address: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    email_sender_name: str = Field(default="Nexus", min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    # Empty: no configuration set.
    email_configuration_set: str = Field(default="", max_length=64)
    welcome_email_queue_url: str = Field(pattern=r"^https?://")
    analytics_stream_name: str = Field(min_length=1, max_length=128)
    analytics_table_name: str = Field(min_length=3, max_length=255)
    analytics_dead_letter_queue_url: str = Field(pattern=r"^https?://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        try:
            return cls.model_validate(values)
        except PydanticValidationError as exc:
            problems = []
            for error in exc.errors():
                variable = str(error["loc"][0]).upper() if error["loc"] else "?"
                problems.append(f"{variable}: {error['msg']}")
            raise ConfigurationError("invalid environment: " + "; ".join(problems)) from None
