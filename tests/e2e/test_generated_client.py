"""A client generated from the committed docs/openapi.json (openapi-python-client) drives the API.

The client is generated into a temporary folder on each run (about 15 s), never committed.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devkit.local_server import LocalServer
from local.template import ROOT
from local.tokens import ALL_SCOPES, make_token

PACKAGE = "nexus_generated_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("client")
    config = folder / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run over the generated code
    subprocess.run(  # noqa: S603 - the dev venv's generator
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(ROOT / "docs" / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
            "--config",
            str(config),
        ],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]


def _api(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_the_generated_client_drives_every_operation(generated: ModuleType, server: LocalServer) -> None:
    models = _api("models")
    users, events, stats = _api("api.users"), _api("api.events"), _api("api.stats")
    for name in ("create_user", "get_user", "get_user_by_username", "list_users", "update_user", "delete_user"):
        importlib.import_module(f"{PACKAGE}.api.users.{name}")
    for name in ("track_events",):
        importlib.import_module(f"{PACKAGE}.api.events.{name}")
    for name in ("user_stats", "event_stats"):
        importlib.import_module(f"{PACKAGE}.api.stats.{name}")
    client = generated.AuthenticatedClient(base_url=server.base_url, token=make_token(ALL_SCOPES))
    run = uuid.uuid4().hex[:8]
    tag = f"gen-{run}"

    # Create with an Idempotency-Key, and replay it: the same user, no second one.
    key = f"key-{run}"
    first = models.NewUser(username=f"gen_{run}_0", email=f"gen0-{run}@example.com", tags=[tag, "odd"])
    created = users.create_user.sync_detailed(client=client, body=first, idempotency_key=key)
    assert created.status_code == 201, created.content
    assert created.headers["Location"] == f"/users/{created.parsed.id}"
    replay = users.create_user.sync_detailed(client=client, body=first, idempotency_key=key)
    assert (replay.status_code, replay.parsed.id) == (201, created.parsed.id)
    made = [created.parsed]
    for index in range(1, 5):
        body = models.NewUser(username=f"gen_{run}_{index}", email=f"gen{index}-{run}@example.com", tags=[tag])
        answer = users.create_user.sync_detailed(client=client, body=body)
        assert answer.status_code == 201, answer.content
        made.append(answer.parsed)

    # Get, and get by username (any case).
    assert users.get_user.sync(client=client, user_id=made[0].id).username == made[0].username
    found = users.get_user_by_username.sync(client=client, username=made[0].username.upper())
    assert found.id == made[0].id

    # Patch one inactive, then list with search, tag and is_active, through every page.
    changes = models.UserChanges(is_active=False, full_name="Generated Client")
    patched = users.update_user.sync(client=client, user_id=made[1].id, body=changes)
    assert (patched.is_active, patched.full_name) == (False, "Generated Client")
    listed, cursor, pages = [], None, 0
    while True:
        page = users.list_users.sync(
            client=client, limit=2, search=f"gen_{run}", tag=[tag], is_active=True, cursor=cursor
        )
        pages += 1
        assert page.total is None  # several filters: a page may be short, and no counter holds the total
        listed += [user.id for user in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert pages == 2
    assert listed == sorted((user.id for user in made if user.id != made[1].id), reverse=True)
    one_tag = users.list_users.sync(client=client, tag=[tag])  # one tag alone: its counter is the total
    assert one_tag.total == len(one_tag.items) == len(made)
    both = users.list_users.sync(client=client, tag=[tag, "odd"])
    assert [user.id for user in both.items] == [made[0].id]

    # Delete: 204 and then it is gone.
    deleted = users.delete_user.sync_detailed(client=client, user_id=made[4].id)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert users.get_user.sync_detailed(client=client, user_id=made[4].id).status_code == 404

    # Events: one, and a batch; then both stats.
    event_type = f"gen.{run}"
    one = models.AnalyticsEvent(event_type=event_type)
    assert events.track_events.sync(client=client, body=one).accepted == 1
    batch = models.EventBatch(events=[models.AnalyticsEvent(event_type=event_type) for _ in range(3)])
    assert events.track_events.sync(client=client, body=batch).accepted == 3
    with_ids = models.EventBatch(
        events=[models.AnalyticsEvent(event_type=event_type, event_id=f"{run}-{n}") for n in range(3)]
    )
    for _ in range(2):  # a resend with the same ids is accepted and not counted again
        assert events.track_events.sync(client=client, body=with_ids).accepted == 3
    deadline = time.monotonic() + 30
    counted = stats.event_stats.sync(client=client, event_type=event_type, days=1)
    while counted.total < 7 and time.monotonic() < deadline:  # the stream's consumer runs meanwhile
        time.sleep(0.5)
        counted = stats.event_stats.sync(client=client, event_type=event_type, days=1)
    time.sleep(2)  # time enough for a resend to be counted, had it been
    counted = stats.event_stats.sync(client=client, event_type=event_type, days=1)
    assert (counted.event_type, counted.days, counted.total) == (event_type, 1, 1 + 3 + 3)
    assert counted.total == sum(counted.by_day.additional_properties.values())
    totals = stats.user_stats.sync(client=client)
    assert totals.total_users >= 4
    assert totals.active_users + totals.inactive_users == totals.total_users
