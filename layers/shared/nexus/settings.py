"""Typed settings by concern, read from the environment once, at cold start.

Each section is the settings of one concern (the users table, the cache, the idempotency
table, ...): the service that needs it takes it by ``inject()``, and the registry builds a
section only for a function whose services need it. So a function's environment in
template.yaml carries only the variables of the sections its services read
(tests/integration/test_function_environments.py checks both ways), and a missing or
malformed variable fails the cold start naming it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator
from pydantic import ValidationError as PydanticValidationError

from nexus.errors import ConfigurationError
from nexus.text_rules import EMAIL_PATTERN

# A Secrets Manager ARN or secret name; empty where a function needs none.
SECRET_ID_PATTERN = r"^((arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]+)?$"  # noqa: S105 - a pattern
type TableName = Annotated[str, Field(min_length=3, max_length=255)]


class EnvSection(BaseModel):
    """One concern's settings: every field is read from the upper-cased environment variable of its name."""

    # defer_build: a section's validator is built when a function first reads it, so a cold
    # start builds those of its own sections, not all eleven.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    @classmethod
    def variables(cls) -> frozenset[str]:
        """The environment variables this section reads."""
        return frozenset(name.upper() for name in cls.model_fields)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
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


class UsersSettings(EnvSection):
    """``UserService``: the users table."""

    users_table_name: TableName
    # Shards of the newest-first listing index (see README: hot partitions).
    user_list_shards: int = Field(default=1, ge=1, le=16)


class CacheSettings(EnvSection):
    """``CacheService`` and its backend."""

    # "dynamodb" (TTL items in CACHE_TABLE_NAME) or "redis" (ElastiCache at CACHE_REDIS_URL).
    # Declared first: the Redis fields' checks read it.
    cache_backend: Literal["dynamodb", "redis"] = "dynamodb"
    cache_table_name: TableName
    cache_redis_url: SecretStr = Field(default=SecretStr(""), validate_default=True)
    # Redis mode: the ElastiCache user, and the secret (ARN or name) holding its password.
    cache_redis_username: str = Field(default="", max_length=128, pattern=r"^[A-Za-z0-9_-]*$", validate_default=True)
    cache_redis_password_secret_arn: str = Field(
        default="", max_length=2048, pattern=SECRET_ID_PATTERN, validate_default=True
    )
    cache_default_ttl_seconds: int = Field(default=3600, ge=1, le=30 * 24 * 3600)
    user_cache_ttl_seconds: int = Field(default=300, ge=1, le=24 * 3600)
    list_cache_ttl_seconds: int = Field(default=60, ge=1, le=3600)

    @field_validator("cache_redis_url", mode="after")
    @classmethod
    def _redis_url_when_redis(cls, url: SecretStr, info: ValidationInfo) -> SecretStr:
        value = url.get_secret_value()
        if value and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be a redis:// or rediss:// URL")
        if info.data.get("cache_backend") == "redis" and not value:
            raise ValueError("required when CACHE_BACKEND=redis")
        return url

    @field_validator("cache_redis_username", "cache_redis_password_secret_arn", mode="after")
    @classmethod
    def _redis_auth_when_redis(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("cache_backend") == "redis" and not value:
            raise ValueError("required when CACHE_BACKEND=redis")
        return value


class CursorSettings(EnvSection):
    """``CursorCodec`` (the list function only): the secret whose value signs list cursors.

    The settings carry the secret's ARN (or name), never the key: it is read at run time
    (nexus.secrets).
    """

    cursor_signing_secret_arn: str = Field(min_length=1, max_length=2048, pattern=SECRET_ID_PATTERN)


class IdempotencySettings(EnvSection):
    """Powertools' idempotency records of sign-ups with an ``Idempotency-Key``."""

    idempotency_table_name: TableName
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)


class EmailSettings(EnvSection):
    """``EmailService``: the sender."""

    email_sender_address: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    email_sender_name: str = Field(default="Nexus", min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    # Empty: no configuration set.
    email_configuration_set: str = Field(default="", max_length=64)


class WelcomeQueueSettings(EnvSection):
    """``WelcomeEmails``: where a welcome email that failed waits for its retry."""

    welcome_email_queue_url: str = Field(pattern=r"^https?://")


class HTTPSettings(EnvSection):
    """``HTTPService``: outbound requests."""

    # Set only by the local runner and tests: lets HTTPService call http://127.0.0.1.
    local_mode: bool = False
    http_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    http_retries: int = Field(default=2, ge=0, le=5)


class WebhookSettings(EnvSection):
    """``WebhookPublishing``: the subscribers and the signing secret's parameter."""

    # Declared first: the URLs' check reads it (http:// to a local receiver).
    local_mode: bool = False
    # Subscribers of the user webhooks (comma-separated https URLs; empty: none).
    webhook_urls: tuple[str, ...] = ()
    webhook_secret_parameter: str = Field(default="/nexus/webhook-secret", pattern=r"^/[A-Za-z0-9_.\-/]+$")

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(url.strip() for url in value.split(",") if url.strip())
        return value

    @field_validator("webhook_urls", mode="after")
    @classmethod
    def _check_urls(cls, urls: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        local_mode = bool(info.data.get("local_mode"))
        for url in urls:
            parsed = urlsplit(url)
            secure = parsed.scheme == "https" or (local_mode and parsed.scheme == "http")
            if not secure or not parsed.hostname:
                raise ValueError(f"must be https URLs with a host: {url!r}")
        return urls

    @property
    def webhook_hosts(self) -> frozenset[str]:
        return frozenset(urlsplit(url).hostname or "" for url in self.webhook_urls)


class AnalyticsStreamSettings(EnvSection):
    """``AnalyticsService``: the Kinesis stream events are put on."""

    analytics_stream_name: str = Field(min_length=1, max_length=128)


class EventCountSettings(EnvSection):
    """The counts: ``EventCountStore``'s table and the consumer's dead-letter queue."""

    analytics_table_name: TableName
    analytics_dead_letter_queue_url: str = Field(pattern=r"^https?://")


class PreTrafficSettings(EnvSection):
    """``PreTrafficCheck``: the stack's functions it may check, and the scope names they expect."""

    # {physical function name: logical id}: which probe a new version of that function gets.
    pre_traffic_functions: dict[str, str] = Field(min_length=1)
    # The same prefix the HTTP functions read (nexus.api.auth): the probes' scopes carry it.
    jwt_scope_prefix: str = Field(default="", pattern=r"^([!-~]*[!-.0-~][!-~]*/)?$")

    @field_validator("pre_traffic_functions", mode="before")
    @classmethod
    def _parse_json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"must be a JSON object of function names: {exc}") from None
        return value


# Every section defined above, in order: register_all() registers each, so a new one needs no list.
SECTIONS: tuple[type[EnvSection], ...] = tuple(
    value
    for value in list(globals().values())
    if isinstance(value, type) and issubclass(value, EnvSection) and value is not EnvSection
)
