"""Run a function as Lambda does: the Runtime Interface Emulator, awslambdaric, an isolated Python.

Each worker is one ``aws-lambda-rie`` process (the binary aws-sam-cli ships and puts in its
containers) whose runtime is ``python -S -s -m awslambdaric <handler>`` on the host interpreter.
``-S`` keeps every site-packages off ``sys.path``, so the function sees only what it sees in
AWS: its code, the layer and the runtime's own packages (local.runtime_dir builds them).
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from local.account import FAKE_CREDENTIALS, REGION
from local.runtime_dir import RuntimeSetupError, base_python, debugpy_dir
from local.template import Function

if TYPE_CHECKING:
    from local.costs import InvocationUsage

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# API Gateway gives up on an integration after 30 s, whatever the function's timeout.
INTEGRATION_TIMEOUT = 30.0
# A debugged function's timeout, and how long its invocation may take (15 minutes, Lambda's most).
DEBUG_TIMEOUT = 900


# A caller id's usage since it was last taken (local.costs.UsageMeter.take).
UsageSource = Callable[[str], "InvocationUsage"]
_worker_numbers = itertools.count(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def lambda_environment(
    function: Function, variables: dict[str, str], endpoint_url: str, runtime_dir: Path, layer_dir: Path
) -> dict[str, str]:
    """The process environment Lambda gives the function; nothing of ours leaks in."""
    name = function.logical_id
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": os.pathsep.join(str(p) for p in (function.code_uri, layer_dir, runtime_dir)),
        # /var/task, /opt and /var/runtime are read-only on Lambda: Python uses the .pyc the layer
        # and the runtime ship and compiles the rest (the function's own code) at every init.
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(function.code_uri),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "_HANDLER": function.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint_url,
        # The layer's local mode: HTTPService may call http://127.0.0.1 (webhook receivers here).
        "LOCAL_MODE": "true",
        **FAKE_CREDENTIALS,
        **variables,
    }


@dataclass
class Invocation:
    """One invocation's outcome; ``payload`` is what Lambda's Invoke API would return."""

    payload: Any
    cold: bool
    duration_ms: float
    error: str | None = None  # errorType of a function error, "Timeout" for the watchdog

    @property
    def failed(self) -> bool:
        return self.error is not None


_INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: (?P<ms>[0-9.]+)\)")
_INVOKE_DONE = re.compile(r"INVOKE RTDONE\(.*duration: (?P<ms>[0-9.]+)ms\)")
_REPORT = re.compile(r"^REPORT RequestId: (?P<id>\S+)")


@dataclass
class _LogPump:
    """Forwards the emulator's and the runtime's output to our stderr and counts cold starts.

    The emulator's REPORT line has a made-up Init Duration and Max Memory Used (always the
    memory size), and its Duration includes the init. It is rewritten with the figures the
    emulator logs itself (INIT REPORT, INVOKE RTDONE) and the runtime process's peak RSS.
    Once the worker is being stopped, the emulator's shutdown chatter is dropped.
    """

    prefix: str
    memory_size: int = 0
    peak_rss_mb: Callable[[], int | None] = lambda: None
    # What the invocation cost, for its REPORT line (local.costs), given its duration in ms.
    costs: Callable[[float], str] | None = None
    inits: int = 0
    reports: int = 0
    stopping: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    _reported: threading.Condition = field(default_factory=threading.Condition)
    _init_ms: str | None = None
    _invoke_ms: str | None = None
    # The runtime's peak as last read: a REPORT printed once the runtime is gone (the emulator
    # stopping, a reset) still carries what it measured.
    _last_peak_mb: int | None = None

    def run(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = self.filter(raw.decode("utf-8", "replace").rstrip("\n"))
            if line is not None:
                sys.stderr.write(f"[{self.prefix}] {line}\n")
                sys.stderr.flush()

    def filter(self, line: str) -> str | None:
        """The line to show, or None."""
        if "(rapid)" in line:
            if "INIT START" in line:
                with self.lock:
                    self.inits += 1
            if found := _INIT_REPORT.search(line):
                self._init_ms = found["ms"]
            if found := _INVOKE_DONE.search(line):
                self._invoke_ms = found["ms"]
            # The emulator's own chatter; its warnings and errors still show, but not at shutdown.
            return None if self.stopping or "[INFO] (rapid)" in line else line
        if found := _REPORT.match(line):
            report = self._report(found["id"])
            with self._reported:
                self.reports += 1
                self._reported.notify_all()
            return report
        if line.startswith("START RequestId:"):
            self._read_peak()  # the runtime is alive now: keep its peak for the REPORT
        return line

    def wait_for_report(self, after: int, timeout: float) -> None:
        """Until a REPORT beyond the ``after``-th was read: the lines before it (INIT START) are
        counted then. The emulator may answer an invocation before this thread reads its log."""
        with self._reported:
            self._reported.wait_for(lambda: self.reports > after, timeout)

    def _read_peak(self) -> int | None:
        peak = self.peak_rss_mb()
        if peak is not None:
            self._last_peak_mb = peak
        return self._last_peak_mb

    def _report(self, request_id: str) -> str:
        fields = [f"REPORT RequestId: {request_id}"]
        if self._init_ms is not None:
            fields.append(f"Init Duration: {float(self._init_ms):.2f} ms")
        if self._invoke_ms is not None:
            fields.append(f"Duration: {float(self._invoke_ms):.2f} ms")
        fields.append(f"Memory Size: {self.memory_size} MB")
        peak = self._read_peak()
        if peak is not None:
            fields.append(f"Max Memory Used: {peak} MB")
        if self.costs is not None:
            fields.append(self.costs(float(self._invoke_ms or 0.0)))
        self._init_ms = self._invoke_ms = None
        return "\t".join(fields)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from each process's own stat line.

    Not ``/proc/<pid>/task/<tid>/children``: that lists a child under the thread that forked
    it and loses it when that thread ends, as the emulator's Go threads do (a REPORT line
    without Max Memory Used, now and then).
    """
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            after_comm = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        if int(after_comm[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _peak_of(pid: int, parent: int) -> int | None:
    """VmHWM of ``pid`` in MB if it is still ``parent``'s child (a pid can be reused)."""
    try:
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
        )
        if int(status["PPid"]) != parent:
            return None
        return max(1, round(int(status["VmHWM"].split()[0]) / 1024))
    except (OSError, ValueError, KeyError):
        return None


class LambdaWorker:
    """One execution environment of one function: started on demand, warm between invocations."""

    def __init__(
        self,
        function: Function,
        environment: dict[str, str],
        rie: Path,
        usage: UsageSource | None = None,
        debug_port: int | None = None,
    ) -> None:
        self.function = function
        self.debug_port = debug_port
        # Its AWS calls carry app/<function>.<n> in botocore's user agent: the emulated AWS
        # attributes them (faults for one function, this worker's REPORT costs).
        # The pid keeps a `local invoke` beside a running server from sharing a worker's id.
        self.caller = f"{function.logical_id}.{os.getpid()}.{next(_worker_numbers)}"
        self.environment = {**environment, "AWS_SDK_UA_APP_ID": self.caller}
        if debug_port is not None:
            # A paused function must not time out under the debugger.
            self.environment["AWS_LAMBDA_FUNCTION_TIMEOUT"] = str(DEBUG_TIMEOUT)
            self.environment["PYTHONPATH"] += os.pathsep + str(debugpy_dir())
        self.rie = rie
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        costs = None if usage is None else self._costs(usage)
        self._pump = _LogPump(function.logical_id, function.memory_size, self._peak_rss_mb, costs)
        self._invocations = 0  # since the process started: the first one initializes the runtime
        self._runtime_pid: int | None = None

    def _costs(self, usage: UsageSource) -> Callable[[float], str]:
        http = bool(self.function.routes)

        def report(duration_ms: float) -> str:
            return usage(self.caller).report(memory_mb=self.function.memory_size, duration_ms=duration_ms, http=http)

        return report

    def _peak_rss_mb(self) -> int | None:
        """The runtime's (the emulator's child's) VmHWM: what Lambda reports as Max Memory Used.
        Its pid is looked up once per runtime: a scan of /proc is too slow for every log line."""
        if self.process is None:
            return None
        rie = self.process.pid
        if self._runtime_pid is not None and (peak := _peak_of(self._runtime_pid, rie)) is not None:
            return peak
        for child in children(rie):
            if (peak := _peak_of(child, rie)) is not None:
                self._runtime_pid = child
                return peak
        return None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.port = free_port()
        self._invocations = 0
        self._pump.stopping = False
        command = [
            str(self.rie),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.port}",
            "--runtime-api-address",
            f"127.0.0.1:{free_port()}",
            base_python(),
            "-S",
            "-s",
            *self._debugger(),
            "-m",
            "awslambdaric",
            self.function.handler,
        ]
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            command,
            cwd=self.function.code_uri,
            env=self.environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        threading.Thread(target=self._pump.run, args=(self.process.stdout,), daemon=True).start()
        self._wait_listening()

    def _debugger(self) -> list[str]:
        """debugpy in front of the runtime: it waits at the first invocation for a client to attach."""
        if self.debug_port is None:
            return []
        return ["-m", "debugpy", "--listen", f"127.0.0.1:{self.debug_port}", "--wait-for-client"]

    def _wait_listening(self, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeSetupError(f"aws-lambda-rie for {self.function.logical_id} exited at start")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeSetupError(f"aws-lambda-rie for {self.function.logical_id} did not listen within {within}s")

    def stop(self) -> None:
        self.terminate()
        self.wait()

    def terminate(self) -> None:
        """Ask the emulator to stop (it kills its runtime); ``wait`` for it."""
        if self.process is not None and self.process.poll() is None:
            self._pump.stopping = True
            self.process.terminate()

    def wait(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def invoke(self, event: Any) -> Invocation:
        if not self.alive:
            self.start()
        inits_before, reports_before = self._pump.inits, self._pump.reports
        first = self._invocations == 0
        self._invocations += 1
        started = time.monotonic()
        # The emulator enforces the function's Timeout itself; this is the backstop for a hung emulator.
        watchdog = (
            DEBUG_TIMEOUT if self.debug_port is not None else min(self.function.timeout + 5.0, INTEGRATION_TIMEOUT)
        )
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=watchdog)
        try:
            connection.request(
                "POST", INVOKE_PATH, body=json.dumps(event), headers={"Content-Type": "application/json"}
            )
            raw = connection.getresponse().read()
        except (TimeoutError, OSError):
            self.stop()
            return Invocation(None, first or self._cold_since(inits_before), _elapsed(started), error="Timeout")
        finally:
            connection.close()
        payload = _decode_payload(raw)
        self._pump.wait_for_report(reports_before, timeout=1.0)
        cold = first or self._cold_since(inits_before)
        return Invocation(payload, cold, _elapsed(started), error=_function_error(payload))

    def _cold_since(self, inits_before: int) -> bool:
        # The emulator re-initializes the runtime after a timeout or crash and logs INIT START.
        return self._pump.inits > inits_before


def _elapsed(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _decode_payload(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        # The emulator answers a timeout in plain text ("Task timed out after 2.00 seconds").
        text = raw.decode("utf-8", "replace")
        kind = "Sandbox.Timedout" if "timed out" in text else "Runtime.InvalidResponse"
        return {"errorType": kind, "errorMessage": text}


def _function_error(payload: Any) -> str | None:
    if isinstance(payload, dict) and "errorMessage" in payload and "statusCode" not in payload:
        return str(payload.get("errorType") or "Unhandled")
    return None


class FunctionPool:
    """Warm workers of one function; a busy pool scales out as Lambda does (one request per worker)."""

    def __init__(self, new_worker: Callable[[], LambdaWorker], turn: threading.Semaphore | None = None) -> None:
        """``new_worker`` starts one more execution environment of the function. A debugged
        function's requests take ``turn`` (shared with the pool a reload replaces this one by, so
        that two workers never hold the debug port)."""
        self._new_worker = new_worker
        self._turn = turn
        self._retired = False
        self._idle: list[LambdaWorker] = []
        self._all: list[LambdaWorker] = []
        self._lock = threading.Lock()

    def _acquire(self) -> LambdaWorker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            worker = self._new_worker()
            self._all.append(worker)
            return worker

    def _release(self, worker: LambdaWorker) -> None:
        with self._lock:
            if not self._retired:
                self._idle.append(worker)
                return
            self._all.remove(worker)
        worker.stop()  # retired meanwhile (a reload): its invocation finished on the old code

    def retire(self) -> None:
        """Stop the idle workers now and the busy ones as they finish (local.reload)."""
        with self._lock:
            self._retired = True
            idle, self._idle = self._idle, []
            self._all = [worker for worker in self._all if worker not in idle]
        stop_all(idle)

    @property
    def empty(self) -> bool:
        with self._lock:
            return not self._all

    def invoke(self, event: Any) -> Invocation:
        if self._turn is not None:
            with self._turn:
                return self._invoke(event)
        return self._invoke(event)

    def _invoke(self, event: Any) -> Invocation:
        worker = self._acquire()
        try:
            return worker.invoke(event)
        finally:
            self._release(worker)

    def detach(self) -> list[LambdaWorker]:
        """Every worker, forgotten by the pool (to be stopped by the caller)."""
        with self._lock:
            workers, self._all, self._idle = self._all, [], []
        return workers

    def stop(self) -> None:
        stop_all(self.detach())


def stop_all(workers: list[LambdaWorker]) -> None:
    """Every worker asked first, then waited for: they stop in parallel."""
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait()
