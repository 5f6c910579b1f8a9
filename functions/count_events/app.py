"""Kinesis trigger: count each analytics event exactly once, per type per UTC day."""

from nexus.entrypoints import event_entrypoint
from nexus.operations.count_events import EventCounting

handler = event_entrypoint(EventCounting)
