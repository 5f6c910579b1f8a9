"""Fixtures of the integration tests (tests/conftest.py has the emulated AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from devkit.api_client import ApiClient
from local.template import Template


@pytest.fixture
def api(aws: Any, template: Template) -> ApiClient:
    """The HTTP API over in-process handlers, against the template's resources in moto."""
    return ApiClient(template)
