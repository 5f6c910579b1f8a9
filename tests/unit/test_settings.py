import pytest

from nexus.errors import ConfigurationError
from nexus.settings import SECTIONS, CacheSettings, CursorSettings, EnvSection, UsersSettings

VALID = {
    "USERS_TABLE_NAME": "users",
    "CACHE_TABLE_NAME": "cache",
    "CURSOR_SIGNING_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:cursor-AbCdEf",
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "EMAIL_SENDER_ADDRESS": "noreply@example.com",
    "WELCOME_EMAIL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/welcome",
    "ANALYTICS_STREAM_NAME": "events",
    "ANALYTICS_TABLE_NAME": "analytics",
    "ANALYTICS_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
}


def test_reads_typed_values_and_defaults() -> None:
    users = UsersSettings.from_env({**VALID, "USER_LIST_SHARDS": "4"})

    assert users.users_table_name == "users"
    assert users.user_list_shards == 4
    assert CacheSettings.from_env(VALID).cache_default_ttl_seconds == 3600


def test_a_missing_variable_is_named() -> None:
    env = dict(VALID)
    del env["USERS_TABLE_NAME"]

    with pytest.raises(ConfigurationError, match="USERS_TABLE_NAME: Field required"):
        UsersSettings.from_env(env)


def test_a_section_reads_only_its_own_variables() -> None:
    # What lets a function's environment carry only its services' variables.
    assert UsersSettings.from_env({"USERS_TABLE_NAME": "users"}).users_table_name == "users"
    assert UsersSettings.variables() == {"USERS_TABLE_NAME", "USER_LIST_SHARDS"}


def test_every_variable_of_the_test_environment_belongs_to_a_section() -> None:
    assert set(VALID) <= set().union(*(section.variables() for section in SECTIONS))


def _section_reading(variable: str) -> type[EnvSection]:
    return next(section for section in SECTIONS if variable in section.variables())


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("USER_LIST_SHARDS", "many"),
        ("USER_LIST_SHARDS", "0"),
        ("CACHE_DEFAULT_TTL_SECONDS", "-1"),
        ("CURSOR_SIGNING_SECRET_ARN", "not a secret id"),
        ("CURSOR_SIGNING_SECRET_ARN", "arn:aws:ssm:us-east-1:123456789012:parameter/x"),
    ],
)
def test_a_malformed_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        _section_reading(variable).from_env({**VALID, variable: value})


def test_settings_carry_no_signing_key_only_the_secrets_id() -> None:
    settings = CursorSettings.from_env(VALID)

    assert settings.cursor_signing_secret_arn == VALID["CURSOR_SIGNING_SECRET_ARN"]
    assert not [name for section in SECTIONS for name in section.model_fields if name.endswith("_key")]


REDIS = {
    "CACHE_BACKEND": "redis",
    "CACHE_REDIS_URL": "rediss://cache.example:6379",
    "CACHE_REDIS_USERNAME": "nexus",
    "CACHE_REDIS_PASSWORD_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-AbCdEf",
}


@pytest.mark.parametrize("variable", ["CACHE_REDIS_USERNAME", "CACHE_REDIS_PASSWORD_SECRET_ARN"])
def test_redis_mode_needs_its_user_and_password_secret(variable: str) -> None:
    env = {**VALID, **REDIS}
    del env[variable]

    with pytest.raises(ConfigurationError, match=f"{variable}: Value error, required when CACHE_BACKEND=redis"):
        CacheSettings.from_env(env)


def test_the_redis_backend_reads_its_password_at_the_first_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from nexus import container

    reads: list[str] = []

    def get(secret: object) -> str:
        reads.append(str(getattr(secret, "secret_id", "")))
        return "p" * 64

    monkeypatch.setattr("nexus.secrets.CachedSecret.get", get)
    backend = container._cache_backend(CacheSettings.from_env({**VALID, **REDIS}))
    assert reads == []  # nothing at cold start

    credentials = backend.client.connection_pool.connection_kwargs["credential_provider"]  # type: ignore[attr-defined]
    assert credentials.get_credentials() == ("nexus", "p" * 64)
    assert reads == [REDIS["CACHE_REDIS_PASSWORD_SECRET_ARN"]]
    assert "p" * 64 not in repr(credentials)
