"""Is a built layer what was measured? arm64 native code, and bytecode for every module of ours.

``python .ci/check_layer.py .aws-sam/build/SharedLayer/python``: exit 0 and one line when it is;
exit 1 naming what is wrong otherwise (``make sam-build`` then builds again without the cache).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def problems(layer: Path) -> list[str]:
    if not layer.is_dir():
        return [f"{layer} is missing"]
    found = []
    core = next(layer.rglob("_pydantic_core*.so"), None)
    if core is None:
        found.append("no pydantic_core extension in the layer")
    elif "aarch64" not in subprocess.run(["file", str(core)], capture_output=True, text=True, check=False).stdout:  # noqa: S603, S607 - file(1) on our own build
        found.append(f"{core.name} is not arm64")
    modules = list((layer / "nexus").rglob("*.py"))
    missing = [
        str(m.relative_to(layer))
        for m in modules
        if not (m.parent / "__pycache__" / f"{m.stem}.cpython-313.pyc").is_file()
    ]
    if not modules or missing:
        found.append(
            f"{len(missing)} of {len(modules)} nexus modules have no Python 3.13 bytecode (e.g. {missing[:2]})"
        )
    return found


def main() -> int:
    layer = Path(sys.argv[1])
    wrong = problems(layer)
    for problem in wrong:
        print(f"layer not as measured: {problem}")
    if not wrong:
        print(f"layer ok: arm64, bytecode for every nexus module ({layer})")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
