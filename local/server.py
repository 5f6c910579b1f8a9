"""`python -m local start`: the template's API on 127.0.0.1, its triggers, and the local loop.

``LocalApi`` puts the parts together: the functions' workers (local.functions), API Gateway in
front of them (local.gateway), what is served beside the API (local.extras), the template's
stream and queue triggers (local.triggers), hot reload (local.reload) and the data's resets,
saves and loads (local.snapshots). ``main`` is the start command: it binds the port first, starts
the emulated AWS (local.emulated_aws), restores a persisted state, serves until a signal, and saves.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local import openapi, snapshot_file, snapshots, strict_dynamodb
from local.emulated_aws import EmulatedAws
from local.endpoint import RunningApi, endpoint_file, remove_if_ours
from local.extras import Extras
from local.functions import Functions
from local.gateway import Gateway
from local.http_server import Reply, Request, bind, stop_on_signals
from local.reload import LAYER_SOURCE, LayerSync, Watcher, template_change
from local.runtime_dir import prepared_runtime
from local.template import ROOT, TEMPLATE_PATH, Template
from local.tokens import make_token
from local.triggers import Triggers

# How long a save waits for the triggers to deliver what the streams and queues hold.
SETTLE_SECONDS = 10.0


class LocalApi:
    """What the server serves: the template's routes and functions, the local extras, the triggers."""

    def __init__(self, template: Template, aws: EmulatedAws, functions: Functions) -> None:
        self.template = template
        self.aws = aws
        self.functions = functions
        self.gateway = Gateway(template.routes(), self.functions)
        self.extras = Extras(self)
        self.triggers = Triggers(template, self.functions.invoke)
        self.layer_sync = LayerSync(functions.layer_dir / "nexus")
        self._watcher: Watcher | None = None
        self._openapi: dict[str, Any] | None = None
        self._openapi_lock = threading.Lock()
        self._state_lock = threading.Lock()  # one reset, save or load at a time

    def start(self, *, reload: bool = False, restored: bool = False) -> LocalApi:
        """``reload``: watch the sources (local/reload.py); ``restored``: the emulated AWS holds a
        loaded snapshot, whose stream records are not delivered again."""
        self.triggers.start(self.aws.resources, skip_existing=restored)
        if reload:
            code = {function.code_uri for function in self.functions.definitions.values()}
            self._watcher = Watcher([*code, LAYER_SOURCE, TEMPLATE_PATH], self.apply_changes).start()
        return self

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        self.triggers.stop()
        self.functions.stop()

    def dispatch(self, request: Request) -> Reply:
        return self.extras.route(request) or self.gateway.dispatch(request)

    def apply_changes(self, paths: set[Path]) -> None:
        """A save under functions/, layers/shared/ or template.yaml: restart what it affects (local.reload)."""
        started = time.monotonic()
        notes: list[str] = []
        affected: set[str] = set()
        for path in sorted(p for p in paths if p.is_relative_to(LAYER_SOURCE)):
            self.layer_sync.apply(path)
            affected |= set(self.functions.definitions)  # every function imports the layer
        notes += list(self.layer_sync.syntax_errors.values())
        for name, function in self.functions.definitions.items():
            if any(path.is_relative_to(function.code_uri) for path in paths):
                affected.add(name)
        if TEMPLATE_PATH in paths:
            change = template_change(self.template, self.aws.parameters)
            if isinstance(change, str):
                notes.append(change)
            else:
                self.template, self.gateway.routes = change.template, change.template.routes()
                self.functions.redefine(change.template)
                affected |= change.functions
                with self._openapi_lock:
                    self._openapi = None
                if change.needs_restart:
                    notes.append(f"template.yaml: restart `make start` to apply {', '.join(change.needs_restart)}")
        self.functions.retire(affected)
        changed = ", ".join(sorted(str(p.relative_to(ROOT)) for p in paths if p.is_relative_to(ROOT)))
        restarted = ", ".join(sorted(affected)) or "nothing"
        print(f"reload: {changed} -> {restarted} ({(time.monotonic() - started) * 1000:.0f} ms)", file=sys.stderr)
        for note in notes:
            print(f"reload: {note}", file=sys.stderr, flush=True)

    def reset(self) -> None:
        # New resources come with a new secret value: workers started before hold the old one.
        with self._state_lock:
            self.triggers.stop()
            self.functions.stop()
            self.aws.reset()
            self.triggers.start(self.aws.resources)

    def save(self, path: Path) -> snapshot_file.Snapshot:
        """Once the triggers have delivered what the streams and queues hold, the data into ``path``."""
        with self._state_lock:
            late = self.triggers.settle(SETTLE_SECONDS)
            if late:
                print(
                    f"snapshot: still delivering after {SETTLE_SECONDS:.0f} s: {', '.join(late)} "
                    "(what they have not read yet is not delivered after a load)",
                    file=sys.stderr,
                    flush=True,
                )
            snapshot = snapshots.capture(self.aws)
            snapshot_file.write(path, snapshot)
            return snapshot

    def load(self, path: Path, name: str | None = None) -> snapshot_file.Snapshot:
        """Replace the data with the snapshot in ``path``: checked whole first, so a snapshot that
        cannot be loaded changes nothing; one that fails while it is written leaves empty resources."""
        snapshot = snapshot_file.read(path, name)
        if not self.aws.embedded:
            raise snapshot_file.NotEmbedded("snapshots need the embedded emulated AWS (AWS_ENDPOINT_URL is set)")
        snapshots.check(snapshot, self.aws.resources, str(path))
        with self._state_lock:
            self.triggers.stop()
            self.functions.stop()  # they hold the secrets' values of before
            self.aws.reset()
            try:
                snapshots.restore(self.aws, snapshot)
            except (ClientError, BotoCoreError, snapshot_file.SnapshotError, ValueError, KeyError, TypeError) as error:
                self.aws.reset()
                self.triggers.start(self.aws.resources)
                raise snapshot_file.SnapshotError(
                    f"{path} could not be loaded ({error}): the emulated AWS was left empty"
                ) from error
            self.triggers.start(self.aws.resources, skip_existing=True)
        return snapshot

    def openapi(self) -> dict[str, Any]:
        with self._openapi_lock:
            if self._openapi is None:
                self._openapi = openapi.document(self.functions, self.gateway.routes)
            return self._openapi


