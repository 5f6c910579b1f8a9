"""HTTP glue shared by the functions: resolver, auth, errors, responses, parameter markers.

Functions import Powertools' HTTP vocabulary (``Response``, ``Body``, ``Query``, ``Header``)
from here: importing it from ``aws_lambda_powertools.event_handler`` directly would run that
package's ``__init__`` before ``nexus/__init__.py`` defers it (see ``nexus.deferred_inits``).
"""

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

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
    "Body",
    "Header",
    "Query",
    "Response",
    "create_app",
    "json_response",
    "lambda_entrypoint",
]
