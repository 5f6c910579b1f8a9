"""The running `python -m local start`'s address book: `.build/local-endpoint.json`.

`start` writes it once its emulated AWS holds the template's resources and removes it when it
stops; `invoke` reads it so that a function invoked from another terminal works on the same data
(ids created over HTTP are found). ``$LOCAL_ENDPOINT_FILE`` moves it (the tests' servers use
their own, so they never shadow a developer's `make start`).
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local.template import ROOT

ENDPOINT_FILE_ENV = "LOCAL_ENDPOINT_FILE"


def endpoint_file() -> Path:
    return Path(os.environ.get(ENDPOINT_FILE_ENV) or ROOT / ".build" / "local-endpoint.json")


@dataclass(frozen=True)
class RunningApi:
    pid: int
    api_url: str
    aws_endpoint_url: str
    resources: dict[str, str]  # logical id -> physical name or ARN, for people reading the file

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{self.pid}")
        partial.write_text(json.dumps(asdict(self), indent=2) + "\n")
        partial.replace(path)  # atomic: a reader never sees half a file


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=0.5).close()
    except OSError:
        return False
    return True


def running_api(path: Path | None = None) -> RunningApi | None:
    """The API that wrote the file, if it still runs (its process is alive and its AWS answers)."""
    path = path or endpoint_file()
    try:
        document = json.loads(path.read_text())
        running = RunningApi(
            pid=int(document["pid"]),
            api_url=str(document["api_url"]),
            aws_endpoint_url=str(document["aws_endpoint_url"]),
            resources=dict(document.get("resources") or {}),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, or not ours: as if nothing ran
    if not (_process_alive(running.pid) and _listening(running.aws_endpoint_url)):
        return None
    return running


def remove_if_ours(path: Path, pid: int) -> None:
    """Remove the file unless another server has written its own since."""
    try:
        if int(json.loads(path.read_text())["pid"]) == pid:
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        return


class ServerUnreachable(RuntimeError):
    """No `make start` runs in this clone (``running`` False), or it did not answer: one line."""

    def __init__(self, message: str, *, running: bool) -> None:
        super().__init__(message)
        self.running = running


def call_running(
    method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float = 90.0
) -> tuple[int, dict[str, Any]]:
    """A request to the running `make start`'s own endpoints (``/_local/...``): its status and JSON
    document (an error status included); ``ServerUnreachable`` when there is no one to ask."""
    running = running_api()
    if running is None:
        raise ServerUnreachable(
            f"no `make start` runs in this clone ({endpoint_file()} names none alive)", running=False
        )
    data = json.dumps(body or {}).encode() if method == "POST" else None
    request = urllib.request.Request(  # noqa: S310 - the local server's own address
        f"{running.api_url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.status, dict(json.loads(answer.read()))
    except urllib.error.HTTPError as error:
        try:
            return error.code, dict(json.loads(error.read() or b"{}"))
        except (ValueError, TypeError):
            return error.code, {"message": f"the server answered {error.code}"}
    except (OSError, ValueError) as error:  # URLError, a timeout, a reset, a body that is not JSON
        message = f"the server at {running.api_url} did not answer ({error}): is it still running?"
        raise ServerUnreachable(message, running=True) from None
