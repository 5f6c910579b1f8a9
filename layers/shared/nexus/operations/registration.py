"""``POST /users``: UserRegistration, the composite ``create_user_with_welcome``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from nexus.analytics import AnalyticsService
from nexus.errors import ConflictError
from nexus.idempotency import IdempotencyStore
from nexus.observability import logger
from nexus.operations.welcome import WelcomeEmails
from nexus.services import Service, inject
from nexus.users import NewUser, User, UserService
from nexus.users.caching import UserCache
from nexus.users.service import EMAIL_TAKEN, USERNAME_TAKEN

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig


class KeyedSignUp(BaseModel):
    """A sign-up with its ``Idempotency-Key``: what the idempotency record is keyed and checked by.

    The record's key is the caller's token subject with the key: two clients that pick the same
    key each get their own sign-up, never the other's stored answer or a 409 for its body.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    caller: str
    idempotency_key: str
    body: NewUser


def creation_key(caller: str, idempotency_key: str) -> str:
    """What a keyed sign-up leaves on its user: a digest, not the key itself."""
    return hashlib.sha256(f"{caller}\x1f{idempotency_key}".encode()).hexdigest()[:32]


def _made_by(user: User, body: NewUser) -> bool:
    """Whether ``body`` is the sign-up that made ``user`` (the values it set are still its own)."""
    return (user.username, user.email) == (body.username, body.email)


class UserRegistration(Service):
    """``POST /users``: create, cache, track and welcome, at most once per ``Idempotency-Key``."""

    def __init__(
        self,
        users: UserService = inject(),
        cache: UserCache | None = inject(),
        analytics: AnalyticsService = inject(),
        welcome: WelcomeEmails = inject(),
        idempotency: IdempotencyStore = inject(),
    ) -> None:
        super().__init__()
        self._users = users
        self._cache = cache
        self._analytics = analytics
        self._welcome = welcome
        self._idempotency = idempotency
        self._context: LambdaContext | None = None
        # Built by the first request with a key (see nexus.idempotency).
        self._create_once: Callable[..., User] | None = None
        self._idempotency_config: IdempotencyConfig | None = None

    def begin_invocation(self, context: object) -> None:
        self._context = cast(LambdaContext, context) if hasattr(context, "get_remaining_time_in_millis") else None
        if self._idempotency_config is not None and self._context is not None:
            # In-progress records expire with the invocation, so a timed-out attempt can be retried.
            self._idempotency_config.register_lambda_context(self._context)

    def _idempotent_create(self) -> Callable[..., User]:
        """``_create_for_request``, run at most once per key through Powertools' idempotency."""
        if self._create_once is None:
            from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
            from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

            self._idempotency_config = IdempotencyConfig(
                event_key_jmespath="[caller, idempotency_key]",
                payload_validation_jmespath="body",
                raise_on_no_idempotency_key=True,
                expires_after_seconds=self._idempotency.ttl_seconds,
            )
            if self._context is not None:
                self._idempotency_config.register_lambda_context(self._context)
            # The sign-up and the stored user are models; Powertools dumps and validates them.
            self._create_once = idempotent_function(
                self._create_for_request,
                data_keyword_argument="request",
                persistence_store=self._idempotency.layer,
                config=self._idempotency_config,
                output_serializer=PydanticSerializer(User),
            )
        return self._create_once

    def create_user_with_welcome(self, new: NewUser, creation_key: str | None = None) -> User:
        """Create the user (one transaction), cache it, record ``user_created``, send the welcome.

        A failed email does not fail or undo the creation: it is queued for retry.
        """
        user = self._users.create_user(new, creation_key)
        if self._cache:
            self._cache.put_user(user)
        self._track_created(user, new)
        self._welcome.send_or_queue(user)
        return user

    def _track_created(self, user: User, new: NewUser) -> None:
        # The user's id as the event's id: recorded again by a keyed retry, it is counted once.
        properties = {"registration_source": new.source or "unknown"}
        self._analytics.track_event("user_created", user.id, properties, event_id=f"user_created:{user.id}")

    def create_user_once(self, new: NewUser, idempotency_key: str | None, caller: str = "") -> User:
        """``create_user_with_welcome``; a retry with the same key and body returns the first user.

        Keys are ``caller``'s own (its token subject). The same key with another body is a 409
        ``idempotency_key_reused``; the same key while the first request still runs is a 409
        ``request_in_progress``.
        """
        if idempotency_key is None:
            return self.create_user_with_welcome(new)
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        create_once = self._idempotent_create()
        try:
            sign_up = KeyedSignUp(caller=caller, idempotency_key=idempotency_key, body=new)
            user: User = create_once(request=sign_up)
        except IdempotencyValidationError:
            raise ConflictError(
                "Idempotency-Key was already used with another request body", code="idempotency_key_reused"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise ConflictError(
                "A request with this Idempotency-Key is still in progress; retry later", code="request_in_progress"
            ) from None
        return user

    def _create_for_request(self, request: KeyedSignUp) -> User:
        """The keyed sign-up; or, when an earlier attempt with this caller, key and body committed
        its user and then lost its answer (a timeout), that user: its welcome queued and its event
        recorded again (the event's id makes it count once), answered as the first 201 would."""
        key = creation_key(request.caller, request.idempotency_key)
        try:
            return self.create_user_with_welcome(request.body, key)
        except ConflictError as conflict:
            if conflict.code not in (USERNAME_TAKEN, EMAIL_TAKEN):
                raise
            found = self._users.get_user_by_username(request.body.username)
            if found is None or found.creation_key != key or not _made_by(found, request.body):
                raise
        logger.info("keyed sign-up found the user its earlier attempt committed", user_id=found.id)
        self._track_created(found, request.body)
        self._welcome.queue(found)
        return found
