"""`/_local/emails` for a person: the inbox page, one message's page, its HTML part on its own.

Everything shown is attacker-controlled (a user's full name ends up in an email), so every value
is escaped, the pages run no script at all (their CSP allows none), and a message's HTML renders
only inside ``<iframe sandbox>`` from a URL whose own CSP is ``sandbox`` too: no script, no
same-origin access, even when opened directly. No external CSS, JS or fonts: it works offline.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs, quote

from local.mail import SentMail

PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
# What an email's HTML may use: its own inline styles and data: images; never a script or a fetch.
MESSAGE_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
PAGE_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Content-Security-Policy", PAGE_CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]
MESSAGE_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Content-Security-Policy", MESSAGE_CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]


class FormatError(ValueError):
    """``?format=`` other than json or html."""


def _quality(accept: str, media_types: tuple[str, ...]) -> float:
    best = 0.0
    for entry in accept.split(","):
        kind, *parameters = (part.strip() for part in entry.split(";"))
        if kind.lower() not in media_types:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        best = max(best, quality)
    return best


def wants_html(accept: str | None, query: str) -> bool:
    """``?format=json|html`` decides; else HTML only when Accept names text/html above application/json.

    Scripts keep their JSON: no Accept, ``*/*`` (curl) or ``application/json`` all get JSON.
    """
    formats = parse_qs(query).get("format")
    if formats:
        if formats[-1] not in ("json", "html"):
            raise FormatError(f"format must be json or html, not {formats[-1]!r}")
        return formats[-1] == "html"
    html = _quality(accept or "", ("text/html", "application/xhtml+xml"))
    return html > 0 and html >= _quality(accept or "", ("application/json",))


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:baseline}
header h1{font-size:17px;margin:0}header a{color:#b9c6ff}main{padding:16px 20px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e8}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #e7e9ee;vertical-align:top}
th{background:#eef0f4;font-weight:600;font-size:12px;text-transform:uppercase;color:#4b5366}
td.time{white-space:nowrap;color:#4b5366}a{color:#2746c7}.muted{color:#6b7386}
.parts{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-top:16px}
.part h2,.attachments h2{font-size:13px;margin:0 0 6px;color:#4b5366;text-transform:uppercase}
iframe{width:100%;height:280px;border:1px solid #dde1e8;background:#fff}
pre{margin:0;height:260px;overflow:auto;white-space:pre-wrap;background:#fff;border:1px solid #dde1e8;padding:10px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:0;background:#fff;padding:10px;
border:1px solid #dde1e8}dt{color:#4b5366}dd{margin:0}.attachments{margin-top:16px}
"""


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head>'
        f'<body><header><h1>Local inbox</h1><a href="/_local/emails">all mail</a>'
        f'<a href="/_local/emails?format=json">JSON</a><a href="/docs">API docs</a></header>'
        f"<main>{body}</main></body></html>\n"
    )


def _when(mail: SentMail) -> str:
    return mail.sent_at.strftime("%Y-%m-%d %H:%M:%S UTC") if mail.sent_at else "—"


def message_url(mail: SentMail) -> str:
    return f"/_local/emails/{quote(mail.id, safe='')}"


def inbox_page(mails: list[SentMail], *, embedded: bool) -> str:
    """Newest first: To, Subject, Sent (and attachments), each subject linking to its message."""
    if not embedded:
        return _page(
            "Local inbox",
            '<p class="muted">Mail is shown only when the server runs its own emulated AWS '
            "(not with AWS_ENDPOINT_URL set).</p>",
        )
    if not mails:
        return _page(
            "Local inbox",
            '<p class="muted">No mail sent yet. Creating a user (<code>POST /users</code>) sends a welcome email.</p>',
        )
    rows = "".join(
        "<tr>"
        f"<td>{escape(', '.join(mail.to))}</td>"
        f'<td><a href="{escape(message_url(mail))}">{escape(mail.subject) or "(no subject)"}</a></td>'
        f'<td class="time">{escape(_when(mail))}</td>'
        f"<td>{len(mail.attachments) or ''}</td>"
        "</tr>"
        for mail in reversed(mails)
    )
    count = f"{len(mails)} message{'s' if len(mails) != 1 else ''}, newest first"
    return _page(
        f"Local inbox ({len(mails)})",
        f'<p class="muted">{count}</p><table id="inbox"><thead><tr><th>To</th><th>Subject</th><th>Sent</th>'
        f"<th>Attachments</th></tr></thead><tbody>{rows}</tbody></table>",
    )


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


def message_page(mail: SentMail) -> str:
    """Headers; the HTML part as it renders (sandboxed frame) beside the text part; the attachments."""
    fields = [("From", mail.source), ("To", ", ".join(mail.to))]
    if mail.cc:
        fields.append(("Cc", ", ".join(mail.cc)))
    fields += [("Subject", mail.subject), ("Sent", _when(mail)), ("Message id", mail.id)]
    headers = "".join(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in fields)
    if mail.html is not None:
        html_part = (
            f'<iframe id="html-part" sandbox="" referrerpolicy="no-referrer" title="HTML part" '
            f'src="{escape(message_url(mail))}/html"></iframe>'
        )
    else:
        html_part = '<p class="muted">No HTML part.</p>'
    if mail.text is not None:
        text_part = f'<pre id="text-part">{escape(mail.text)}</pre>'
    else:
        text_part = '<p class="muted">No text part.</p>'
    if mail.attachments:
        rows = "".join(
            f"<tr><td>{escape(a.filename)}</td><td>{escape(a.content_type)}</td><td>{escape(_size(a.size))}</td></tr>"
            for a in mail.attachments
        )
        attachments = (
            '<div class="attachments"><h2>Attachments</h2><table id="attachments"><thead><tr><th>Name</th>'
            f"<th>Type</th><th>Size</th></tr></thead><tbody>{rows}</tbody></table></div>"
        )
    else:
        attachments = '<div class="attachments"><h2>Attachments</h2><p class="muted">None.</p></div>'
    return _page(
        mail.subject or "(no subject)",
        f'<dl id="headers">{headers}</dl><div class="parts"><section class="part"><h2>HTML</h2>{html_part}</section>'
        f'<section class="part"><h2>Text</h2>{text_part}</section></div>{attachments}',
    )
