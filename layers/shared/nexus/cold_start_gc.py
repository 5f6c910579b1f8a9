"""Python's cyclic garbage collector, paused for the cold start: from the layer's first import to
the end of the first invocation.

A cold start builds some 100,000 objects that live as long as the execution environment
(modules, classes, botocore's models, pydantic's validators) and about 500 that are cyclic
garbage. The collector still runs dozens of collections over the growing heap while it is built,
a measurable share of a read's time to first response (docs/PERFORMANCE.md has the figures).
Python's documentation gives the pattern for a process that initializes
once, then serves: ``gc.disable()`` early, ``gc.freeze()`` once initialized (the objects move to
the permanent generation, which later collections skip: warm invocations' collections stay
small), ``gc.enable()``. The cold start's few garbage objects are frozen with the rest rather
than collected: a full collection there would cost more than it frees (docs/decisions.md).

Only in a Lambda execution environment (``AWS_LAMBDA_FUNCTION_NAME``, which the runtime, the local
runner and the bench set): tests, tools and scripts that import the layer keep their collector.
A collector the process had turned off already is left off.
"""

from __future__ import annotations

import gc
import os

_paused = False


def pause() -> None:
    """Turn the collector off for the cold start, in a Lambda execution environment."""
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
