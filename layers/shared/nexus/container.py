"""The composition root: every service and how it is built, in one place.

Services are registered by typed ``ServiceRef``s and their factories import lazily, so
registering everything imports nothing: a function's cold start imports only what its
composite needs (the list function loads no SES, Kinesis, Jinja2 or idempotency code).
``tests/unit/test_container.py`` validates the whole graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nexus.services import ServiceRef, registry
from nexus.services.registry import ServiceKey
from nexus.settings import SECTIONS, CacheSettings, UsersSettings

if TYPE_CHECKING:
    from nexus.analytics.counts import EventCountStore
    from nexus.analytics.service import AnalyticsService
    from nexus.cache.backend import CacheBackend
    from nexus.cache.service import CacheService
    from nexus.email.service import EmailService
    from nexus.http.service import HTTPService
    from nexus.idempotency import IdempotencyStore
    from nexus.operations.count_events import EventCounting
    from nexus.operations.event_stats import EventStatistics
    from nexus.operations.event_tracking import EventTracking
    from nexus.operations.health import HealthCheck
    from nexus.operations.pre_traffic import PreTrafficCheck
    from nexus.operations.publish_webhooks import WebhookPublishing
    from nexus.operations.registration import UserRegistration
    from nexus.operations.user_commands import UserCommands
    from nexus.operations.user_listing import UserListing
    from nexus.operations.user_queries import UserQueries
    from nexus.operations.user_stats import UserStatistics
    from nexus.operations.welcome import WelcomeEmails
    from nexus.operations.welcome_retries import WelcomeRetries
    from nexus.users.caching import PageCache, UserCache
    from nexus.users.cursor import CursorCodec
    from nexus.users.service import UserService
    from nexus.users.welcome_lease import WelcomeLeases

# Each reference is typed by the class it names (go-to-definition follows the annotation);
# tests/unit/test_container.py checks that every path and its annotation agree.
CACHE_BACKEND: ServiceRef[CacheBackend] = ServiceRef("nexus.cache.backend:CacheBackend")
CACHE: ServiceRef[CacheService] = ServiceRef("nexus.cache.service:CacheService")
USER_CACHE: ServiceRef[UserCache] = ServiceRef("nexus.users.caching:UserCache")
PAGE_CACHE: ServiceRef[PageCache] = ServiceRef("nexus.users.caching:PageCache")
USERS: ServiceRef[UserService] = ServiceRef("nexus.users.service:UserService")
WELCOME_LEASES: ServiceRef[WelcomeLeases] = ServiceRef("nexus.users.welcome_lease:WelcomeLeases")
CURSORS: ServiceRef[CursorCodec] = ServiceRef("nexus.users.cursor:CursorCodec")
ANALYTICS: ServiceRef[AnalyticsService] = ServiceRef("nexus.analytics.service:AnalyticsService")
EVENT_COUNTS: ServiceRef[EventCountStore] = ServiceRef("nexus.analytics.counts:EventCountStore")
EVENT_COUNTING: ServiceRef[EventCounting] = ServiceRef("nexus.operations.count_events:EventCounting")
EMAIL: ServiceRef[EmailService] = ServiceRef("nexus.email.service:EmailService")
HTTP: ServiceRef[HTTPService] = ServiceRef("nexus.http.service:HTTPService")
WEBHOOKS: ServiceRef[WebhookPublishing] = ServiceRef("nexus.operations.publish_webhooks:WebhookPublishing")
IDEMPOTENCY_STORE: ServiceRef[IdempotencyStore] = ServiceRef("nexus.idempotency:IdempotencyStore")

# The composites, one per function (or shared by a few): the roots a handler starts.
WELCOME: ServiceRef[WelcomeEmails] = ServiceRef("nexus.operations.welcome:WelcomeEmails")
WELCOME_RETRIES: ServiceRef[WelcomeRetries] = ServiceRef("nexus.operations.welcome_retries:WelcomeRetries")
USER_QUERIES: ServiceRef[UserQueries] = ServiceRef("nexus.operations.user_queries:UserQueries")
USER_LISTING: ServiceRef[UserListing] = ServiceRef("nexus.operations.user_listing:UserListing")
USER_COMMANDS: ServiceRef[UserCommands] = ServiceRef("nexus.operations.user_commands:UserCommands")
REGISTRATION: ServiceRef[UserRegistration] = ServiceRef("nexus.operations.registration:UserRegistration")
EVENT_TRACKING: ServiceRef[EventTracking] = ServiceRef("nexus.operations.event_tracking:EventTracking")
USER_STATS: ServiceRef[UserStatistics] = ServiceRef("nexus.operations.user_stats:UserStatistics")
EVENT_STATS: ServiceRef[EventStatistics] = ServiceRef("nexus.operations.event_stats:EventStatistics")
HEALTH: ServiceRef[HealthCheck] = ServiceRef("nexus.operations.health:HealthCheck")
PRE_TRAFFIC: ServiceRef[PreTrafficCheck] = ServiceRef("nexus.operations.pre_traffic:PreTrafficCheck")

# Every reference above; the composites are those in nexus/operations/ (the roots a handler starts).
REFERENCES: tuple[ServiceRef[Any], ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, ServiceRef)
)
OPERATIONS = tuple(reference for reference in REFERENCES if reference.path.startswith("nexus.operations."))


def _cache_backend(settings: CacheSettings) -> CacheBackend:
    if settings.cache_backend == "redis":
        from nexus.cache.redis import RedisCacheBackend  # only deployments on Redis load redis-py
        from nexus.secrets import CachedSecret

        password = CachedSecret(settings.cache_redis_password_secret_arn)  # read at the first connection
        return RedisCacheBackend(
            settings.cache_redis_url.get_secret_value(), username=settings.cache_redis_username, password=password.get
        )
    from nexus.cache.dynamodb import DynamoDBCacheBackend

    return DynamoDBCacheBackend(settings.cache_table_name)


# What the users domain caches is decided here, once (docs/decisions.md, "What is cached depends
# on the cache backend"): on the DynamoDB backend a hit costs the one read it would save.
def _user_cache(settings: CacheSettings, cache: CacheService) -> UserCache | None:
    if settings.cache_backend == "dynamodb":
        return None
    from nexus.users.caching import UserCache

    return UserCache(cache, settings.user_cache_ttl_seconds)


def _page_cache(settings: CacheSettings, users: UsersSettings, cache: CacheService) -> PageCache | None:
    if settings.cache_backend == "dynamodb" and users.user_list_shards == 1:
        return None  # a page is one Query (with one BatchGetItem when filtered), as a hit would be
    from nexus.users.caching import PageCache

    return PageCache(cache, settings.list_cache_ttl_seconds)


def register_all() -> None:
    """Register every service on the process-wide registry (imports none of them)."""
    # Each concern's settings, read from the environment only by a function that builds a
    # service needing them.
    for section in SECTIONS:
        registry.register(section, section.from_env, dependencies=())
    # Built by a factory: a choice the settings make (the backend; whether a cache pays).
    registry.register(CACHE_BACKEND, _cache_backend, dependencies=[CacheSettings])
    registry.register_optional(USER_CACHE, _user_cache, dependencies=[CacheSettings, CACHE])
    registry.register_optional(PAGE_CACHE, _page_cache, dependencies=[CacheSettings, UsersSettings, CACHE])
    # Every other service is built by its constructor, dependencies read from its inject() parameters.
    for reference in REFERENCES:
        if reference not in (CACHE_BACKEND, USER_CACHE, PAGE_CACHE):
            registry.register(reference)


def start(*roots: ServiceKey[Any]) -> None:
    """Cold start: build and initialize ``roots`` and their dependencies (checked first)."""
    if UsersSettings not in registry:
        register_all()
    registry.start(*roots)
