"""The runtime directory (``local.runtime_dir.ensure_runtime_dir``) holds what the managed runtime holds.

Real files with their ``.pyc`` next to them (a fresh interpreter that writes no bytecode loads
them instead of compiling), built once per interpreter and package versions, swapped in whole.
One real build (~3 s: 38 MB copied and compiled); the rebuild rules use a stand-in builder.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
from pathlib import Path

import pytest

from local import runtime_dir as runtime
from local.runtime_dir import RUNTIME_PACKAGES, base_python, ensure_runtime_dir, runtime_fingerprint


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_runtime_dir(tmp_path_factory.mktemp("runtime") / "python")


def _verbose_import(runtime_dir: Path, module: str) -> str:
    """``python -v`` of an isolated interpreter that writes no bytecode, as the bench runs it."""
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [base_python(), "-s", "-S", "-v", "-c", f"import {module}"],
        env={"PYTHONPATH": str(runtime_dir), "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr


def test_packages_are_real_files_not_links_into_the_venv(built: Path) -> None:
    tree = built.resolve()
    names = {entry.name for entry in tree.iterdir()}

    assert {"boto3", "botocore", "six.py", "awslambdaric"} <= names
    assert not any(name.endswith("-stubs") for name in names)  # dev-only type stubs are not the runtime's
    assert not [p for p in tree.rglob("*") if p.is_symlink()]


@pytest.mark.parametrize("module", ["six", "botocore.session", "dateutil.parser"])
def test_a_fresh_interpreter_loads_the_shipped_bytecode(built: Path, module: str) -> None:
    log = _verbose_import(built, module)
    top = module.split(".")[0]
    sources = [line for line in log.splitlines() if f"/{top}" in line and line.startswith("# code object from")]
    matched = [line for line in log.splitlines() if line.startswith("# ") and " matches " in line and f"/{top}" in line]

    assert matched, f"no .pyc of {top} was used:\n{log[-2000:]}"
    assert all(line.rstrip().endswith(".pyc'") for line in sources), sources  # nothing compiled from source


def test_every_runtime_package_is_copied(built: Path) -> None:
    tree = built.resolve()
    for name in RUNTIME_PACKAGES:
        assert (tree / name).is_dir() or (tree / f"{name}.py").is_file(), name


@pytest.fixture
def stand_in_builder(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """``_build_runtime`` replaced by one that writes a marker: the rebuild rules without the copy."""
    builds: list[Path] = []

    def build(site: Path, into: Path) -> None:
        into.mkdir(parents=True)
        (into / "marker.py").write_text(f"BUILD = {len(builds)}\n")
        builds.append(into)

    monkeypatch.setattr(runtime, "_build_runtime", build)
    return builds


def test_an_unchanged_runtime_is_not_rebuilt(tmp_path: Path, stand_in_builder: list[Path]) -> None:
    target = tmp_path / "python"

    ensure_runtime_dir(target)
    first = target.resolve()
    ensure_runtime_dir(target)

    assert len(stand_in_builder) == 1
    assert target.resolve() == first
    assert (target / "marker.py").read_text() == "BUILD = 0\n"


def test_a_new_package_version_rebuilds_and_swaps_the_link(
    tmp_path: Path, stand_in_builder: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "python"
    ensure_runtime_dir(target)
    old = target.resolve()
    real_version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda dist: "99.0" if dist == "botocore" else real_version(dist)
    )

    ensure_runtime_dir(target)

    assert len(stand_in_builder) == 2
    assert target.is_symlink()
    assert target.resolve() != old
    assert not old.exists()  # the superseded tree is removed
    assert (target / "marker.py").read_text() == "BUILD = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["python", target.resolve().name]  # no scratch left


def test_the_fingerprint_follows_the_interpreter_and_the_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    site = Path("/nonexistent/site-packages")
    before = runtime_fingerprint(site)
    monkeypatch.setattr(runtime, "base_python", lambda: "/usr/bin/python3.12")
    other_python = runtime_fingerprint(site)
    monkeypatch.undo()
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda d: "0.0.1" if d == "six" else real_version(d))

    assert len({before, other_python, runtime_fingerprint(site)}) == 3
    monkeypatch.undo()
    assert runtime_fingerprint(site) == before


def test_a_failed_build_leaves_the_previous_runtime_in_place(
    tmp_path: Path, stand_in_builder: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "python"
    ensure_runtime_dir(target)
    previous = target.resolve()

    def broken(site: Path, into: Path) -> None:
        into.mkdir(parents=True)
        (into / "half.py").write_text("")
        raise runtime.RuntimeSetupError("compile failed")

    monkeypatch.setattr(runtime, "_build_runtime", broken)
    monkeypatch.setattr(runtime, "runtime_fingerprint", lambda site: "0" * 16)

    with pytest.raises(runtime.RuntimeSetupError):
        ensure_runtime_dir(target)

    assert target.resolve() == previous
    assert (target / "marker.py").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["python", previous.name]


def test_the_old_directory_of_symlinks_is_replaced(tmp_path: Path, stand_in_builder: list[Path]) -> None:
    target = tmp_path / "python"
    target.mkdir()
    (target / "six.py").symlink_to(os.devnull)

    ensure_runtime_dir(target)

    assert target.is_symlink()
    assert (target / "marker.py").is_file()
    assert not (target / "six.py").exists()
