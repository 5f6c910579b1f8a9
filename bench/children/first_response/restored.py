"""Ours restored from a snapshot (SnapStart without AWS): initialized once, then forked.

The copy runs the restore hooks (the runtime's ``snapshot_restore_py`` registry) and serves the
first request, timed from the fork. The parent's random state is put back first: a restored
snapshot runs none of Python's at-fork hooks.
"""

import os
import random
import time

import app
import snapshot_restore_py

_state = random.getstate()
_pid = os.fork()
if _pid:
    os.waitpid(_pid, 0)
    raise SystemExit(0)
random.setstate(_state)
_started = time.perf_counter()
for _hook, _args, _kwargs in snapshot_restore_py._after_restore_registry:
    _hook(*_args, **_kwargs)
handler = app.handler
