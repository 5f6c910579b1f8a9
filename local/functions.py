"""The template's functions as Lambda runs them here: each one's warm workers, started on demand.

A function's pool is built at its first invocation with the environment the template gives it
(resolved against the emulated AWS); a reload retires pools and the next invocation builds new
ones. ``debug`` puts one function's worker under debugpy; ``usage`` gives each REPORT line what
its invocation cost (local.costs).
"""

from __future__ import annotations

import sys
import threading
from functools import partial
from pathlib import Path

from local.diagnosis import ColdStartFailure, diagnose
from local.emulated_aws import EmulatedAws
from local.runtime import FunctionPool, Invocation, LambdaWorker, lambda_environment, stop_all
from local.template import Function, Template


class Functions:
    def __init__(
        self,
        template: Template,
        aws: EmulatedAws,
        rie: Path,
        runtime_dir: Path,
        layer_dir: Path,
        debug: tuple[str, int] | None = None,
    ) -> None:
        self.aws = aws
        self.rie = rie
        self.runtime_dir = runtime_dir
        self.layer_dir = layer_dir
        self.debug = debug  # (function, port): that function's worker runs under debugpy
        self.definitions = template.functions(aws.parameters)
        self._pools: dict[str, FunctionPool] = {}
        self._retired: list[FunctionPool] = []  # replaced by a reload, their busy workers still finishing
        self._debug_turn = threading.Semaphore(1)
        self._failures: dict[str, ColdStartFailure | None] = {}  # a failed cold start, diagnosed once
        self._lock = threading.Lock()

    def invoke(self, name: str, event: dict[str, object]) -> Invocation:
        return self.pool(name).invoke(event)

    def environment(self, function: Function) -> dict[str, str]:
        variables = self.aws.resources.environment(function)
        return lambda_environment(function, variables, self.aws.endpoint_url, self.runtime_dir, self.layer_dir)

    def pool(self, name: str) -> FunctionPool:
        with self._lock:
            if name not in self._pools:
                function = self.definitions[name]
                # The REPORT line's costs: the boundary sees the calls only of moto in this process.
                usage = self.aws.usage.take if self.aws.embedded else None
                port = self.debug[1] if self.debug and self.debug[0] == name else None
                new_worker = partial(LambdaWorker, function, self.environment(function), self.rie, usage, port)
                self._pools[name] = FunctionPool(new_worker, self._debug_turn if port is not None else None)
            return self._pools[name]

    def redefine(self, template: Template) -> None:
        """The definitions of a template read again (a reload); ``retire`` those that changed."""
        with self._lock:
            self.definitions = template.functions(self.aws.parameters)

    def retire(self, names: set[str]) -> None:
        """These functions' next invocations start new workers (the busy ones finish first)."""
        debugged = self.debug[0] if self.debug else None
        if debugged in names:
            # Its worker holds the debug port: stopped before a new pool can start another.
            with self._lock:
                pool = self._pools.get(debugged)
            if pool is not None:
                pool.retire()
        with self._lock:
            pools = [self._pools.pop(name) for name in names if name in self._pools]
            self._retired = [pool for pool in [*self._retired, *pools] if not pool.empty]
            for name in names:
                self._failures.pop(name, None)
        for pool in pools:
            threading.Thread(target=pool.retire, daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            pools, self._pools = [*self._pools.values(), *self._retired], {}
            self._retired = []
        stop_all([worker for pool in pools for worker in pool.detach()])

    def cold_start_failure(self, name: str) -> ColdStartFailure | None:
        """Why ``name``'s cold start failed, as a file and a line (local.diagnosis; once per reload)."""
        with self._lock:
            if name in self._failures:
                return self._failures[name]
        function = self.definitions[name]
        failure = diagnose(function, self.environment(function))
        with self._lock:
            self._failures[name] = failure
        if failure is not None:
            print(f"[{name}] cold start failed: {failure.file}:{failure.line}: {failure.error}", file=sys.stderr)
        return failure
