"""`/_local/emails` in a real browser: Debian's chromium, driven by selenium, started here.

Mail reaches the inbox the two ways it does in use: welcome emails of users created over the API,
and one message sent straight to the emulated SES with an HTML part that tries to run script, a
text part and attachments. The browser must show them newest first, render the HTML in a
sandboxed frame without running any of its script, and show the text part and the attachments.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from devkit.local_server import LocalServer
from local.account import FAKE_CREDENTIALS, REGION
from local.template import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = ROOT / "docs" / "inbox.png"  # written when UPDATE_SCREENSHOTS=1
# The probes: each script or handler, if it ran, would overwrite the element it names.
HOSTILE_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>report</title></head>
<body style="font-family:sans-serif"><h1 id="greeting">Your weekly report</h1>
<p>3 new users, 120 events.</p>
<p id="script-probe">script in this email: not run</p><p id="onerror-probe">onerror handler: not run</p>
<script>document.getElementById("script-probe").textContent = "script ran"; top.document.title = "pwned";</script>
<img src="x:missing" alt="" onerror="document.getElementById('onerror-probe').textContent = 'onerror ran'">
</body></html>"""
TEXT = "Your weekly report\n\n3 new users, 120 events.\n"
PDF = b"%PDF-1.4\n" + b"0" * 1200


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    # Fail, never skip: CI must judge this page (make system-deps installs both).
    assert CHROMIUM.exists(), f"{CHROMIUM} missing: `make system-deps` installs chromium"
    assert CHROMEDRIVER.exists(), f"{CHROMEDRIVER} missing: `make system-deps` installs chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1100,860",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _create_user(server: LocalServer, full_name: str) -> dict[str, str]:
    name = f"inbox_{uuid.uuid4().hex[:8]}"
    created = server.request(
        "POST", "/users", json_body={"username": name, "email": f"{name}@example.com", "full_name": full_name}
    )
    assert created.status == 201, created.body
    return dict(created.json())


def _send_hostile_report(server: LocalServer) -> tuple[str, str]:
    """Straight to the emulated SES v2, raw MIME: hostile HTML, a text part, two attachments."""
    running = server.running
    subject = 'Weekly report <b>bold</b><script>document.title="pwned"</script>'
    message = EmailMessage()
    message["From"] = running["resources"]["SenderIdentity"]
    message["To"] = "ops@example.com"
    message["Subject"] = subject
    message.set_content(TEXT)
    message.add_alternative(HOSTILE_HTML, subtype="html")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    message.add_attachment(b"user,events\n", maintype="text", subtype="csv", filename="users <1>.csv")
    ses = boto3.client(
        "sesv2",
        region_name=REGION,
        endpoint_url=running["aws_endpoint_url"],
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    )
    sent = ses.send_email(
        FromEmailAddress=message["From"],
        Destination={"ToAddresses": ["ops@example.com"]},
        Content={"Raw": {"Data": message.as_bytes()}},
    )
    return str(sent["MessageId"]), subject


def _cells(row: WebElement) -> list[str]:
    return [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]


