"""Nexus Serverless: the service layer shipped as a Lambda layer."""

from nexus import cold_start_gc
from nexus.deferred_inits import defer_package_init

# First: the cold start's imports and first invocation run without the cyclic collector (see
# nexus.cold_start_gc); the entry point turns it back on after the first invocation.
cold_start_gc.pause()

# Before any module of the layer (or a function) imports from them: see nexus.deferred_inits.
defer_package_init("aws_lambda_powertools.event_handler")
defer_package_init("aws_lambda_powertools.utilities.data_classes")
