"""The local runner's developer endpoints beside the API: ``/_local/faults`` (faults on and off),
``/_local/invariants`` (the project's rules on the current data) and ``/_local/webhooks`` (where
the functions' webhooks go by default). Each answer is ``(status, JSON document)``; local.server
renders it. What each takes: local/README.md, "Faults on demand", "The project's rules on the
current data" and "Webhooks".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any

from local.account import ACCOUNT, FAKE_CREDENTIALS, REGION
from local.emulated_aws import EmulatedAws
from local.faults import FAULTS, FaultError
from local.template import ROOT

Answer = tuple[int, dict[str, Any]]
MAX_DELIVERIES = 200
# Headers of a webhook delivery worth showing (the signature carries its time).
_SHOWN_HEADERS = ("content-type", "user-agent", "nexus-signature")


class DevTools:
    def __init__(self, aws: EmulatedAws) -> None:
        self.aws = aws
        self._deliveries: deque[dict[str, Any]] = deque(maxlen=MAX_DELIVERIES)
        self._lock = threading.Lock()

    # faults ----------------------------------------------------------------------------------

    def faults(self) -> Answer:
        return 200, {
            "active": [fault.document() for fault in self.aws.faults.active()],
            "available": FAULTS,
        }

    def turn_on(self, body: bytes) -> Answer:
        if not self.aws.embedded:
            return 409, {"message": "faults need the runner's own emulated AWS (AWS_ENDPOINT_URL is set)"}
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict) or not isinstance(request.get("name"), str):
                raise FaultError('the body is {"name": ..., "rate": 0-1, "function": ..., "seconds": ...}')
            unknown = set(request) - {"name", "rate", "function", "seconds"}
            if unknown:
                raise FaultError(f"unknown fields: {', '.join(sorted(unknown))}")
            fault = self.aws.faults.turn_on(
                request["name"],
                float(request.get("rate", 1.0)),
                request.get("function"),
                float(request.get("seconds", 0.0)),
            )
        except (ValueError, TypeError) as error:  # FaultError is a ValueError; so is bad JSON
            return 400, {"message": str(error)}
        return 200, {"fault": fault.document()}

    def turn_off(self, name: str | None) -> Answer:
        try:
            self.aws.faults.turn_off(name)
        except FaultError as error:
            return 404, {"message": str(error)}
        return 200, {"active": [fault.document() for fault in self.aws.faults.active()]}

    # invariants ------------------------------------------------------------------------------

    def invariants(self) -> Answer:
        resources = self.aws.resources
        request: dict[str, Any] = {
            "endpoint": self.aws.endpoint_url,
            "region": REGION,
            "table": resources.physical["UsersTable"]["Ref"],
            "list_shards": resources.resolver.ref("UserListShards"),
            "welcomed": None,
            "queued": None,
        }
        if self.aws.embedded:  # the sent mail and the queues' messages are readable here only
            request["welcomed"] = sorted(
                address.casefold() for mail in self.aws.sent_mail() for address in mail.to if address
            )
            request["queued"] = sorted(self._queued_user_ids())
        environment = {
            **os.environ,
            **FAKE_CREDENTIALS,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)]),
        }
        completed = subprocess.run(
            [sys.executable, "-m", "local.invariants"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=environment,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        if completed.returncode != 0:
            return 500, {"message": "the check failed to run", "stderr": completed.stderr[-2000:]}
        result: dict[str, Any] = json.loads(completed.stdout)
        if request["welcomed"] is None:
            result["skipped"] = ["every user welcomed or queued: the mail is not readable with AWS_ENDPOINT_URL"]
        return 200, result

    def _queued_user_ids(self) -> set[str]:
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[ACCOUNT][REGION]
        found: set[str] = set()
        for logical_id in ("WelcomeEmailQueue", "WelcomeEmailDeadLetterQueue"):
            name = self.aws.resources.physical[logical_id]["QueueName"]
            queue = backend.queues.get(name)
            for message in list(queue._messages) if queue is not None else []:
                try:
                    found.add(str(json.loads(message.body)["user_id"]))
                except (ValueError, KeyError, TypeError):
                    continue
        return found

    # webhook receiver ------------------------------------------------------------------------

    def receive_webhook(self, headers: dict[str, str], body: bytes) -> Answer:
        slow = self.aws.faults.hits("slow_webhooks", None)
        if slow is not None:
            time.sleep(slow.seconds)
        delivery = {
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "headers": {name: headers[name] for name in _SHOWN_HEADERS if name in headers},
            "body": body.decode("utf-8", "replace"),
        }
        with self._lock:
            self._deliveries.append(delivery)
        return 200, {"received": True}

    def webhooks(self) -> Answer:
        with self._lock:
            return 200, {"deliveries": list(self._deliveries)}

    def forget_webhooks(self) -> None:
        with self._lock:
            self._deliveries.clear()