def test_inbox_page_in_a_browser(server: LocalServer, browser: WebDriver, tmp_path: Path) -> None:
    plain = _create_user(server, "Ada Lovelace")
    hostile = _create_user(server, '<script>top.document.title="pwned"</script><img src=x onerror="alert(1)">')
    report_id, report_subject = _send_hostile_report(server)

    browser.get(f"{server.base_url}/_local/emails")
    assert browser.title.startswith("Local inbox (")
    headings = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#inbox thead th")]
    assert headings == ["TO", "SUBJECT", "SENT", "ATTACHMENTS"]  # shown upper-case by the page's CSS
    rows = browser.find_elements(By.CSS_SELECTOR, "#inbox tbody tr")
    newest = [_cells(row) for row in rows[:3]]
    # Newest first; the subject is shown as the text it is, markup and all.
    assert [cells[0] for cells in newest] == ["ops@example.com", hostile["email"], plain["email"]]
    assert [cells[1] for cells in newest] == [
        report_subject,
        f"Welcome to Nexus, {hostile['username']}!",
        f"Welcome to Nexus, {plain['username']}!",
    ]
    assert [cells[3] for cells in newest] == ["2", "", ""]
    times = [_cells(row)[2] for row in rows]
    assert all(time.endswith(" UTC") for time in times[:3])
    assert times[:3] == sorted(times[:3], reverse=True)
    assert browser.find_elements(By.TAG_NAME, "script") == []

    # The report's own page: its HTML rendered in a sandboxed frame, script not run.
    rows[0].find_element(By.TAG_NAME, "a").click()
    assert browser.current_url == f"{server.base_url}/_local/emails/{quote(report_id, safe='')}"
    frame = browser.find_element(By.ID, "html-part")
    assert frame.get_attribute("sandbox") == ""  # every restriction, allow-scripts not among the exceptions
    assert browser.find_element(By.ID, "text-part").text == TEXT.strip()
    attachments = [_cells(row) for row in browser.find_elements(By.CSS_SELECTOR, "#attachments tbody tr")]
    assert attachments == [["report.pdf", "application/pdf", "1.2 KiB"], ["users <1>.csv", "text/csv", "12 bytes"]]
    assert browser.title == report_subject
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        browser.save_screenshot(str(SCREENSHOT))
    browser.save_screenshot(str(tmp_path / "message.png"))
    assert (tmp_path / "message.png").read_bytes().startswith(b"\x89PNG")
    browser.switch_to.frame(frame)
    try:
        assert browser.find_element(By.ID, "greeting").text == "Your weekly report"  # the HTML renders
        assert browser.find_element(By.ID, "script-probe").text == "script in this email: not run"
        assert browser.find_element(By.ID, "onerror-probe").text == "onerror handler: not run"
    finally:
        browser.switch_to.default_content()
    assert browser.title == report_subject

    # The HTML part opened on its own is sandboxed by its CSP just the same.
    browser.get(f"{server.base_url}/_local/emails/{quote(report_id, safe='')}/html")
    assert browser.find_element(By.ID, "greeting").text == "Your weekly report"
    assert browser.find_element(By.ID, "script-probe").text == "script in this email: not run"
    assert browser.find_element(By.ID, "onerror-probe").text == "onerror handler: not run"

    # The welcome email: the hostile full name arrives as text (the template escapes it).
    browser.get(f"{server.base_url}/_local/emails")
    browser.find_elements(By.CSS_SELECTOR, "#inbox tbody tr")[1].find_element(By.TAG_NAME, "a").click()
    assert browser.find_element(By.ID, "text-part").text.startswith(f"Hello {hostile['full_name']},")
    browser.switch_to.frame(browser.find_element(By.ID, "html-part"))
    try:
        assert browser.find_element(By.TAG_NAME, "p").text == f"Hello {hostile['full_name']},"
    finally:
        browser.switch_to.default_content()
    assert browser.title == f"Welcome to Nexus, {hostile['username']}!"


def test_the_probes_would_see_script_run(browser: WebDriver, tmp_path: Path) -> None:
    """Control: the same HTML outside the sandbox does run its script, so the probes can fail."""
    page = tmp_path / "unsandboxed.html"
    page.write_text(HOSTILE_HTML)
    browser.get(page.as_uri())
    assert browser.find_element(By.ID, "script-probe").text == "script ran"
    assert browser.find_element(By.ID, "onerror-probe").text == "onerror ran"


def test_scripts_keep_their_json(server: LocalServer) -> None:
    for headers, path in (
        ({}, "/_local/emails"),
        ({"Accept": "*/*"}, "/_local/emails"),
        ({"Accept": "application/json"}, "/_local/emails"),
        ({"Accept": "text/html"}, "/_local/emails?format=json"),
    ):
        answer = server.request("GET", path, headers=headers, scope=None)
        assert answer.headers["Content-Type"] == "application/json", (headers, path)
        assert isinstance(answer.json()["emails"], list)
    page = server.request("GET", "/_local/emails?format=html", scope=None)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none': no script at all
    bad = server.request("GET", "/_local/emails?format=xml", scope=None)
    assert (bad.status, bad.json()) == (400, {"message": "format must be json or html, not 'xml'"})
    assert server.request("GET", "/_local/emails/nope", scope=None).status == 404


def test_json_has_the_parts_time_and_attachments(server: LocalServer) -> None:
    report_id, subject = _send_hostile_report(server)
    emails = server.request("GET", "/_local/emails", scope=None).json()["emails"]
    (report,) = [email for email in emails if email["id"] == report_id]
    assert (report["subject"], report["to"], report["text"]) == (subject, ["ops@example.com"], TEXT)
    assert report["html"].strip() == HOSTILE_HTML.strip()
    assert report["sent_at"].endswith("Z")
    assert report["attachments"] == [
        {"filename": "report.pdf", "content_type": "application/pdf", "size": len(PDF)},
        {"filename": "users <1>.csv", "content_type": "text/csv", "size": 12},
    ]
    assert emails[-1]["id"] == report_id, "JSON stays in send order, as before"