def _banner(port: int, seconds: float, aws_endpoint: str, persisted: Path | None = None) -> str:
    token = make_token()
    base = f"http://127.0.0.1:{port}"
    return "\n".join(
        [
            f"Nexus Serverless local API on {base} (ready in {seconds:.2f} s)",
            f"  docs: {base}/docs  openapi: {base}/openapi.json  emails: {base}/_local/emails",
            f"  webhooks: {base}/_local/webhooks  faults: {base}/_local/faults  invariants: {base}/_local/invariants",
            f"  emulated AWS: AWS_ENDPOINT_URL={aws_endpoint}",
            *([f"  the data is saved to {persisted} when the server stops (--persist)"] if persisted else []),
            "  token with every scope (signature not checked locally):",
            f"  TOKEN={token}",
            f'  curl -H "Authorization: Bearer $TOKEN" {base}/users',
            f"  `python -m local invoke` uses this AWS while the server runs ({endpoint_file()})",
            f"Ctrl-C, or kill -INT / -TERM {os.getpid()}, stops the server, its workers and moto.",
        ]
    )


def _persisted_state(persist: bool) -> tuple[Path | None, snapshot_file.Snapshot | None] | str:
    """--persist: where the state is kept and what it holds (None: none yet); an error line when it cannot be read."""
    if not persist:
        return None, None
    if os.environ.get("AWS_ENDPOINT_URL"):
        return "--persist keeps the embedded emulated AWS's data: AWS_ENDPOINT_URL is set, and that keeps its own"
    path = snapshot_file.state_file()
    if not path.exists():
        return path, None
    try:
        return path, snapshot_file.read(path)
    except snapshot_file.SnapshotError as error:
        return f"{error}: move it away, or start without --persist"


