"""The local runner reads a function's Timeout from a template parameter, with overrides."""

from __future__ import annotations

from local.template import Template


def test_a_timeout_parameter_is_read_with_its_default_and_overrides(template: Template) -> None:
    assert template.functions()["PublishWebhooksFunction"].timeout == 30
    assert template.functions({"WebhookFunctionTimeout": "5"})["PublishWebhooksFunction"].timeout == 5
    assert template.functions({"WebhookFunctionTimeout": "5"})["GetUserFunction"].timeout == 10  # the Globals
