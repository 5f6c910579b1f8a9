from typing import Any

import pytest
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from nexus.api.auth import require_scope, scope_prefix, verified_caller
from nexus.api.errors import error_response, from_pydantic_errors, status_for
from nexus.errors import (
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    UnauthorizedError,
    ValidationError,
)
from nexus.users.schemas import NewUser, PageLimit


def _event(claims: dict[str, Any] | None, scopes: list[str] | None = None) -> dict[str, Any]:
    if claims is None:
        return {"requestContext": {}}
    return {"requestContext": {"authorizer": {"jwt": {"claims": claims, "scopes": scopes}}}}


@pytest.mark.parametrize(
    ("claims", "scopes", "expected"),
    [
        ({"scope": "users:read users:write"}, None, {"users:read", "users:write"}),
        ({"scopes": "[users:read analytics:read]"}, None, {"users:read", "analytics:read"}),
        ({"scopes": ["users:read"]}, None, {"users:read"}),
        ({"sub": "x"}, ["users:write"], {"users:write"}),
        ({"sub": "x"}, None, set()),
    ],
)
def test_scopes_come_from_scope_scopes_or_the_authorizer(claims, scopes, expected) -> None:
    caller = verified_caller(_event(claims, scopes))
    assert caller is not None
    assert caller.scopes == expected


def test_no_token_is_401_and_missing_scope_is_403() -> None:
    with pytest.raises(UnauthorizedError):
        require_scope(verified_caller(_event(None)), "users:read")
    reader = verified_caller(_event({"sub": "client-a", "scope": "users:read"}))
    with pytest.raises(ForbiddenError, match="users:write"):
        require_scope(reader, "users:write")
    assert require_scope(reader, "users:read") is reader


def test_with_a_prefix_only_the_prefixed_scope_grants() -> None:
    cognito = verified_caller(_event({"scope": "nexus/users:read"}))

    require_scope(cognito, "users:read", "nexus/")
    with pytest.raises(ForbiddenError, match="nexus/users:read"):
        require_scope(verified_caller(_event({"scope": "users:read"})), "users:read", "nexus/")
    with pytest.raises(ForbiddenError):
        require_scope(cognito, "users:read")


@pytest.mark.parametrize("value", ["nexus", "/", "//", "a b/", "nexus/\n"])
def test_a_malformed_scope_prefix_fails_the_cold_start_naming_it(value: str) -> None:
    with pytest.raises(ConfigurationError, match="JWT_SCOPE_PREFIX"):
        scope_prefix({"JWT_SCOPE_PREFIX": value})


def test_the_scope_prefix_is_empty_by_default() -> None:
    assert scope_prefix({}) == ""
    assert scope_prefix({"JWT_SCOPE_PREFIX": "nexus/"}) == "nexus/"
    assert scope_prefix({"JWT_SCOPE_PREFIX": "https://api.example.com/"}) == "https://api.example.com/"


def test_statuses_follow_the_hierarchy() -> None:
    assert status_for(ConflictError("taken", code="email_taken")) == 409
    assert status_for(ValidationError([])) == 422
    assert status_for(RuntimeError("boom")) == 500


def test_a_server_side_fault_of_our_own_is_500_with_its_code_not_503() -> None:
    # Email and outbound-HTTP errors are NexusErrors with no mapping: our fault, not a
    # dependency that is down, so no 503 (only GET /health answers one, with its own body).
    from nexus.email.errors import EmailTemplateError
    from nexus.http.errors import OutboundRequestError

    template_error = EmailTemplateError("no variable 'x'", template_name="welcome")
    outbound_error = OutboundRequestError("timed out", host="hooks.example.com")

    assert status_for(template_error) == status_for(outbound_error) == 500
    assert error_response(template_error, "req-1").body["error"]["code"] == "email_template_error"


def test_an_unexpected_error_names_no_internals() -> None:
    response = error_response(RuntimeError("table users-prod is on fire"), "req-1")

    assert response.status_code == 500
    assert response.body == {
        "error": {"code": "internal_error", "message": "Internal server error", "request_id": "req-1"}
    }


def test_body_rule_errors_are_422_with_details() -> None:
    with pytest.raises(PydanticValidationError) as caught:
        NewUser.model_validate({"username": "a!", "email": "x@example.com", "created_at": "now"})

    error = from_pydantic_errors([{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()])

    assert isinstance(error, ValidationError)
    assert {(d.field, d.reason) for d in error.details} == {
        ("username", "must be 3 to 50 characters of A-Z a-z 0-9 _ . -"),
        ("created_at", "is read-only"),
    }


def test_query_type_errors_are_400_and_rule_errors_422() -> None:
    limit = TypeAdapter(PageLimit)
    with pytest.raises(PydanticValidationError) as wrong_type:
        limit.validate_python("many")
    with pytest.raises(PydanticValidationError) as out_of_range:
        limit.validate_python("500")

    def in_query(errors: list[Any]) -> list[dict[str, Any]]:
        return [{**error, "loc": ("query", "limit")} for error in errors]

    bad_request = from_pydantic_errors(in_query(wrong_type.value.errors()))
    assert isinstance(bad_request, BadRequestError)
    assert [(d.field, d.reason) for d in bad_request.details] == [("limit", "must be an integer")]
    assert isinstance(from_pydantic_errors(in_query(out_of_range.value.errors())), ValidationError)


@pytest.mark.parametrize(
    ("authorizer", "expected"),
    [
        ({"jwt": {"claims": {"sub": "client-a", "scope": "users:write"}}}, "client-a"),
        ({"jwt": {"claims": {"scope": "users:write"}}}, ""),
        ({"jwt": {"claims": {"sub": 42}}}, ""),
    ],
)
def test_the_callers_subject_is_the_verified_sub_claim_or_empty(authorizer: dict[str, Any], expected: str) -> None:
    caller = verified_caller({"requestContext": {"authorizer": authorizer}})
    assert caller is not None
    assert caller.subject == expected


@pytest.mark.parametrize("authorizer", [{"jwt": "not a jwt"}, {"jwt": {"scopes": ["users:read"]}}, {}])
def test_without_a_verified_token_there_is_no_caller(authorizer: dict[str, Any]) -> None:
    assert verified_caller({"requestContext": {"authorizer": authorizer}}) is None
    assert verified_caller({}) is None
