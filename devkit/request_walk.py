"""The project files a warm request crosses, in the order it first enters each: the walk a reader
follows from the handler down.

``python -m devkit.request_walk`` runs ``GET /users/{user_id}`` and ``POST /users`` through the
real handlers on in-process moto, each in a registry that built only its function's composite
(as its own Lambda process would), after a first request; it prints every file of functions/ and
the layer whose code ran, and how many of their functions were called.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from devkit.api_client import ApiClient
from devkit.in_process_stack import in_process_stack
from local.template import ROOT, Template

_PROJECT = (str(ROOT / "functions") + os.sep, str(ROOT / "layers" / "shared" / "nexus") + os.sep)


@dataclass
class Walk:
    files: list[str]  # relative to the repository, in the order first entered
    calls: int  # calls of the project's own functions


def _walked(request: Callable[[], object]) -> Walk:
    walk = Walk([], 0)

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        name = frame.f_code.co_filename
        if event == "call" and name.startswith(_PROJECT):
            walk.calls += 1
            relative = str(Path(name).relative_to(ROOT))
            if relative not in walk.files:
                walk.files.append(relative)

    sys.setprofile(profile)
    try:
        request()
    finally:
        sys.setprofile(None)
    return walk


def walks(template: Template) -> dict[str, Walk]:
    """Each request's warm walk, its function alone in the registry (call inside emulated AWS)."""
    from nexus.services import registry

    signed_up = ApiClient(template).post("/users", {"username": "walker", "email": "walker@example.com"})
    user_id = signed_up.json()["id"]
    found: dict[str, Walk] = {}

    registry.cleanup()  # a function's process builds only its own composite
    api = ApiClient(template)
    api.get(f"/users/{user_id}")  # the cold start and a first request
    found["GET /users/{user_id}"] = _walked(lambda: api.get(f"/users/{user_id}"))

    registry.cleanup()
    api = ApiClient(template)
    names = iter(range(1, 3))

    def sign_up() -> None:
        n = next(names)
        assert api.post("/users", {"username": f"walker{n}", "email": f"walker{n}@example.com"}).status == 201

    sign_up()
    found["POST /users"] = _walked(sign_up)
    registry.cleanup()
    return found


def main() -> None:
    sys.path.insert(0, str(ROOT / "layers" / "shared"))  # the layer, as pytest's pythonpath has it
    template = Template()
    with in_process_stack(template):
        found = walks(template)
    for request, walk in found.items():
        print(f"{request}: {len(walk.files)} files, {walk.calls} calls of their functions")
        for file in walk.files:
            print(f"  {file}")


if __name__ == "__main__":
    main()
