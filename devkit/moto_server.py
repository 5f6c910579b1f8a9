"""moto in server mode on 127.0.0.1, with its WSGI app serialized.

moto's server handles requests in parallel without a lock on its backends, and a
cancelled transaction restores a stale copy of the table, erasing commits made
meanwhile. Serializing moto (not the code under test, whose threads still run
concurrently) keeps concurrency tests about our code rather than moto's races.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from local import strict_dynamodb


class _SerializedApp:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


@contextmanager
def serialized_moto_server() -> Iterator[str]:
    """Yield the endpoint URL of a moto server that stops when the block ends (its DynamoDB the
    strict one of local/strict_dynamodb.py, as in the tests and ``make start``)."""
    strict_dynamodb.install()
    app = _SerializedApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    try:
        yield endpoint
    finally:
        # moto's backends are process-wide: leave nothing behind for the next test.
        reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 - loopback
        urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - our own loopback server
        server.shutdown()
        thread.join(timeout=5)
