"""The composition root: its graph resolves, its references are what they say, and each
function builds only what its composite needs (so its cold start imports nothing more)."""

from __future__ import annotations

import ast
import importlib
import inspect
import typing

import pytest

from nexus import container
from nexus.services import MissingDependencyError, Service, ServiceRef, registry
from nexus.services.registry import key_of
from nexus.settings import SECTIONS

REFERENCES = {name: ref for name, ref in vars(container).items() if isinstance(ref, ServiceRef)}


def _type_checking_imports() -> dict[str, object]:
    """What each name imported under ``if TYPE_CHECKING:`` in container.py is."""
    tree = ast.parse(inspect.getsource(container))
    found: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                assert statement.module
                for alias in statement.names:
                    found[alias.asname or alias.name] = getattr(importlib.import_module(statement.module), alias.name)
    return found


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_each_reference_names_the_class_its_annotation_says(name: str) -> None:
    # An IDE follows the annotation, the registry the path: a rename that updates one and
    # not the other fails here.
    annotation = typing.cast(str, container.__annotations__[name])
    tree = ast.parse(annotation, mode="eval").body
    assert isinstance(tree, ast.Subscript), annotation
    assert isinstance(tree.slice, ast.Name), annotation
    named, annotated = REFERENCES[name].load(), _type_checking_imports()[tree.slice.id]
    assert named is annotated, (
        f"nexus/container.py: {name}'s path {REFERENCES[name].path!r} names {named}, its annotation "
        f"{annotation} says {annotated}: make them name the same class"
    )


def test_the_whole_graph_resolves_with_the_settings_sections_first() -> None:
    container.register_all()

    order = registry.resolution_order()

    sections = {key_of(section) for section in SECTIONS}
    assert set(order[: len(sections)]) == sections
    assert len(order) == len(set(order)), "a service is registered twice"
    assert set(order) == {ref.path for ref in REFERENCES.values()} | sections, (
        "every reference in container.py and every settings section is registered, and nothing else"
    )


@pytest.mark.parametrize("root", container.OPERATIONS, ids=lambda ref: ref.path.rsplit(":", 1)[-1])
def test_every_composite_is_a_service_its_dependencies_built_first(root: ServiceRef[Service]) -> None:
    container.register_all()

    try:
        order = registry.resolution_order([root])
    except MissingDependencyError as missing:
        pytest.fail(
            f"{missing}: add a ServiceRef for it to nexus/container.py (a settings section: define it in "
            "nexus/settings.py; docs/EXTENDING.md, steps 2 and 4)"
        )

    assert issubclass(root.load(), Service)
    assert order[-1] == root.path


@pytest.mark.parametrize(
    "root",
    [container.USER_QUERIES, container.USER_LISTING, container.REGISTRATION, container.HEALTH],
    ids=lambda ref: ref.path.rsplit(":", 1)[-1],
)
def test_no_api_function_builds_the_webhook_publisher_and_only_sign_up_sends_email(root: ServiceRef[Service]) -> None:
    container.register_all()

    needed = set(registry.resolution_order([root]))

    assert container.WEBHOOKS.path not in needed
    if root is not container.REGISTRATION:
        assert container.EMAIL.path not in needed


@pytest.mark.parametrize(
    ("root", "not_needed"),
    [
        (container.EVENT_TRACKING, container.USERS),
        (container.EVENT_STATS, container.USERS),
        (container.USER_STATS, container.EVENT_COUNTS),
        (container.USER_QUERIES, container.ANALYTICS),
        # Only the list function has the cursor signing secret.
        (container.USER_QUERIES, container.CURSORS),
        (container.HEALTH, container.CURSORS),
    ],
    ids=lambda ref: ref.path.rsplit(":", 1)[-1],
)
def test_a_function_builds_no_store_it_does_not_read(root: ServiceRef[Service], not_needed: ServiceRef[object]) -> None:
    container.register_all()

    needed = set(registry.resolution_order([root]))

    assert root.path in needed
    assert not_needed.path not in needed


@pytest.mark.parametrize(
    "trigger", [container.EVENT_COUNTING, container.WEBHOOKS, container.WELCOME_RETRIES], ids=lambda ref: ref.path
)
def test_every_trigger_composite_lives_in_operations_with_one_entry(trigger: ServiceRef[Service]) -> None:
    cls = trigger.load()

    assert cls.__module__.startswith("nexus.operations."), "composites live in nexus/operations/"
    assert list(inspect.signature(cls.handle).parameters) == ["self", "event", "context"]  # type: ignore[attr-defined]
