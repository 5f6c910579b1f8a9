"""The first-response child: init and the first invocation, timed together.

The event and a Lambda context are ready before the clock starts (the runtime's bootstrap has
them before it imports the handler). The measured line imports ours; a baseline's module, which
defines ``handler``, takes its place. The handler's logs and EMF go to /dev/null.
"""

import json
import os
import time

_event = json.loads(os.environ.pop("BENCH_EVENT"))


class _Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30000


_context = _Context()
_real_stdout = os.fdopen(os.dup(1), "w")
_devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(_devnull, 1)  # the handler's logs and EMF
_started = time.perf_counter()
from app import handler  # noqa: E402 - the measured line

_init = time.perf_counter()
_response = handler(_event, _context)
_done = time.perf_counter()
_status = _response.get("statusCode") if isinstance(_response, dict) else None
_real_stdout.write(f"\nBENCH-FIRST {(_init - _started) * 1000:.3f} {(_done - _started) * 1000:.3f} {_status}\n")
_real_stdout.flush()
