"""`make checks`: serverless-rules (cfn-lint) and checkov judge the template in both cache modes.

serverless-rules runs on template.yaml with each mode's parameters; checkov on the template as
CloudFormation receives it (.ci/expand_template.py: Fn::ForEach and SAM's transform expanded,
the mode's conditions resolved). Both skip exactly the checks in .ci/skipped-checks.yaml.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.template import load_template, text_with_defaults  # noqa: E402

CHECKS_BIN = ROOT / ".venv-checks" / "bin"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
BUILD = ROOT / ".build"


def skipped(tool: str) -> list[str]:
    entries = yaml.safe_load((ROOT / ".ci" / "skipped-checks.yaml").read_text())[tool]
    assert all(entry.get("reason") for entry in entries), f"{tool}: every skip needs a reason"
    return [str(entry["id"]) for entry in entries]


def modes() -> dict[str, dict[str, str]]:
    return dict(yaml.safe_load((ROOT / ".ci" / "cache-modes.yaml").read_text()))


def run(label: str, command: list[str], output: Path | None = None) -> tuple[str, int, str, float]:
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    if output is not None and result.returncode == 0:
        output.write_text(result.stdout)
    text = result.stdout if output is None else result.stderr
    return label, result.returncode, (text + result.stderr if output is None else text), time.monotonic() - started


def serverless_rules(all_modes: dict[str, dict[str, str]]) -> tuple[str, int, str, float]:
    """One cfn-lint run over the template in each mode (the mode's parameters as defaults)."""
    sources = []
    for mode, parameters in all_modes.items():
        source = BUILD / f"template-{mode}.yaml"
        source.write_text(text_with_defaults(parameters))
        sources.append(str(source))
    # A command line --ignore-checks replaces the template's own: pass those on, plus the skips.
    ignored = load_template()["Metadata"]["cfn-lint"]["config"]["ignore_checks"] + skipped("cfn-lint-serverless")
    command = [str(CHECKS_BIN / "cfn-lint"), *sources, "--regions", "us-east-1"]
    command += ["--append-rules", "cfn_lint_serverless.rules", "--ignore-checks", *ignored]
    return run(f"serverless-rules on template.yaml ({', '.join(all_modes)} modes)", command)


def checkov(all_modes: dict[str, dict[str, str]]) -> tuple[str, int, str, float]:
    """Expand the template in each mode, then one checkov run over the expansions."""
    took = 0.0
    files = []
    for mode, parameters in all_modes.items():
        expanded = BUILD / f"expanded-{mode}.json"
        overrides = [f"{name}={value}" for name, value in parameters.items()]
        command = [str(SAM_PYTHON), ".ci/expand_template.py", "--resolve", *overrides]
        label, code, text, seconds = run(f"expand ({mode} mode)", command, expanded)
        took += seconds
        if code != 0:
            return label, code, text, took
        files += ["--file", str(expanded)]
    command = [str(CHECKS_BIN / "checkov"), *files, "--framework", "cloudformation", "--quiet", "--compact"]
    command += ["--skip-check", ",".join(skipped("checkov"))]
    label, code, text, seconds = run(f"checkov on the expanded template ({', '.join(all_modes)} modes)", command)
    return label, code, text, took + seconds


def main() -> int:
    BUILD.mkdir(exist_ok=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: job(modes()), (serverless_rules, checkov)))
    failed = 0
    for label, code, text, took in results:
        print(f"  {label:<56} {took:6.1f} s  {'ok' if code == 0 else 'FAILED'}")
        if code != 0:
            failed += 1
            print(text.strip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
