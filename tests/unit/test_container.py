"""The composition root's whole graph resolves: every name imports, no dependency is missing."""

from __future__ import annotations

import pytest

from nexus import container
from nexus.services import registry


def test_every_registered_service_resolves() -> None:
    container.register_all()

    order = registry.resolution_order()

    assert order[0] == "nexus.settings:Settings"
    assert len(order) == len(set(order)) == 22
    assert order.index("nexus.users.service:UserService") < order.index("nexus.operations.user_queries:UserQueries")


@pytest.mark.parametrize(
    "root",
    [
        "nexus.operations.user_queries:UserQueries",
        "nexus.operations.user_listing:UserListing",
        "nexus.operations.registration:UserRegistration",
        "nexus.operations.health:HealthOperations",
    ],
)
def test_each_root_needs_only_its_part(root: str) -> None:
    container.register_all()

    needed = set(registry.resolution_order([root]))

    assert "nexus.webhooks.publisher:WebhookPublisher" not in needed
    if root != "nexus.operations.registration:UserRegistration":
        assert "nexus.email.service:EmailService" not in needed


@pytest.mark.parametrize(
    ("root", "not_needed"),
    [
        ("nexus.operations.analytics:AnalyticsOperations", "nexus.users.service:UserService"),
        ("nexus.operations.event_stats:EventStatsOperations", "nexus.users.service:UserService"),
        ("nexus.operations.user_stats:UserStatsOperations", "nexus.analytics.counts:EventCountStore"),
        ("nexus.operations.user_queries:UserQueries", "nexus.analytics.service:AnalyticsService"),
        # Only the list function has the cursor signing secret.
        ("nexus.operations.user_queries:UserQueries", "nexus.users.cursor:CursorCodec"),
        ("nexus.operations.health:HealthOperations", "nexus.users.cursor:CursorCodec"),
    ],
)
def test_a_function_builds_no_store_it_does_not_read(root: str, not_needed: str) -> None:
    container.register_all()

    needed = set(registry.resolution_order([root]))

    assert root in needed
    assert not_needed not in needed
