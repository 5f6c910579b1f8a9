"""The composition root: every service and how it is built, in one place.

Registration makes no AWS call; ``start(*roots)`` builds only what those roots need,
so each function pays at cold start for its own clients and nothing else.
"""

from __future__ import annotations

import boto3

from nexus.analytics import AnalyticsService
from nexus.analytics.consumer import EventCountConsumer
from nexus.analytics.counts import EventCountStore
from nexus.cache import CacheBackend, CacheService
from nexus.cache.dynamodb import DynamoDBCacheBackend
from nexus.email import EmailService
from nexus.http import HTTPService
from nexus.operations.analytics import AnalyticsOperations, StatsOperations
from nexus.operations.health import HealthOperations
from nexus.operations.users import UserCommands, UserQueries, UserRegistration
from nexus.operations.welcome import WelcomeEmails
from nexus.services import registry
from nexus.settings import Settings
from nexus.users import UserService
from nexus.webhooks import WebhookPublisher


def _cache_backend(settings: Settings) -> CacheBackend:
    if settings.cache_backend == "redis":
        from nexus.cache.redis import RedisCacheBackend  # only deployments on Redis load redis-py

        return RedisCacheBackend(settings.cache_redis_url.get_secret_value())
    return DynamoDBCacheBackend(settings.cache_table_name)


def _analytics(settings: Settings) -> AnalyticsService:
    return AnalyticsService(settings.analytics_stream_name)


def _event_counts(settings: Settings) -> EventCountStore:
    return EventCountStore(settings.analytics_table_name, boto3.client("dynamodb"))


def _event_consumer(settings: Settings, store: EventCountStore) -> EventCountConsumer:
    return EventCountConsumer(store, settings.analytics_dead_letter_queue_url, boto3.client("sqs"))


def _email(settings: Settings) -> EmailService:
    return EmailService(
        settings.email_sender_address,
        settings.email_sender_name,
        settings.email_configuration_set or None,
    )


def _http(settings: Settings) -> HTTPService:
    return HTTPService(
        allowed_hosts=settings.webhook_hosts,
        allow_loopback_http=settings.local_mode,
        timeout_seconds=settings.http_timeout_seconds,
        retries=settings.http_retries,
    )


def _webhooks(settings: Settings, http: HTTPService) -> WebhookPublisher:
    from aws_lambda_powertools.utilities import parameters  # only the webhook function needs it

    def secret() -> bytes:
        # Cached for 5 minutes per environment, so a rotated secret is picked up soon.
        return str(parameters.get_parameter(settings.webhook_secret_parameter, decrypt=True, max_age=300)).encode()

    return WebhookPublisher(http, list(settings.webhook_urls), secret)


def register_all() -> None:
    """Register every service on the process-wide registry."""
    registry.register(Settings, Settings.from_env, dependencies=())
    # The abstract contract is the key; settings pick the implementation.
    registry.register(CacheBackend, _cache_backend, dependencies=[Settings])  # type: ignore[type-abstract]
    registry.register(CacheService)
    registry.register(UserService)
    registry.register(AnalyticsService, _analytics, dependencies=[Settings])
    registry.register(EventCountStore, _event_counts, dependencies=[Settings])
    registry.register(EventCountConsumer, _event_consumer, dependencies=[Settings, EventCountStore])
    registry.register(EmailService, _email, dependencies=[Settings])
    registry.register(WelcomeEmails)
    registry.register(HTTPService, _http, dependencies=[Settings])
    registry.register(WebhookPublisher, _webhooks, dependencies=[Settings, HTTPService])
    registry.register(UserQueries)
    registry.register(UserCommands)
    registry.register(UserRegistration)
    registry.register(AnalyticsOperations)
    registry.register(StatsOperations)
    registry.register(HealthOperations)


def start(*roots: type) -> None:
    """Cold start: validate the graph, then build and initialize ``roots`` and their dependencies."""
    if Settings not in registry:
        register_all()
    registry.start(*roots)
