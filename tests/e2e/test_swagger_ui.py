"""Swagger UI at `/docs` in a real browser shows every parameter and body of the document."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from devkit.local_server import LocalServer
from tests.e2e.test_inbox_page import browser  # noqa: F401 - the module's chromium fixture


def _expand(page: WebDriver, operation: str) -> None:
    wait = WebDriverWait(page, 30)
    summary = wait.until(
        expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, f"#{operation} .opblock-summary"))
    )
    summary.click()
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, f"#{operation} .opblock-body")))


def test_swagger_ui_shows_the_list_routes_parameters_and_the_events_body(
    browser: WebDriver,  # noqa: F811
    server: LocalServer,
) -> None:
    browser.get(f"{server.base_url}/docs")
    _expand(browser, "operations-users-list_users")
    rows = browser.find_elements(By.CSS_SELECTOR, "#operations-users-list_users tr[data-param-name]")
    assert {row.get_attribute("data-param-name") for row in rows} == {"limit", "cursor", "search", "is_active", "tag"}
    assert "No parameters" not in browser.find_element(By.ID, "operations-users-list_users").text

    _expand(browser, "operations-events-track_events")
    body = browser.find_element(By.CSS_SELECTOR, "#operations-events-track_events .opblock-section-request-body")
    assert "application/json" in body.text