def _load_state(aws: EmulatedAws, path: Path, state: snapshot_file.Snapshot) -> str | None:
    """The persisted state into the new emulated AWS; an error line when it cannot be."""
    started = time.monotonic()
    try:
        snapshots.check(state, aws.resources, str(path))
        snapshots.restore(aws, state)
    except (ClientError, BotoCoreError, snapshot_file.SnapshotError, ValueError, KeyError, TypeError) as error:
        return f"{path} could not be loaded ({error}): move it away, or start without --persist"
    elapsed = time.monotonic() - started
    print(f"loaded the state of {path} in {elapsed:.2f} s: {state.summary()}", file=sys.stderr, flush=True)
    return None


def _save_state(api: LocalApi, path: Path) -> None:
    started = time.monotonic()
    try:
        snapshot = api.save(path)
    except (ClientError, BotoCoreError, snapshot_file.SnapshotError, OSError) as error:
        print(f"error: the state was not saved to {path}: {error}", file=sys.stderr, flush=True)
        return
    elapsed = time.monotonic() - started
    print(f"saved the state to {path} in {elapsed:.2f} s: {snapshot.summary()}", file=sys.stderr, flush=True)


def main(
    port: int,
    parameters: dict[str, str] | None = None,
    conflicts: tuple[float, float] = (0.0, 0.0),
    persist: bool = False,
    *,
    reload: bool = True,
    debug: tuple[str, int] | None = None,
) -> int:
    """Serve the API; ``conflicts``: the share of DynamoDB transactions cancelled with
    TransactionConflict, and how long a transaction holds its items (local/strict_dynamodb.py);
    ``persist``: start from the data saved when the last such server stopped, save it when this
    one stops; ``reload``: a saved change is live on the next request (local/reload.py);
    ``debug``: (function, port) whose worker runs under debugpy."""
    started = time.monotonic()
    template = Template()
    persisted = _persisted_state(persist)
    if isinstance(persisted, str):
        print(f"error: {persisted}", file=sys.stderr)
        return 2
    state_path, state = persisted
    runtime = prepared_runtime()
    if runtime is None:
        return 2
    runtime_dir, layer_dir, rie = runtime
    if debug is not None and debug[0] not in template.functions():
        print(f"error: --debug {debug[0]}: no such function in template.yaml", file=sys.stderr)
        return 2
    server = bind(port)
    if isinstance(server, str):
        print(f"error: {server}", file=sys.stderr)
        return 2
    stop_on_signals(server)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    # Webhooks go to the server's own receiver (/_local/webhooks) unless told otherwise.
    parameters = {"WebhookUrls": f"{base_url}/_local/webhooks", **(parameters or {})}
    aws = EmulatedAws(template, os.environ.get("AWS_ENDPOINT_URL"), parameters).start()
    if state_path is not None and state is not None:
        failed = _load_state(aws, state_path, state)
        if failed is not None:
            server.server_close()
            aws.stop()
            print(f"error: {failed}", file=sys.stderr)
            return 2
    strict_dynamodb.conflicts.rate, strict_dynamodb.conflicts.overlap_seconds = conflicts
    aws.faults.base_conflict_rate = conflicts[0]
    functions = Functions(template, aws, rie, runtime_dir, layer_dir, debug)
    api = LocalApi(template, aws, functions).start(reload=reload, restored=state is not None)
    server.api = api
    running_file = endpoint_file()
    resources = {name: found["Ref"] for name, found in aws.resources.physical.items()}
    RunningApi(os.getpid(), base_url, aws.endpoint_url, resources).write(running_file)
    ready = time.monotonic() - started
    print(_banner(server.server_address[1], ready, aws.endpoint_url, state_path), file=sys.stderr, flush=True)
    if debug is not None:
        print(
            f"  debug: {debug[0]} runs under debugpy; at its first request it waits for a debugger on"
            f" 127.0.0.1:{debug[1]} (VS Code: local/README.md, A debugger)",
            file=sys.stderr,
            flush=True,
        )
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        remove_if_ours(running_file, os.getpid())
        server.server_close()
        if state_path is not None:
            _save_state(api, state_path)  # no request comes in any more; the triggers still deliver
        api.stop()
        aws.stop()
        print("stopped", file=sys.stderr, flush=True)
    return 0
