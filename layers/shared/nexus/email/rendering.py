"""Email templates: files in the layer, rendered in-process with Jinja2.

A template is a folder ``<templates_dir>/<name>/`` holding ``subject.txt``, ``body.txt`` and
optionally ``body.html``. HTML is autoescaped, text is not; a variable the data lacks is an
error (``StrictUndefined``), never an empty string. Each templates folder gets one cached
Environment, which compiles each template once per execution environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)

from nexus.email.errors import EmailTemplateError

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None


@lru_cache(maxsize=8)
def template_environment(templates_dir: Path) -> Environment:
    """The one Environment of a templates folder (cached: templates load and compile once)."""
    return Environment(
        loader=FileSystemLoader(templates_dir),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        auto_reload=False,
        keep_trailing_newline=False,
    )


def _load(environment: Environment, name: str, file: str, *, required: bool) -> Template | None:
    path = f"{name}/{file}"
    try:
        return environment.get_template(path)
    except TemplateNotFound as exc:
        if required:
            raise EmailTemplateError(f"unknown email template {name!r}", template_name=name) from exc
        return None
    except TemplateSyntaxError as exc:
        raise EmailTemplateError(
            f"email template {name!r} has a syntax error in {file} line {exc.lineno}: {exc.message}",
            template_name=name,
        ) from exc


def render_template(
    name: str, data: Mapping[str, Any], *, templates_dir: Path = DEFAULT_TEMPLATES_DIR
) -> RenderedEmail:
    """Render template ``name`` with ``data``; raises EmailTemplateError on any template fault."""
    if not isinstance(name, str) or not TEMPLATE_NAME_PATTERN.fullmatch(name):
        raise EmailTemplateError(
            f"invalid email template name {name!r}: must be 1 to 64 of a-z 0-9 _, starting with a letter",
            template_name=str(name),
        )
    environment = template_environment(templates_dir)
    subject = _load(environment, name, "subject.txt", required=True)
    text = _load(environment, name, "body.txt", required=True)
    html = _load(environment, name, "body.html", required=False)
    assert subject is not None
    assert text is not None
    context = dict(data)
    try:
        return RenderedEmail(
            subject=subject.render(context).strip(),
            text=text.render(context),
            html=html.render(context) if html is not None else None,
        )
    except TemplateError as exc:  # data lacks a variable (UndefinedError), a bad include, ...
        raise EmailTemplateError(
            f"email template {name!r} cannot be rendered: {type(exc).__name__}: {exc.message}", template_name=name
        ) from exc
