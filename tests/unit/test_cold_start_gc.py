"""nexus.cold_start_gc: the cyclic collector is off for a Lambda cold start and on after the first invocation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

_CONTEXT = """
import gc
class Context:
    function_name = "Test"
    function_version = "$LATEST"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:Test"
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/Test"
    log_stream_name = "test"
    def get_remaining_time_in_millis(self):
        return 1000
"""


def _run(code: str, *, in_lambda: bool) -> None:
    env = {key: value for key, value in os.environ.items() if key != "AWS_LAMBDA_FUNCTION_NAME"} | {
        "PYTHONPATH": os.pathsep.join(sys.path),
        "POWERTOOLS_METRICS_NAMESPACE": "Test",
    }
    if in_lambda:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "Test"
    done = subprocess.run(  # noqa: S603 - this interpreter, our code
        [sys.executable, "-c", _CONTEXT + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok"), done.stdout


def test_a_lambda_cold_start_runs_without_the_collector_until_its_first_invocation_ends() -> None:
    _run(
        """
        assert gc.isenabled()
        import nexus
        from nexus import cold_start_gc
        from nexus.entrypoints import wrap
        handler = wrap(lambda event, context: {"statusCode": 200})
        assert not gc.isenabled() and cold_start_gc.paused()  # init is over, the first invocation is not
        assert gc.get_freeze_count() == 0

        handler({}, Context())

        assert gc.isenabled() and not cold_start_gc.paused()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000, frozen  # what the cold start built: skipped by later collections
        handler({}, Context())
        # Frozen once: the second invocation froze nothing more (frozen objects freed since leave it).
        assert gc.isenabled() and gc.get_freeze_count() <= frozen
        print("ok")
        """,
        in_lambda=True,
    )


def test_a_first_invocation_that_fails_turns_the_collector_back_on_too() -> None:
    _run(
        """
        import nexus
        from nexus.entrypoints import wrap
        def fail(event, context):
            raise RuntimeError("boom")
        handler = wrap(fail)
        assert not gc.isenabled()
        try:
            handler({}, Context())
        except RuntimeError:
            pass
        assert gc.isenabled()
        print("ok")
        """,
        in_lambda=True,
    )


@pytest.mark.parametrize("in_lambda", [False, True])
def test_a_collector_the_process_turned_off_stays_off(in_lambda: bool) -> None:
    _run(
        """
        gc.disable()
        import nexus
        from nexus import cold_start_gc
        from nexus.entrypoints import wrap
        assert not cold_start_gc.paused()
        wrap(lambda event, context: {})({}, Context())
        assert not gc.isenabled() and gc.get_freeze_count() == 0
        print("ok")
        """,
        in_lambda=in_lambda,
    )


def test_outside_lambda_importing_the_layer_leaves_the_collector_on() -> None:
    _run(
        """
        import nexus
        from nexus import cold_start_gc
        assert gc.isenabled() and not cold_start_gc.paused()
        print("ok")
        """,
        in_lambda=False,
    )
