"""The cold-start child: the time to import the handler module, Lambda's init phase.

The measured line imports ours (``app``: its services and clients are built, no AWS call is
made); for the bare handler and the floor, their code takes its place (bench.cold_start).
"""

import time

_started = time.perf_counter()
import app  # noqa: E402, F401 - the measured line

_done = time.perf_counter()
import sys  # noqa: E402 - after the clock

sys.stdout.write(f"\nBENCH-INIT-MS {(_done - _started) * 1000:.3f}\n")
