"""The deployed layer is what was measured (issue 25): built by Python 3.13 with bytecode for
arm64, or not at all; ``make sam-build`` checks what ``sam build --cached`` reused."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from local.template import ROOT


def test_another_python_than_3_13_refuses_to_build_the_layer(tmp_path: Path) -> None:
    other = next((p for p in ("python3.11", "python3.12", "python3.14") if shutil.which(p)), None)
    if other is None:
        pytest.skip("no Python other than 3.13 on this machine")  # Debian's python3.11 is on CI's
    command = ["make", "-s", "-f", "layers/shared/Makefile", "build-SharedLayer", f"ARTIFACTS_DIR={tmp_path}"]
    build = subprocess.run([*command, f"PYTHON={other}"], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    assert build.returncode != 0
    assert "is not Python 3.13: the layer would ship no .pyc" in build.stdout
    assert not (tmp_path / "python").exists(), "refused before installing anything"


def test_the_layer_check_names_a_build_without_bytecode_or_for_another_architecture(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / ".ci"))
    try:
        from check_layer import problems
    finally:
        sys.path.remove(str(ROOT / ".ci"))
    layer = tmp_path / "python"
    (layer / "nexus" / "users").mkdir(parents=True)
    (layer / "nexus" / "__init__.py").write_text("")
    (layer / "nexus" / "users" / "__init__.py").write_text("")
    (layer / "nexus" / "__pycache__").mkdir()
    (layer / "nexus" / "__pycache__" / "__init__.cpython-313.pyc").write_bytes(b"")
    shutil.copy(
        next(Path(sys.prefix).rglob("_pydantic_core*.so")), layer / "_pydantic_core.cpython-313-x86_64-linux-gnu.so"
    )

    found = problems(layer)

    assert any("is not arm64" in p for p in found) == (platform.machine() != "aarch64")
    assert any("1 of 2 nexus modules have no Python 3.13 bytecode" in p for p in found), found
