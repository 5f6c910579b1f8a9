"""What the local server serves beside the API: its docs, the inbox, and the developer endpoints.

``/`` (to the docs), ``/openapi.json`` and ``/docs`` (Swagger UI, from Powertools' copy),
``/docs/API.md``, the inbox (``/_local/emails``), ``/_local/reset``, snapshots
(``/_local/snapshots/NAME/save|load``), faults, invariants and the webhook receiver
(local.devtools).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from local import snapshot_file
from local.devtools import DevTools
from local.http_server import Reply, Request
from local.openapi import openapi_text
from local.template import ROOT

if TYPE_CHECKING:
    from local.server import LocalApi

SWAGGER_ASSETS = ("swagger-ui-bundle.min.js", "swagger-ui.min.css")
API_DOC = ROOT / "docs" / "API.md"  # linked from the document
SNAPSHOTS = "/_local/snapshots/"


class Extras:
    def __init__(self, stack: LocalApi) -> None:
        self.stack = stack
        self.devtools = DevTools(stack.aws)

    def route(self, request: Request) -> Reply | None:
        """The reply to a request for one of them; None for any other request."""
        key = (request.method, request.path)
        if key in (("GET", "/"), ("HEAD", "/")):
            return Reply(302, [("Location", "/docs")])
        if key == ("GET", "/openapi.json"):
            return Reply(200, [("Content-Type", "application/json")], openapi_text(self.stack.openapi()).encode())
        if key == ("GET", "/docs/API.md"):
            return Reply(200, [("Content-Type", "text/markdown; charset=utf-8")], API_DOC.read_bytes())
        if key == ("GET", "/docs"):
            return Reply(200, [("Content-Type", "text/html; charset=utf-8")], DOCS_PAGE.encode())
        if request.method == "GET" and request.path.startswith("/docs/") and request.path[6:] in SWAGGER_ASSETS:
            return _swagger_asset(request.path[6:])
        if request.method == "GET" and (request.path == "/_local/emails" or request.path.startswith("/_local/emails/")):
            return self._emails(request)
        if key == ("POST", "/_local/reset"):
            self.stack.reset()
            self.devtools.forget_webhooks()
            return Reply.json(200, {"reset": True})
        if request.method == "POST" and request.path.startswith(SNAPSHOTS):
            name, _, action = request.path.removeprefix(SNAPSHOTS).partition("/")
            if action in ("save", "load"):
                return self._snapshot(unquote(name), action)
        return self._devtools_route(request)

    def _devtools_route(self, request: Request) -> Reply | None:
        tools, key = self.devtools, (request.method, request.path)
        answer = None
        if key == ("GET", "/_local/faults"):
            answer = tools.faults()
        elif key == ("POST", "/_local/faults"):
            answer = tools.turn_on(request.body)
        elif key == ("DELETE", "/_local/faults"):
            answer = tools.turn_off(None)
        elif request.method == "DELETE" and request.path.startswith("/_local/faults/"):
            answer = tools.turn_off(unquote(request.path.removeprefix("/_local/faults/")))
        elif key == ("GET", "/_local/invariants"):
            answer = tools.invariants()
        elif key == ("POST", "/_local/webhooks"):
            answer = tools.receive_webhook(request.headers, request.body)
        elif key == ("GET", "/_local/webhooks"):
            answer = tools.webhooks()
        return None if answer is None else Reply.json(*answer)

    def _snapshot(self, name: str, action: str) -> Reply:
        """`python -m local snapshot save|load NAME`, done here: the mail and the triggers are this process's."""
        try:
            path = snapshot_file.snapshot_path(name)
            snapshot = self.stack.save(path) if action == "save" else self.stack.load(path, name)
        except snapshot_file.SnapshotError as error:
            return Reply.message(error.status, str(error))
        done = "saved" if action == "save" else "loaded"
        print(f"snapshot {name} {done} ({path}): {snapshot.summary()}", file=sys.stderr, flush=True)
        return Reply.json(200, {"name": name, "path": str(path), "summary": snapshot.summary()})

    def _emails(self, request: Request) -> Reply:
        """The inbox: HTML for a browser, JSON for scripts (see local.inbox.wants_html)."""
        from local import inbox

        mails = self.stack.aws.sent_mail()
        rest = request.path.removeprefix("/_local/emails").strip("/")
        if not rest:
            try:
                html = inbox.wants_html(request.headers.get("accept"), request.raw_query)
            except inbox.FormatError as error:
                return Reply.message(400, str(error))
            if not html:
                reply = Reply.json(200, {"emails": [mail.document() for mail in mails]})
            else:
                page = inbox.inbox_page(mails, embedded=self.stack.aws.embedded)
                reply = Reply(200, list(inbox.PAGE_HEADERS), page.encode())
            reply.headers.append(("Vary", "Accept"))
            return reply
        message_id, _, part = unquote(rest).partition("/")
        found = next((mail for mail in mails if mail.id == message_id), None)
        if found is None or part not in ("", "html"):
            return Reply.message(404, "Not Found")
        if part == "html":
            return Reply(200, list(inbox.MESSAGE_HEADERS), (found.html or "").encode())
        return Reply(200, list(inbox.PAGE_HEADERS), inbox.message_page(found).encode())


def _swagger_asset(name: str) -> Reply:
    # Powertools ships Swagger UI for its own /swagger route: no CDN needed offline.
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    data = (Path(swagger_ui.__file__).parent / name).read_bytes()
    kind = "application/javascript" if name.endswith(".js") else "text/css"
    return Reply(200, [("Content-Type", kind), ("Cache-Control", "max-age=3600")], data)


DOCS_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Nexus Serverless API (local)</title>
<link rel="stylesheet" href="/docs/swagger-ui.min.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.min.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true});</script>
</body></html>
"""
