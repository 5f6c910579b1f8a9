"""Cold start: a fresh, isolated interpreter importing the handler module (Lambda's init phase).

The child runs ``python -s -S`` (no site-packages) with ``sys.path`` = the function's
directory, the built layer (``.build/layer/python``) and the runtime's own packages
(``local.runtime.ensure_runtime_dir``: boto3, botocore, ... as the python3.13 runtime
ships them). Importing ``app`` runs ``lambda_entrypoint``/``event_entrypoint``: the
services and their clients are built, no AWS call is made. The baseline is a bare handler's
init: ``import boto3`` and the clients that function needs.

Two bytecode modes:

- ``deployed``: the layer has no ``.pyc`` (``sam build`` ships none, and ``/opt`` is
  read-only, so Python compiles every layer module at every cold start); the runtime's
  packages have theirs (the venv's, as the managed runtime's are precompiled).
- ``pyc``: every module has its ``.pyc`` (a warmed ``PYTHONPYCACHEPREFIX``), as a layer
  that ships compiled bytecode would.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.environment import function_environment
from local.runtime import LAYER_DIR, base_python, ensure_runtime_dir
from local.template import ROOT, Function, Template

PYCACHE = ROOT / ".build" / "bench" / "pycache"
MARK = "BENCH-INIT-MS "

# The clients (and pools) a bare handler of each function would create at init.
BARE_CLIENTS: dict[str, tuple[str, ...]] = {
    "CreateUserFunction": ("dynamodb", "sesv2", "kinesis", "sqs"),
    "GetUserFunction": ("dynamodb",),
    "GetUserByUsernameFunction": ("dynamodb",),
    "UpdateUserFunction": ("dynamodb", "kinesis"),
    "DeleteUserFunction": ("dynamodb", "kinesis"),
    "ListUsersFunction": ("dynamodb",),
    "HealthFunction": ("dynamodb",),
    "TrackEventsFunction": ("kinesis",),
    "CountEventsFunction": ("dynamodb", "sqs"),
    "EventStatsFunction": ("dynamodb",),
    "UserStatsFunction": ("dynamodb",),
    "SendWelcomeEmailFunction": ("dynamodb", "sesv2", "sqs"),
    "PublishWebhooksFunction": ("ssm", "urllib3"),
}

_HANDLER_CODE = f"""
import time
_started = time.perf_counter()
import app
_done = time.perf_counter()
import sys
sys.stdout.write("\\n{MARK}%.3f\\n" % ((_done - _started) * 1000))
"""


def _bare_code(clients: tuple[str, ...]) -> str:
    lines = ["import time", "_started = time.perf_counter()", "import boto3"]
    for service in clients:
        if service == "urllib3":
            lines += ["import urllib3", "_pool = urllib3.PoolManager()"]
        else:
            lines.append(f"_{service} = boto3.client({service!r})")
    lines += [
        "_done = time.perf_counter()",
        "import sys",
        f'sys.stdout.write("\\n{MARK}%.3f\\n" % ((_done - _started) * 1000))',
    ]
    return "\n".join(lines)


@dataclass
class ColdStart:
    function: str
    runs: int
    init_ms: float  # median of the child's own clock around the import
    process_ms: float  # median wall time of the whole process (interpreter start included)
    baseline_init_ms: float
    baseline_process_ms: float
    samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.init_ms / self.baseline_init_ms

    @property
    def process_ratio(self) -> float:
        return self.process_ms / self.baseline_process_ms


class Runner:
    def __init__(self, template: Template, mode: str) -> None:
        assert mode in ("deployed", "pyc")
        self.template = template
        self.mode = mode
        self.runtime_dir = ensure_runtime_dir()
        if not (LAYER_DIR / "nexus").is_dir():
            raise SystemExit(f"{LAYER_DIR} has no nexus package: run `make layer`")

    def environment(self, function: Function) -> dict[str, str]:
        env = function_environment(self.template, function)
        if not env.get("WEBHOOK_URLS"):
            env["WEBHOOK_URLS"] = "https://hooks.example.com/nexus"  # a deployment that has a receiver
        env.update(
            PATH="/usr/local/bin:/usr/bin:/bin",
            LANG="en_US.UTF-8",
            TZ=":UTC",
            PYTHONPATH=os.pathsep.join(str(p) for p in (function.code_uri, LAYER_DIR, self.runtime_dir)),
        )
        if self.mode == "pyc":
            env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def run(self, function: Function, code: str, *flags: str) -> tuple[float, float, str]:
        """(init ms from the child's clock, process wall ms, stderr)."""
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            [base_python(), "-s", "-S", *flags, "-c", code],
            cwd=function.code_uri,
            env=self.environment(function),
            capture_output=True,
            text=True,
            check=False,
        )
        wall = (time.perf_counter() - started) * 1000
        marks = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
        if done.returncode != 0 or not marks:
            raise RuntimeError(f"{function.logical_id} init failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return float(marks[-1].removeprefix(MARK)), wall, done.stderr

    def median_of(self, function: Function, code: str, runs: int) -> tuple[float, float, list[float]]:
        self.run(function, code)  # warm-up: the OS file cache (and the pyc prefix in "pyc" mode)
        inits, walls = [], []
        for _ in range(runs):
            init, wall, _ = self.run(function, code)
            inits.append(init)
            walls.append(wall)
        return statistics.median(inits), statistics.median(walls), inits

    def measure(self, runs: int, only: list[str] | None = None) -> list[ColdStart]:
        results = []
        baselines: dict[tuple[str, ...], tuple[float, float]] = {}
        for name, function in sorted(self.template.functions().items()):
            if only and name not in only:
                continue
            clients = BARE_CLIENTS[name]
            if clients not in baselines:
                init, wall, _ = self.median_of(function, _bare_code(clients), runs)
                baselines[clients] = (init, wall)
            init, wall, samples = self.median_of(function, _HANDLER_CODE, runs)
            base_init, base_wall = baselines[clients]
            results.append(ColdStart(name, runs, init, wall, base_init, base_wall, samples))
        return results

    def import_profile(self, function: Function, top: int = 15) -> dict[str, Any]:
        """``-X importtime`` of the handler: self time per top-level package, slowest modules."""
        _, _, stderr = self.run(function, _HANDLER_CODE, "-X", "importtime")
        by_package: dict[str, float] = defaultdict(float)
        modules: list[tuple[float, float, str]] = []
        pattern = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
        for line in stderr.splitlines():
            found = pattern.match(line)
            if not found:
                continue
            self_us, cumulative_us, _, module = found.groups()
            by_package[module.split(".")[0]] += int(self_us) / 1000
            modules.append((int(cumulative_us) / 1000, int(self_us) / 1000, module))
        packages = sorted(by_package.items(), key=lambda item: -item[1])
        return {
            "total_ms": round(sum(by_package.values()), 1),
            "self_ms_by_package": [{"package": p, "ms": round(ms, 1)} for p, ms in packages[:top]],
            "slowest_cumulative": [
                {"module": m, "cumulative_ms": round(c, 1), "self_ms": round(s, 1)}
                for c, s, m in sorted(modules, reverse=True)[:top]
            ],
        }
