"""Cold start: a fresh, isolated interpreter importing the handler module (Lambda's init phase).

The child runs ``python -s -S`` (no site-packages) with ``sys.path`` = the function's
directory, the built layer (``.build/layer/python``) and the runtime's own packages
(``local.runtime_dir.ensure_runtime_dir``: boto3, botocore, ... as the python3.13 runtime
ships them). Importing ``app`` runs ``lambda_entrypoint``/``event_entrypoint``: the
services and their clients are built, no AWS call is made. The baseline is a bare handler's
init: ``import boto3`` and the clients that function needs (``devkit.bare_clients``, derived
from its role in template.yaml). The floor is that bare handler plus the libraries the project
is built on, each used the least a handler can (a Logger and Metrics, a pydantic model, a
pynamodb model where DynamoDB is used, Powertools' resolver for an HTTP function, its batch
processor for a trigger): what any handler on this stack pays before a line of its own code.
It splits each ratio into the stack's share (floor / bare) and the project's (init / floor).

Bytecode as deployed: the layer ships its ``.pyc`` (``layers/shared/Makefile``), the
runtime's packages have theirs, and nothing is written (``/opt`` is read-only on Lambda).
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

from bench.children import program, source
from bench.environment import function_environment
from devkit.bare_clients import bare_clients
from devkit.bench_statistics import interleaved
from local.runtime_dir import LAYER_DIR, base_python, ensure_runtime_dir
from local.template import Function, Template

MARK = "BENCH-INIT-MS "

_CHILD = "cold_start/child.py"
_HANDLER_CODE = program(_CHILD)


def _bare_code(clients: tuple[str, ...], floor: bool = False, http: bool = False) -> str:
    """The bare handler's init (boto3 and its clients, one statement each), with the floor's
    modules after it if ``floor`` (bench/children/cold_start/)."""
    lines = ["import boto3"]
    for service in clients:
        if service == "urllib3":
            lines += ["import urllib3", "_pool = urllib3.PoolManager()"]
        else:
            lines.append(f"_{service} = boto3.client({service!r})")
    parts = ["\n".join(lines)]
    if floor:
        parts.append(source("cold_start/floor_libraries.py"))
        if "dynamodb" in clients:
            parts.append(source("cold_start/floor_dynamodb.py"))
        # A trigger reports partial batch failures.
        parts.append(source("cold_start/floor_http.py" if http else "cold_start/floor_batch.py"))
    return program(_CHILD, *parts)


@dataclass
class ColdStart:
    function: str
    runs: int
    init_ms: float  # median of the child's own clock around the import
    process_ms: float  # median wall time of the whole process (interpreter start included)
    baseline_init_ms: float
    baseline_process_ms: float
    floor_init_ms: float
    samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.init_ms / self.baseline_init_ms

    @property
    def floor_ratio(self) -> float:
        """The stack's share: the floor against the bare handler."""
        return self.floor_init_ms / self.baseline_init_ms

    @property
    def over_floor(self) -> float:
        """The project's share: this function against the floor."""
        return self.init_ms / self.floor_init_ms

    @property
    def process_ratio(self) -> float:
        return self.process_ms / self.baseline_process_ms


class Runner:
    def __init__(self, template: Template) -> None:
        self.template = template
        self.runtime_dir = ensure_runtime_dir()
        self.clients = bare_clients(template)
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
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def run(
        self, function: Function, code: str, *flags: str, environment: dict[str, str] | None = None
    ) -> tuple[float, float, str]:
        """(init ms from the child's clock, process wall ms, stderr); ``environment``: another
        than the function's own (``bench.cold_start_ab``: another checkout's paths)."""
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            [base_python(), "-s", "-S", *flags, "-c", code],
            cwd=function.code_uri,
            env=environment or self.environment(function),
            capture_output=True,
            text=True,
            check=False,
        )
        wall = (time.perf_counter() - started) * 1000
        marks = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
        if done.returncode != 0 or not marks:
            raise RuntimeError(f"{function.logical_id} init failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return float(marks[-1].removeprefix(MARK)), wall, done.stderr

    def medians(self, function: Function, codes: list[str], runs: int) -> list[tuple[float, float, list[float]]]:
        """(median init ms, median wall ms, init samples) per code, the codes run in turn each
        round (``devkit.bench_statistics.interleaved``)."""
        sides = [lambda code=code: self.run(function, code) for code in codes]
        found = []
        for samples in interleaved(sides, runs):
            inits = [init for init, _, _ in samples]
            found.append((statistics.median(inits), statistics.median(wall for _, wall, _ in samples), inits))
        return found

    def measure(self, runs: int, only: list[str] | None = None) -> list[ColdStart]:
        results = []
        for name, function in sorted(self.template.functions().items()):
            if only and name not in only:
                continue
            clients = self.clients[name]
            codes = [_HANDLER_CODE, _bare_code(clients), _bare_code(clients, floor=True, http=bool(function.routes))]
            (init, wall, samples), (base_init, base_wall, _), (floor_init, _, _) = self.medians(function, codes, runs)
            results.append(ColdStart(name, runs, init, wall, base_init, base_wall, floor_init, samples))
        return results

    def _importtime(self, function: Function, code: str) -> list[tuple[str, float, float]]:
        """(module, self ms, cumulative ms) for each module ``code`` imports, from ``-X importtime``."""
        _, _, stderr = self.run(function, code, "-X", "importtime")
        pattern = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
        found = (pattern.match(line) for line in stderr.splitlines())
        return [(m.group(4), int(m.group(1)) / 1000, int(m.group(2)) / 1000) for m in found if m]

    def import_profile(self, function: Function, top: int = 15) -> dict[str, Any]:
        """``-X importtime`` of the handler: self time per top-level package, slowest modules,
        and what it imports beyond the floor (the project's own share of the imports)."""
        modules = self._importtime(function, _HANDLER_CODE)
        floor_code = _bare_code(self.clients[function.logical_id], floor=True, http=bool(function.routes))
        in_floor = {module for module, _, _ in self._importtime(function, floor_code)}
        return {
            "total_ms": round(sum(ms for _, ms, _ in modules), 1),
            "self_ms_by_package": _by_package(modules, top),
            # ``app`` (the handler module's own body: building clients and services) is left
            # out: the floor does the same work outside any import.
            "beyond_floor_ms_by_package": _by_package(
                [m for m in modules if m[0] not in in_floor and m[0] != "app"], top
            ),
            "slowest_cumulative": [
                {"module": m, "cumulative_ms": round(c, 1), "self_ms": round(s, 1)}
                for m, s, c in sorted(modules, key=lambda m: -m[2])[:top]
            ],
        }


def _by_package(modules: list[tuple[str, float, float]], top: int) -> list[dict[str, Any]]:
    """Self ms summed per top-level package (``app`` is the handler module: the init work)."""
    by_package: dict[str, float] = defaultdict(float)
    for module, self_ms, _ in modules:
        by_package[module.split(".")[0]] += self_ms
    ranked = sorted(by_package.items(), key=lambda item: -item[1])[:top]
    return [{"package": package, "ms": round(ms, 1)} for package, ms in ranked]
