"""The runbook's log queries find lines the code really writes (issue 25): every message a
query in docs/OPERATIONS.md filters on is a message the layer logs, word for word."""

from __future__ import annotations

import re

from local.template import ROOT

RUNBOOK = ROOT / "docs" / "OPERATIONS.md"
QUERY_MESSAGES = re.compile(r'filter message (?:=\s*"([^"]+)"|in \[([^\]]+)\])')
LIKE = re.compile(r"filter message like /([^/]+)/")


def _logged_messages() -> str:
    """The text of every logger call's message in the layer (their first string argument)."""
    sources = [path.read_text() for path in (ROOT / "layers/shared/nexus").rglob("*.py")]
    return "\n".join(re.findall(r'logger\.(?:debug|info|warning|error|exception)\(\s*"([^"]+)"', "\n".join(sources)))


def _queried() -> set[str]:
    found: set[str] = set()
    for single, listed in QUERY_MESSAGES.findall(RUNBOOK.read_text()):
        found |= {single} if single else set(re.findall(r'"([^"]+)"', listed))
    return found


def test_every_message_a_runbook_query_filters_on_is_logged_by_the_layer() -> None:
    logged = set(_logged_messages().splitlines())
    queried = _queried()
    assert len(queried) >= 10, queried
    assert sorted(queried - logged) == []


def test_every_pattern_a_runbook_query_matches_finds_a_logged_message() -> None:
    logged = _logged_messages()
    for pattern in LIKE.findall(RUNBOOK.read_text()):
        for alternative in pattern.split("|"):
            assert re.search(alternative, logged), alternative


def test_every_table_a_stack_delete_leaves_is_named_where_operators_look() -> None:
    """A `Retain` resource outlives `sam delete`: the runbook and the teardown steps name each."""
    from local.template import Template

    retained = {name for name, resource in Template().resources.items() if resource.get("DeletionPolicy") == "Retain"}
    survives = RUNBOOK.read_text().split("Data that survives a delete:", 1)[1].split("\n\n", 1)[0]
    teardown = (ROOT / "docs" / "DEPLOY.md").read_text().split("What stays on purpose", 1)[1].split("\n\n", 2)[1]

    assert retained, "template.yaml retains its tables"
    for name in sorted(retained):
        assert f"`{name}`" in survives, f"docs/OPERATIONS.md, 'Data that survives a delete': name `{name}`"
        assert f"**{name}**" in teardown, f"docs/DEPLOY.md, 'What stays on purpose': how to remove **{name}**"
