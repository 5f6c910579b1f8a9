"""Composite user operations: each one is what one Lambda function does.

Reads and writes are separate classes so that the read functions build neither the
Kinesis nor the SES client at cold start.
"""

from __future__ import annotations

from typing import Any, cast

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.analytics import AnalyticsService
from nexus.cache import CacheService
from nexus.errors import ConflictError, NotFoundError
from nexus.operations.welcome import WelcomeEmails
from nexus.services import Service, inject
from nexus.settings import Settings
from nexus.users import NewUser, User, UserChanges, UserFilters, UserPage, UserService
from nexus.users.cursor import CursorCodec
from nexus.users.schemas import ULID_PATTERN, USERNAME_RE


def _user_not_found(user_id: str) -> NotFoundError:
    return NotFoundError(f"No user with id {user_id!r}")


class UserQueries(Service):
    def __init__(
        self,
        users: UserService = inject(),
        cache: CacheService = inject(),
        settings: Settings = inject(),
    ) -> None:
        super().__init__()
        self._users = users
        self._cache = cache
        self._cursors = CursorCodec(settings.cursor_signing_key.get_secret_value().encode())

    def get_user(self, user_id: str) -> User:
        """Cache-aside: one cache read on a hit; cache read, table read and cache fill on a miss."""
        self.validate_initialization()
        if not ULID_PATTERN.match(user_id):
            raise _user_not_found(user_id)
        cached = self._cache.get_user_cache(user_id)
        if cached is not None:
            return cached
        user = self._users.get_user_by_id(user_id)
        if user is None:
            raise _user_not_found(user_id)
        self._cache.set_user_cache(user)
        return user

    def get_user_by_username(self, username: str) -> User:
        self.validate_initialization()
        user = self._users.get_user_by_username(username) if USERNAME_RE.match(username) else None
        if user is None:
            raise NotFoundError(f"No user named {username!r}")
        return user

    def list_users(self, filters: UserFilters, limit: int, cursor: str | None = None) -> UserPage:
        """One page newest first, served from a cache keyed by the table's write generation."""
        self.validate_initialization()
        after_id = self._cursors.decode(cursor, filters) if cursor else None
        counts = self._users.get_counts()
        page_key = (filters.fingerprint(), str(limit), after_id or "")
        cached = self._cache.get_cached_user_list(counts.generation, page_key)
        if cached is not None:
            return cached
        items, has_more = self._users.list_users(filters, limit, after_id)
        page = UserPage(
            items=items,
            next_cursor=self._cursors.encode(items[-1].id, filters) if has_more else None,
            total=self._total(filters, counts.total, counts.generation),
        )
        self._cache.cache_user_list(counts.generation, page_key, page)
        return page

    def _total(self, filters: UserFilters, all_users: int, generation: int) -> int:
        if filters.is_empty:
            return all_users
        fingerprint = filters.fingerprint()
        total = self._cache.get_cached_user_total(generation, fingerprint)
        if total is None:
            total = self._users.count_users(filters)
            self._cache.cache_user_total(generation, fingerprint, total)
        return total


class UserRegistration(Service):
    """``POST /users``: create, cache, track and welcome, at most once per ``Idempotency-Key``."""

    def __init__(
        self,
        users: UserService = inject(),
        cache: CacheService = inject(),
        analytics: AnalyticsService = inject(),
        welcome: WelcomeEmails = inject(),
        settings: Settings = inject(),
    ) -> None:
        super().__init__()
        self._users = users
        self._cache = cache
        self._analytics = analytics
        self._welcome = welcome
        self._settings = settings
        self._idempotency_config = IdempotencyConfig(
            event_key_jmespath="idempotency_key",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=settings.idempotency_ttl_seconds,
        )

    def _setup(self) -> None:
        store = DynamoDBPersistenceLayer(
            table_name=self._settings.idempotency_table_name, boto3_client=boto3.client("dynamodb")
        )
        self._create_once = idempotent_function(
            self._create_for_request,
            data_keyword_argument="request",
            persistence_store=store,
            config=self._idempotency_config,
        )

    def begin_invocation(self, context: object) -> None:
        # In-progress records expire with the invocation, so a timed-out attempt can be retried.
        if hasattr(context, "get_remaining_time_in_millis"):
            self._idempotency_config.register_lambda_context(cast(LambdaContext, context))

    def create_user_with_welcome(self, new: NewUser) -> User:
        """Create the user (one transaction), cache it, record ``user_created``, send the welcome.

        A failed email does not fail or undo the creation: it is queued for retry.
        """
        self.validate_initialization()
        user = self._users.create_user(new)
        self._cache.set_user_cache(user)
        self._analytics.track_event("user_created", user.id, {"registration_source": new.source or "unknown"})
        self._welcome.send_or_queue(user)
        return user

    def create_user_once(self, new: NewUser, idempotency_key: str | None) -> User:
        """``create_user_with_welcome``; a retry with the same key and body returns the first user.

        The same key with another body is a 409 ``idempotency_key_reused``; the same key
        while the first request still runs is a 409 ``request_in_progress``.
        """
        self.validate_initialization()
        if idempotency_key is None:
            return self.create_user_with_welcome(new)
        request = {"idempotency_key": idempotency_key, "body": new.model_dump(mode="json")}
        try:
            stored = self._create_once(request=request)
        except IdempotencyValidationError:
            raise ConflictError(
                "Idempotency-Key was already used with another request body", code="idempotency_key_reused"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise ConflictError(
                "A request with this Idempotency-Key is still in progress; retry later", code="request_in_progress"
            ) from None
        return User.model_validate(stored)

    def _create_for_request(self, request: dict[str, Any]) -> dict[str, Any]:
        user = self.create_user_with_welcome(NewUser.model_validate(request["body"]))
        return user.model_dump(mode="json")


class UserCommands(Service):
    def __init__(
        self,
        users: UserService = inject(),
        cache: CacheService = inject(),
        analytics: AnalyticsService = inject(),
    ) -> None:
        super().__init__()
        self._users = users
        self._cache = cache
        self._analytics = analytics

    def update_user(self, user_id: str, changes: UserChanges) -> User:
        """Update, refresh the cache with the new version, record ``user_updated``."""
        self.validate_initialization()
        user = self._users.update_user(user_id, changes) if ULID_PATTERN.match(user_id) else None
        if user is None:
            raise _user_not_found(user_id)
        self._cache.set_user_cache(user)
        self._analytics.track_event("user_updated", user.id, {"fields": sorted(changes.model_fields_set)})
        return user

    def delete_user(self, user_id: str) -> User:
        """Delete, replace the cached user by a tombstone, record ``user_deleted``."""
        self.validate_initialization()
        deleted = self._users.delete_user(user_id) if ULID_PATTERN.match(user_id) else None
        if deleted is None:
            raise _user_not_found(user_id)
        self._cache.invalidate_user_cache(user_id, deleted.version)
        self._analytics.track_event("user_deleted", user_id)
        return deleted
