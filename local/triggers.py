"""Event source mappings of the template (Kinesis and SQS triggers), polled as Lambda polls them.

One thread per mapping reads the stream or queue in the emulated AWS, builds the batch event Lambda
would send and invokes the function's warm workers. With ReportBatchItemFailures, the records from
the first reported failure on are read again (Kinesis) or left on the queue (SQS); a failed
invocation is retried up to MaximumRetryAttempts, then its batch is skipped, as Lambda does.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.resources import REGION, LocalResources
from local.runtime import Invocation
from local.template import Template

IDLE_POLL_SECONDS = 0.5
Invoker = Callable[[str, dict[str, Any]], Invocation]


@dataclass(frozen=True)
class EventSource:
    function: str
    kind: str  # "Kinesis" or "SQS"
    source: str  # logical id of the stream or queue
    batch_size: int
    starting_position: str
    reports_item_failures: bool
    max_retries: int


def event_sources(template: Template) -> list[EventSource]:
    found: list[EventSource] = []
    for name, resource in template.of_type("AWS::Serverless::Function").items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            kind = event.get("Type")
            if kind not in ("Kinesis", "SQS"):
                continue
            props = event.get("Properties", {})
            target = props["Stream"] if kind == "Kinesis" else props["Queue"]
            found.append(
                EventSource(
                    function=name,
                    kind=kind,
                    source=target["Fn::GetAtt"][0],
                    batch_size=int(props.get("BatchSize", 100 if kind == "Kinesis" else 10)),
                    starting_position=str(props.get("StartingPosition", "LATEST")),
                    reports_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    max_retries=int(props.get("MaximumRetryAttempts", 3)),
                )
            )
    return found


def _failed_ids(invocation: Invocation) -> list[str] | None:
    """Item identifiers the function reported; None when the whole invocation failed."""
    if invocation.failed:
        return None
    payload = invocation.payload if isinstance(invocation.payload, dict) else {}
    return [str(item.get("itemIdentifier")) for item in payload.get("batchItemFailures") or []]


def _log(source: EventSource, records: int, invocation: Invocation, failed: list[str] | None) -> None:
    state = "cold" if invocation.cold else "warm"
    outcome = "error" if failed is None else f"{len(failed)} failed"
    print(
        f"{source.kind.upper()} {source.source} {source.function} {records} records {outcome} "
        f"{state} {invocation.duration_ms:.0f} ms",
        file=sys.stderr,
        flush=True,
    )


class _Poller(threading.Thread):
    def __init__(self, source: EventSource, resources: LocalResources, invoke: Invoker, stop: threading.Event) -> None:
        super().__init__(name=f"trigger-{source.function}", daemon=True)
        self.source = source
        self.resources = resources
        self.invoke = invoke
        self.stopping = stop
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        # One client per poller: building a boto3 client costs more than a poll.
        if service not in self._clients:
            self._clients[service] = self.resources.client(service)
        return self._clients[service]

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                busy = self.poll_once()
            except Exception as error:  # noqa: BLE001 - a reset or a moto hiccup must not end the mapping
                print(f"trigger {self.source.function}: {error!r}", file=sys.stderr, flush=True)
                busy = False
            if not busy:
                self.stopping.wait(IDLE_POLL_SECONDS)

    def poll_once(self) -> bool:
        raise NotImplementedError


class _SqsPoller(_Poller):
    def poll_once(self) -> bool:
        sqs = self.client("sqs")
        queue = self.resources.physical[self.source.source]
        messages = sqs.receive_message(
            QueueUrl=queue["QueueUrl"],
            MaxNumberOfMessages=min(self.source.batch_size, 10),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        invocation = self.invoke(self.source.function, {"Records": [_sqs_record(m, queue["Arn"]) for m in messages]})
        failed = _failed_ids(invocation)
        _log(self.source, len(messages), invocation, failed)
        if failed is None:
            return True  # the messages come back when their visibility timeout ends
        done = [m for m in messages if m["MessageId"] not in set(failed)]
        for message in done:
            sqs.delete_message(QueueUrl=queue["QueueUrl"], ReceiptHandle=message["ReceiptHandle"])
        return True


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    body = message.get("Body", "")
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class _KinesisPoller(_Poller):
    def __init__(self, source: EventSource, resources: LocalResources, invoke: Invoker, stop: threading.Event) -> None:
        super().__init__(source, resources, invoke, stop)
        self._iterators: dict[str, str] = {}
        self._attempts = 0

    def _iterator(self, kinesis: Any, stream: str, shard: str) -> str:
        if shard not in self._iterators:
            self._iterators[shard] = kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard, ShardIteratorType=self.source.starting_position
            )["ShardIterator"]
        return self._iterators[shard]

    def poll_once(self) -> bool:
        kinesis = self.client("kinesis")
        stream = self.resources.physical[self.source.source]
        busy = False
        for shard in kinesis.list_shards(StreamName=stream["Ref"])["Shards"]:
            busy |= self._poll_shard(kinesis, stream, shard["ShardId"])
        return busy

    def _poll_shard(self, kinesis: Any, stream: dict[str, str], shard: str) -> bool:
        answer = kinesis.get_records(
            ShardIterator=self._iterator(kinesis, stream["Ref"], shard), Limit=self.source.batch_size
        )
        records = answer["Records"]
        if not records:
            self._iterators[shard] = answer["NextShardIterator"]
            return False
        event = {"Records": [_kinesis_record(r, shard, stream["Arn"]) for r in records]}
        invocation = self.invoke(self.source.function, event)
        failed = _failed_ids(invocation)
        _log(self.source, len(records), invocation, failed)
        retry_from = self._retry_point(records, failed)
        if retry_from is None:
            self._iterators[shard] = answer["NextShardIterator"]
        else:
            self._iterators[shard] = kinesis.get_shard_iterator(
                StreamName=stream["Ref"],
                ShardId=shard,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                StartingSequenceNumber=retry_from,
            )["ShardIterator"]
        return True

    def _retry_point(self, records: list[dict[str, Any]], failed: list[str] | None) -> str | None:
        """The sequence number to read again from, or None to move past the batch."""
        if failed == []:
            self._attempts = 0
            return None
        self._attempts += 1
        if self._attempts > self.source.max_retries:
            self._attempts = 0
            return None
        if failed is None or not self.source.reports_item_failures:
            return str(records[0]["SequenceNumber"])
        return min(failed, key=int)


def _kinesis_record(record: dict[str, Any], shard: str, stream_arn: str) -> dict[str, Any]:
    arrival = record.get("ApproximateArrivalTimestamp")
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": base64.b64encode(record["Data"]).decode("ascii"),
            "approximateArrivalTimestamp": arrival.timestamp() if arrival else time.time(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::123456789012:role/nexus-local-{shard}",
        "awsRegion": REGION,
        "eventSourceARN": stream_arn,
    }


class Triggers:
    """Every mapping's poller; restartable around a reset of the emulated AWS."""

    def __init__(self, template: Template, invoke: Invoker) -> None:
        self.sources = event_sources(template)
        self.invoke = invoke
        self._stop = threading.Event()
        self._threads: list[_Poller] = []

    def start(self, resources: LocalResources) -> None:
        self._stop = threading.Event()
        kinds = {"Kinesis": _KinesisPoller, "SQS": _SqsPoller}
        self._threads = [kinds[s.kind](s, resources, self.invoke, self._stop) for s in self.sources]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads = []
