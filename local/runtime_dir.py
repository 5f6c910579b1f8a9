"""The Lambda runtime's files on this machine: what a local worker runs on.

The runtime's own packages (``.build/runtime/python``: boto3 and its dependencies, and
awslambdaric, the runtime's bootstrap) copied from the dev venv and byte-compiled, as the
managed python3.13 runtime ships them; the built layer (``.build/layer/python``, ``make layer``);
the Runtime Interface Emulator aws-sam-cli ships; and debugpy for a debugged worker.
"""

from __future__ import annotations

import compileall
import hashlib
import os
import py_compile
import shutil
import sys
from pathlib import Path

from local.template import ROOT

BUILD = ROOT / ".build"
LAYER_DIR = BUILD / "layer" / "python"
RUNTIME_DIR = BUILD / "runtime" / "python"
_RUNTIME_LAYOUT = 2  # bump when _build_runtime changes what it builds
RIE_ENV = "LOCAL_LAMBDA_RIE"
# What the python3.13 managed runtime provides besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "urllib3", "six")
BOOTSTRAP_PACKAGES = ("awslambdaric", "runtime_client", "simplejson", "snapshot_restore_py")
# The distributions the two lists above come from (their versions decide when to rebuild).
RUNTIME_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "jmespath",
    "s3transfer",
    "python-dateutil",
    "urllib3",
    "six",
    "awslambdaric",
    "simplejson",
    "snapshot-restore-py",
)
DEBUGPY_DIR = BUILD / "debugpy"


class RuntimeSetupError(RuntimeError):
    """The local Lambda runtime cannot be assembled (missing layer build or emulator)."""


def _site_packages() -> Path:
    import boto3

    return Path(boto3.__file__).resolve().parent.parent


def _top_level_entries(site: Path, name: str) -> list[Path]:
    """The package ``name`` as installed in ``site``: its directory, module or extension module."""
    return sorted(
        entry
        for entry in site.iterdir()
        if entry.name in (name, f"{name}.py") or (entry.name.startswith(f"{name}.") and entry.suffix == ".so")
    )


def runtime_fingerprint(site: Path) -> str:
    """What the runtime directory's contents depend on: the interpreter and each package's version.

    The ``.pyc`` files are only valid for the interpreter's magic number, so a different
    Python (or a package upgraded in the dev venv) means a rebuild.
    """
    import importlib.metadata
    import importlib.util

    parts = [
        f"layout {_RUNTIME_LAYOUT}",
        base_python(),
        sys.version,
        importlib.util.MAGIC_NUMBER.hex(),
        str(site),
    ]
    parts += [f"{dist} {importlib.metadata.version(dist)}" for dist in RUNTIME_DISTRIBUTIONS]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _build_runtime(site: Path, into: Path) -> None:
    """Real copies of the runtime's packages, byte-compiled as the managed runtime ships them."""
    into.mkdir(parents=True)
    for name in RUNTIME_PACKAGES + BOOTSTRAP_PACKAGES:
        entries = _top_level_entries(site, name)
        if not entries:
            raise RuntimeSetupError(f"{name} is not installed in {site}")
        for entry in entries:
            if entry.is_dir():
                shutil.copytree(entry, into / entry.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(entry, into / entry.name)
    # The .pyc a fresh interpreter finds next to the sources (timestamp mode: the copies keep
    # their mtimes). The bench and the local runner write none, as on Lambda (read-only).
    compiled = compileall.compile_dir(
        into,
        quiet=1,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
    )
    if not compiled:
        raise RuntimeSetupError(f"byte-compiling the runtime packages in {into} failed")


def ensure_runtime_dir(target: Path = RUNTIME_DIR) -> Path:
    """The runtime's packages (boto3, ..., awslambdaric) as real, byte-compiled files.

    ``target`` is a symlink to ``<target>-<fingerprint>``: a build happens only when the
    interpreter or a package version changes, into a scratch directory renamed into place,
    and the symlink is swapped with one ``rename``: a process reading ``target`` while
    another builds it sees the old tree or the new one, never half of either.
    """
    site = _site_packages()
    fingerprint = runtime_fingerprint(site)
    built = target.with_name(f"{target.name}-{fingerprint}")
    if target.is_symlink() and os.readlink(target) == built.name and built.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if not built.is_dir():
        scratch = target.with_name(f".{target.name}-{fingerprint}.{os.getpid()}.tmp")
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            _build_runtime(site, scratch)
            try:
                scratch.rename(built)
            except OSError:
                if not built.is_dir():  # another process's build won the race: use it
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    link = target.with_name(f".{target.name}.{os.getpid()}.link")
    link.unlink(missing_ok=True)
    link.symlink_to(built.name)
    if target.is_dir() and not target.is_symlink():  # the old layout: a directory of symlinks
        shutil.rmtree(target)
    os.replace(link, target)
    for stale in target.parent.glob(f"{target.name}-*"):
        if stale != built and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return target


def find_rie() -> Path:
    """The Runtime Interface Emulator: $LOCAL_LAMBDA_RIE, or the one in aws-sam-cli's venv."""
    if os.environ.get(RIE_ENV):
        return Path(os.environ[RIE_ENV])
    arch = "arm64" if os.uname().machine in ("aarch64", "arm64") else "x86_64"
    for candidate in sorted(
        ROOT.glob(f".venv-sam/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch}")
    ):
        return candidate
    raise RuntimeSetupError(f"aws-lambda-rie not found: run `make install` (aws-sam-cli ships it) or set {RIE_ENV}")


def check_layer(layer: Path = LAYER_DIR) -> Path:
    if not (layer / "nexus").is_dir():
        raise RuntimeSetupError(f"{layer} has no nexus package: run `make layer`")
    return layer


def debugpy_dir() -> Path:
    """A directory holding only debugpy (a link to the dev venv's): the one thing a debugged
    worker may import beyond what it has in Lambda."""
    import debugpy

    source = Path(debugpy.__file__).resolve().parent
    link = DEBUGPY_DIR / "debugpy"
    if not (link.is_symlink() and link.resolve() == source):
        DEBUGPY_DIR.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(source)
    return DEBUGPY_DIR


def base_python() -> str:
    """The interpreter the venv was made from: it runs without the venv's site-packages."""
    return str(getattr(sys, "_base_executable", sys.executable))


def prepared_runtime() -> tuple[Path, Path, Path] | None:
    """The runtime directory, the built layer and aws-lambda-rie; None (said on stderr) if one is missing."""
    try:
        return ensure_runtime_dir(), check_layer(LAYER_DIR), find_rie()
    except RuntimeSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
