"""Hot reload for `make start`: a thread polls the sources, and a change retires the workers of the
functions it affects (a layer module: every function, once the file is in the built layer with its
bytecode compiled again), so the next request cold-starts on the new code; the data stays.

local/README.md, "Hot reload: a save is live on the next request"; docs/decisions.md,
"2026-12-06: hot reload restarts workers; it never reloads modules in place".
"""

from __future__ import annotations

import json
import os
import py_compile
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.template import ROOT, TEMPLATE_PATH, Function, Template

LAYER_SOURCE = ROOT / "layers" / "shared" / "nexus"
POLL_SECONDS = 0.1
Stamp = tuple[int, int]  # (mtime in ns, size)


def _sources(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
            continue
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = [d for d in subdirectories if d != "__pycache__" and not d.startswith(".")]
            for name in files:
                if name.endswith(".py") or name.endswith((".html", ".txt", ".json", ".jinja", ".j2")):
                    yield Path(directory, name)


def snapshot(roots: list[Path]) -> dict[Path, Stamp]:
    stamps: dict[Path, Stamp] = {}
    for path in _sources(roots):
        try:
            status = path.stat()
        except FileNotFoundError:
            continue
        stamps[path] = (status.st_mtime_ns, status.st_size)
    return stamps


class Watcher:
    """Calls ``on_change`` with the paths added, changed or removed since the last look."""

    def __init__(self, roots: list[Path], on_change: Callable[[set[Path]], None]) -> None:
        self.roots = roots
        self.on_change = on_change
        self._stop = threading.Event()
        self._seen = snapshot(roots)
        self._thread = threading.Thread(target=self._run, name="reload-watcher", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            now = snapshot(self.roots)
            changed = {path for path in now.keys() | self._seen.keys() if now.get(path) != self._seen.get(path)}
            self._seen = now
            if changed:
                try:
                    self.on_change(changed)
                except Exception as error:  # noqa: BLE001 - the watcher outlives one bad reload
                    print(f"reload failed: {error!r}", file=sys.stderr, flush=True)


@dataclass
class LayerSync:
    """Keeps the built layer's ``nexus`` package in step with ``layers/shared/nexus``."""

    built: Path  # .build/layer/python/nexus
    source: Path = LAYER_SOURCE
    syntax_errors: dict[Path, str] = field(default_factory=dict)  # source file -> "file:line: message"

    def apply(self, path: Path) -> None:
        target = self.built / path.relative_to(self.source)
        compiled = target.parent / "__pycache__" / f"{target.stem}.{sys.implementation.cache_tag}.pyc"
        if not path.exists():
            target.unlink(missing_ok=True)
            compiled.unlink(missing_ok=True)
            self.syntax_errors.pop(path, None)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.reload")
        shutil.copy2(path, partial)
        partial.replace(target)  # a worker starting meanwhile reads the old file or the new one
        if path.suffix != ".py":
            return
        compiled.unlink(missing_ok=True)  # unchecked-hash: a stale .pyc would win over the source
        try:
            py_compile.compile(
                str(target),
                cfile=str(compiled),
                dfile=str(target),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            self.syntax_errors.pop(path, None)
        except py_compile.PyCompileError as error:
            self.syntax_errors[path] = _syntax_error(path, error)


def _syntax_error(path: Path, error: py_compile.PyCompileError) -> str:
    cause = error.exc_value
    line = getattr(cause, "lineno", None)
    message = getattr(cause, "msg", str(cause))
    return f"{path.relative_to(ROOT)}:{line}: SyntaxError: {message}"


def _definition(function: Function) -> Any:
    return json.dumps(
        [
            str(function.code_uri),
            function.handler,
            function.timeout,
            function.memory_size,
            function.environment,
            [route.route_key for route in function.routes],
        ],
        sort_keys=True,
        default=str,
    )


@dataclass(frozen=True)
class TemplateChange:
    template: Template
    functions: set[str]  # changed, added or removed
    needs_restart: list[str]  # other resources, and the template's other sections


def template_change(before: Template, parameters: dict[str, str]) -> TemplateChange | str:
    """What changed in template.yaml since ``before``; a message if it no longer reads."""
    try:
        after = Template(TEMPLATE_PATH)
        new_functions = after.functions(parameters)
    except Exception as error:  # noqa: BLE001 - a half-saved template is reported, not fatal
        return f"template.yaml does not read ({type(error).__name__}: {error}): the previous one stays"
    old_functions = before.functions(parameters)
    functions = {
        name
        for name in old_functions.keys() | new_functions.keys()
        if name not in old_functions
        or name not in new_functions
        or _definition(old_functions[name]) != _definition(new_functions[name])
    }
    old_resources, new_resources = _resources(before), _resources(after)
    needs_restart = sorted(
        name
        for name in old_resources.keys() | new_resources.keys()
        if old_resources.get(name) != new_resources.get(name)
    )
    for name in sorted(functions & old_functions.keys() & new_functions.keys()):
        # A function's triggers are polled by threads started with the server.
        if _events(before, name) != _events(after, name):
            needs_restart.append(f"{name} (its triggers)")
    for section in ("Parameters", "Conditions", "Globals"):
        if before.document.get(section) != after.document.get(section) and section != "Globals":
            needs_restart.append(f"the {section} section")
    return TemplateChange(after, functions, needs_restart)


def _resources(template: Template) -> dict[str, Any]:
    return {
        name: resource
        for name, resource in template.document.get("Resources", {}).items()
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function"
    }


def _events(template: Template, name: str) -> Any:
    events = template.document.get("Resources", {}).get(name, {}).get("Properties", {}).get("Events", {})
    return {key: value for key, value in events.items() if value.get("Type") != "HttpApi"}
