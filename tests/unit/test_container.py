"""The composition root's whole graph resolves: every name imports, no dependency is missing."""

from __future__ import annotations

import pytest

from nexus import container
from nexus.services import registry


def test_every_registered_service_resolves() -> None:
    container.register_all()

    order = registry.resolution_order()

    assert order[0] == "nexus.settings:Settings"
    assert len(order) == len(set(order)) == 17
    assert order.index("nexus.users.service:UserService") < order.index("nexus.operations.user_queries:UserQueries")


@pytest.mark.parametrize(
    "root",
    [
        "nexus.operations.user_queries:UserQueries",
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
