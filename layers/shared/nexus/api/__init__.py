"""HTTP glue shared by the functions: resolver, auth, errors, responses."""

from nexus.api.app import (
    create_app,
    json_response,
    lambda_entrypoint,
)
from nexus.api.auth import ANALYTICS_READ, ANALYTICS_WRITE, USERS_READ, USERS_WRITE

__all__ = [
    "ANALYTICS_READ",
    "ANALYTICS_WRITE",
    "USERS_READ",
    "USERS_WRITE",
    "create_app",
    "json_response",
    "lambda_entrypoint",
]
