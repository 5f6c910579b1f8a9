"""SnapStart without AWS: one initialized handler, forked into children that act as restored copies.

A restore copies the snapshotted memory as it was: unlike ``os.fork``, it runs none of
Python's at-fork hooks (``random`` reseeds itself in a forked child). So each child first
puts back the parent's ``random`` state (what a restored copy has), then runs the restore
hooks the runtime would run (``snapshot_restore_py``'s registry, filled by
``nexus.snapstart.register`` at init), then serves requests against the moto server.
Bounded: three children, one create and one get each (~5 s).
"""

from __future__ import annotations

import json
import os
import random
import select
import time
from typing import Any

import pytest
import snapshot_restore_py  # type: ignore[import-untyped,unused-ignore]

from devkit.api_client import ApiClient
from local.provisioning import LocalResources
from local.template import Template
from nexus import aws

CHILDREN = 3
# The moto server runs on a thread of this process; a child only uses its main thread, and the
# parent kills one that does not answer in time.
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


def _restore_hooks() -> list[Any]:
    return list(snapshot_restore_py._after_restore_registry)


def _child(api: ApiClient, state: Any, index: int, hooks: bool) -> dict[str, Any]:
    random.setstate(state)  # what a restored copy has: the snapshot's state, not a fork's reseed
    before_hooks = random.random()
    random.setstate(state)
    dynamodb_before = aws.client("dynamodb")._client
    if hooks:
        for function, args, kwargs in _restore_hooks():
            function(*args, **kwargs)
    created = api.post("/users", {"username": f"restored{index}", "email": f"restored{index}@example.com"})
    user_id = created.json().get("id") if created.status == 201 else None
    fetched = api.get(f"/users/{user_id}") if user_id else None
    return {
        "random_before_hooks": before_hooks,
        "random": random.random(),
        "created": created.status,
        "fetched": fetched.status if fetched else None,
        "id": user_id,
        "dynamodb_renewed": aws.client("dynamodb")._client is not dynamodb_before,
    }


def _fork_children(api: ApiClient, hooks: bool) -> list[dict[str, Any]]:
    state = random.getstate()
    children = []
    for index in range(CHILDREN):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the restored copy
            os.close(read)
            code = 0
            try:
                result = _child(api, state, index, hooks)
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                result, code = {"error": repr(exc)}, 1
            os.write(write, json.dumps(result).encode())
            os._exit(code)
        os.close(write)
        children.append((pid, read))
    results = []
    deadline = time.monotonic() + 60
    for pid, read in children:
        chunks = []
        while True:
            ready, _, _ = select.select([read], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, 9)
                pytest.fail("a restored child did not answer within 60 s")
            chunk = os.read(read, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read)
        os.waitpid(pid, 0)
        results.append(json.loads(b"".join(chunks)))
    return results


@pytest.fixture
def initialized(server_stack: LocalResources, template: Template) -> ApiClient:
    """The create and get functions initialized and warm (clients built) in this process."""
    api = ApiClient(template)
    api.module("CreateUserFunction")
    api.module("GetUserFunction")
    warm = api.post("/users", {"username": "snapshot", "email": "snapshot@example.com"})
    assert warm.status == 201, warm.body
    assert aws.client("dynamodb").built
    return api


def test_init_registers_the_restore_hook(initialized: ApiClient) -> None:
    from nexus.snapstart import after_restore

    assert after_restore in [function for function, _, _ in _restore_hooks()]


def test_restored_copies_get_unique_ids_fresh_random_state_and_new_clients(initialized: ApiClient) -> None:
    results = _fork_children(initialized, hooks=True)

    assert all("error" not in r for r in results), results
    assert [(r["created"], r["fetched"]) for r in results] == [(201, 200)] * CHILDREN
    assert len({r["id"] for r in results}) == CHILDREN
    assert len({r["random_before_hooks"] for r in results}) == 1  # the snapshot's state, shared
    assert len({r["random"] for r in results}) == CHILDREN  # renewed by the hook
    assert all(r["dynamodb_renewed"] for r in results)


def test_without_the_hook_the_copies_share_their_random_state(initialized: ApiClient) -> None:
    """The control: what the hook prevents (the same jitter, the same draws, in every copy)."""
    results = _fork_children(initialized, hooks=False)

    assert all("error" not in r for r in results), results
    assert len({r["random"] for r in results}) == 1
    assert not any(r["dynamodb_renewed"] for r in results)
