"""Python's cyclic garbage collector, paused in a Lambda execution environment from the layer's
first import to the end of the first invocation, then frozen and resumed: the cold start builds
objects that live as long as the environment, which later collections then skip. Tests, tools and
scripts that import the layer keep their collector.

docs/decisions.md, "The cold start runs without the cyclic garbage collector".
"""

from __future__ import annotations

import gc
import os

_paused = False


def pause() -> None:
    """Turn the collector off for the cold start, in a Lambda execution environment (the runtime,
    the local runner and the bench set ``AWS_LAMBDA_FUNCTION_NAME``); one already off stays off."""
    global _paused
    if "AWS_LAMBDA_FUNCTION_NAME" in os.environ and gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """After the first invocation: freeze what the cold start built, then collect as usual."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def paused() -> bool:
    return _paused
