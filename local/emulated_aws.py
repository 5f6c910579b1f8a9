"""The emulated AWS the functions talk to: moto in server mode, embedded in this process, or an
endpoint given; the template's resources provisioned in it (local.provisioning)."""

from __future__ import annotations

import logging
import threading
import urllib.request
from types import TracebackType
from typing import Any

from local.account import ACCOUNT, REGION, session
from local.costs import UsageMeter
from local.faults import Faults
from local.mail import SendRecorder, SentMail, sent_mail
from local.provisioning import LocalResources, provision
from local.runtime import free_port
from local.template import Template


class EmulatedAws:
    """moto on 127.0.0.1 started here, or ``endpoint_url`` (whose missing resources are created)."""

    def __init__(
        self, template: Template, endpoint_url: str | None = None, parameters: dict[str, str] | None = None
    ) -> None:
        self.template = template
        self.endpoint_url = endpoint_url or ""
        self.embedded = not endpoint_url
        self.parameters = dict(parameters or {})  # template parameter overrides
        self._server: Any = None
        self.recorder: SendRecorder | None = None
        # Faults and per-caller usage at the AWS boundary: only where moto runs in this process.
        self.faults = Faults(frozenset(template.functions()))
        self.usage = UsageMeter()
        self.restored_mail: list[SentMail] = []  # sent before a snapshot this AWS was loaded from
        self.resources = self._resources()

    def _resources(self) -> LocalResources:
        resources = LocalResources(self.template, session(), self.endpoint_url or None)
        resources.resolver.parameters.update(self.parameters)
        return resources

    def start(self) -> EmulatedAws:
        if self.embedded:
            longest = max(function.timeout for function in self.template.functions(self.parameters).values())
            self._server, self.recorder = _serve_moto(self.faults, self.usage, longest + 5.0)
            self.endpoint_url = f"http://127.0.0.1:{self._server.server_port}"
            self.resources = self._resources()
        provision(self.resources)
        return self

    def stop(self) -> None:
        self.faults.turn_off()
        self.usage.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Forget every resource and item (moto's reset API), then create the template's resources again."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - our own local endpoint
        if self.recorder is not None:
            self.recorder.clear()
        self.restored_mail = []
        self.resources = self._resources()
        provision(self.resources)

    def sent_mail(self) -> list[SentMail]:
        """Mail sent through SES, in send order; only readable from moto's backend when it runs in this process."""
        if not self.embedded:
            return []
        from moto.ses.models import ses_backends

        return [*self.restored_mail, *sent_mail(list(ses_backends[ACCOUNT][REGION].sent_messages), self.recorder)]

    def sent_emails(self) -> list[dict[str, Any]]:
        return [mail.document() for mail in self.sent_mail()]

    def __enter__(self) -> EmulatedAws:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _serve_moto(faults: Faults, usage: UsageMeter, stall_seconds: float) -> tuple[Any, SendRecorder]:
    """moto's server app (as ThreadedMotoServer runs it) behind the SES send recorder and the
    boundary (faults, per-caller usage), on a free port."""
    # Imported here: an invoke against the running `make start`'s AWS loads no moto.
    from moto.moto_server import werkzeug_app
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from local import strict_dynamodb
    from local.boundary import AwsBoundary

    strict_dynamodb.install()
    usage.attach()
    # No CORS headers (moto adds them to every answer): a web page must not read the emulated
    # AWS. The boundary refuses any Host but 127.0.0.1 and localhost (DNS rebinding).
    werkzeug_app.DISABLE_GLOBAL_CORS = True  # type: ignore[attr-defined]
    # One access-log line per AWS call drowns the functions' own logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    recorder = SendRecorder(DomainDispatcherApplication(create_backend_app))
    # Outside the recorder: a send the boundary rejects is not recorded as sent.
    boundary = AwsBoundary(recorder, faults, usage, stall_seconds)
    server = make_server("127.0.0.1", free_port(), boundary, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server, recorder
