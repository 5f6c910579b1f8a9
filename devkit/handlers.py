"""A function's handler in this process: imported (its cold start runs), given events and a context."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

from local.account import REGION
from local.template import ROOT, import_file


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py under a unique module name (its cold start runs here)."""
    return import_file(ROOT / "functions" / name / "app.py", f"function_{name}")


EVENTS = ROOT / "events"


def event_file(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def lambda_context(function_name: str = "test") -> Any:
    class Context:
        function_name = "test"
        memory_limit_in_mb = 512
        invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:test"
        aws_request_id = "00000000-0000-0000-0000-000000000000"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 10_000

    context = Context()
    context.function_name = function_name
    return context


def started[T](service: type[T]) -> T:
    """``service`` as a cold start that has it as a root builds it (with what it depends on)."""
    from nexus import container
    from nexus.services import get_service

    container.start(service)
    return get_service(service)
