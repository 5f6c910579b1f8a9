"""A copy of the project a test may edit: its sources, the built layer, the runtime shared.

Tests that save files (hot reload) must not touch the checkout the other tests run from. The
copy has what `python -m local start` reads (functions/, layers/shared/, local/, template.yaml,
docs/API.md, bench/prices.json) and its own copy of the built layer (the reload writes into it);
the runtime's packages (.build/runtime) and the emulator are the checkout's, read only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from local.runtime_dir import LAYER_DIR, RIE_ENV, RUNTIME_DIR, find_rie
from local.template import ROOT

COPIED = ("functions", "layers/shared", "local", "template.yaml", "docs/API.md", "bench/prices.json")


def copy_project(into: Path) -> Path:
    listed = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *COPIED]
    tracked = subprocess.run(  # noqa: S603 - fixed arguments
        listed,
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    shutil.copytree(LAYER_DIR.parent, into / LAYER_DIR.relative_to(ROOT).parent, symlinks=True)
    runtime = into / RUNTIME_DIR.relative_to(ROOT).parent
    runtime.mkdir(parents=True, exist_ok=True)
    for entry in RUNTIME_DIR.parent.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():  # "python" -> "python-<fingerprint>"
            (runtime / entry.name).symlink_to(os.readlink(entry))
        else:
            (runtime / entry.name).symlink_to(entry)
    return into


def copy_environment(project: Path) -> dict[str, str]:
    """The environment a server of the copy runs with: the checkout's emulator, no AWS endpoint."""
    environment = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    environment[RIE_ENV] = str(find_rie())
    environment["PYTHONPATH"] = str(project)
    return environment
