"""render_template: Jinja2 files, strict about missing data, HTML escaped and text not."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.email import DEFAULT_TEMPLATES_DIR, EmailTemplateError, RenderedEmail, render_template
from nexus.email.rendering import template_environment


def write(directory: Path, name: str, files: dict[str, str]) -> None:
    (directory / name).mkdir(parents=True)
    for file, text in files.items():
        (directory / name / file).write_text(text)


def test_the_welcome_template() -> None:
    rendered = render_template("welcome", {"username": "alice", "full_name": "Alice <script>x</script>"})

    assert rendered.subject == "Welcome to Nexus, alice!"
    assert rendered.text.startswith("Hello Alice <script>x</script>,\n")
    assert rendered.html is not None
    assert "Hello Alice &lt;script&gt;x&lt;/script&gt;," in rendered.html
    assert "<script>" not in rendered.html
    assert "<strong>alice</strong>" in rendered.html


def test_html_is_escaped_and_text_and_subject_are_not(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "  {{ v }}  \n", "body.txt": "{{ v }}\n", "body.html": "<p>{{ v }}</p>"})

    rendered = render_template("t", {"v": "a & <b>"}, templates_dir=tmp_path)

    assert rendered == RenderedEmail(subject="a & <b>", text="a & <b>", html="<p>a &amp; &lt;b&gt;</p>")


def test_html_is_optional(tmp_path: Path) -> None:
    write(tmp_path, "plain", {"subject.txt": "S", "body.txt": "B"})

    assert render_template("plain", {}, templates_dir=tmp_path) == RenderedEmail("S", "B", None)


@pytest.mark.parametrize(
    "body", ["{{ missing }}", "{% if missing %}x{% endif %}", "{{ user.name }}", "{% for x in missing %}{% endfor %}"]
)
def test_missing_data_is_an_error(tmp_path: Path, body: str) -> None:
    write(tmp_path, "t", {"subject.txt": "S", "body.txt": "B", "body.html": body})

    with pytest.raises(EmailTemplateError, match="cannot be rendered") as raised:
        render_template("t", {"user": {}}, templates_dir=tmp_path)

    assert raised.value.code == "email_template_error"
    assert raised.value.template_name == "t"
    assert raised.value.message == "Email template could not be rendered"  # nothing internal in an API response


def test_a_missing_subject_or_text_body_is_an_unknown_template(tmp_path: Path) -> None:
    write(tmp_path, "only_html", {"subject.txt": "S", "body.html": "<p>x</p>"})

    with pytest.raises(EmailTemplateError, match="unknown email template 'only_html'"):
        render_template("only_html", {}, templates_dir=tmp_path)


def test_a_syntax_error_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "broken", {"subject.txt": "S", "body.txt": "line\n{% if %}"})

    with pytest.raises(EmailTemplateError, match=r"syntax error in body.txt line 2"):
        render_template("broken", {}, templates_dir=tmp_path)


def test_an_include_of_a_missing_template_is_not_an_optional_html_body(tmp_path: Path) -> None:
    write(tmp_path, "t", {"subject.txt": "S", "body.txt": "B", "body.html": '{% include "t/nope.html" %}'})

    with pytest.raises(EmailTemplateError, match=r"cannot be rendered: TemplateNotFound: 't/nope\.html' not found"):
        render_template("t", {}, templates_dir=tmp_path)


@pytest.mark.parametrize("name", ["..", "../t", "t/..", "t/../t", "T", "1t", "", "t.html", "a" * 65, "t\n"])
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    write(tmp_path, "t", {"subject.txt": "S", "body.txt": "B"})

    with pytest.raises(EmailTemplateError, match="invalid email template name"):
        render_template(name, {}, templates_dir=tmp_path)


def test_one_environment_per_templates_folder() -> None:
    assert template_environment(DEFAULT_TEMPLATES_DIR) is template_environment(DEFAULT_TEMPLATES_DIR)
    environment = template_environment(DEFAULT_TEMPLATES_DIR)
    assert environment.get_template("welcome/body.txt") is environment.get_template("welcome/body.txt")
