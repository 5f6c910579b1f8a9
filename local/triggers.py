"""Event source mappings of the template (Kinesis, DynamoDB stream and SQS triggers), polled as Lambda does.

One thread per mapping reads the stream or queue in the emulated AWS, builds the batch event Lambda
would send and invokes the function's warm workers. With ReportBatchItemFailures, the records from
the first reported failure on are read again (streams) or left on the queue (SQS); a failed
invocation is retried up to MaximumRetryAttempts, then its batch is skipped, as Lambda does, and
described to the mapping's DestinationConfig.OnFailure queue if it has one.
FilterCriteria patterns drop the records they do not match (literal values, prefix, exists).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from local.account import REGION
from local.provisioning import LocalResources
from local.runtime import Invocation
from local.template import Template

IDLE_POLL_SECONDS = 0.5
Invoker = Callable[[str, dict[str, Any]], Invocation]


@dataclass(frozen=True)
class EventSource:
    function: str
    kind: str  # "Kinesis", "DynamoDB" or "SQS"
    source: str  # logical id of the stream's table or stream, or of the queue
    batch_size: int
    starting_position: str
    reports_item_failures: bool
    max_retries: int
    patterns: tuple[str, ...] = ()  # FilterCriteria, as JSON
    on_failure: str | None = None  # logical id of the OnFailure destination queue


def event_sources(template: Template) -> list[EventSource]:
    found: list[EventSource] = []
    for name, resource in template.of_type("AWS::Serverless::Function").items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            kind = event.get("Type")
            if kind not in ("Kinesis", "DynamoDB", "SQS"):
                continue
            props = event.get("Properties", {})
            target = props["Queue"] if kind == "SQS" else props["Stream"]
            found.append(
                EventSource(
                    function=name,
                    kind=kind,
                    source=target["Fn::GetAtt"][0],
                    batch_size=int(props.get("BatchSize", 100 if kind == "Kinesis" else 10)),
                    starting_position=str(props.get("StartingPosition", "LATEST")),
                    reports_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    max_retries=int(props.get("MaximumRetryAttempts", 3)),
                    patterns=tuple(f["Pattern"] for f in props.get("FilterCriteria", {}).get("Filters", [])),
                    on_failure=_on_failure_queue(props),
                )
            )
    return found


def _on_failure_queue(props: dict[str, Any]) -> str | None:
    destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    return str(destination["Fn::GetAtt"][0]) if isinstance(destination, dict) and "Fn::GetAtt" in destination else None


def _matches(pattern: Any, value: Any) -> bool:
    """EventBridge-style pattern matching, the subset FilterCriteria in this template needs."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(_matches(rule, value.get(key)) for key, rule in pattern.items())
    return any(_matches_rule(rule, value) for rule in pattern)


def _matches_rule(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict) and "prefix" in rule:
        return isinstance(value, str) and value.startswith(rule["prefix"])
    if isinstance(rule, dict) and "exists" in rule:
        return (value is not None) == bool(rule["exists"])
    return bool(rule == value)


def passes_filters(source: EventSource, record: dict[str, Any]) -> bool:
    return not source.patterns or any(_matches(json.loads(p), record) for p in source.patterns)


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
        self.wake = threading.Event()  # set: poll again now instead of after the idle pause
        self._clients: dict[str, Any] = {}
        self._caught_up = threading.Condition()
        self._empty_polls = 0  # polls that found nothing to deliver: the mapping had caught up

    @property
    def empty_polls(self) -> int:
        with self._caught_up:
            return self._empty_polls

    def client(self, service: str) -> Any:
        # One client per poller: building a boto3 client costs more than a poll.
        if service not in self._clients:
            self._clients[service] = self.resources.client(service)
        return self._clients[service]

    def run(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                busy = self.poll_once()
            except Exception as error:  # noqa: BLE001 - a reset or a moto hiccup must not end the mapping
                print(f"trigger {self.source.function}: {error!r}", file=sys.stderr, flush=True)
                self.wake.wait(IDLE_POLL_SECONDS)
                continue
            if not busy:
                with self._caught_up:
                    self._empty_polls += 1
                self.wake.wait(IDLE_POLL_SECONDS)

    def skip_existing(self) -> None:
        """Start after what the source holds now (a stream's records; nothing for a queue)."""

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


class _StreamPoller(_Poller):
    """Reads every shard from its iterator; a failure rewinds the shard to the record to retry."""

    service = ""

    def __init__(self, source: EventSource, resources: LocalResources, invoke: Invoker, stop: threading.Event) -> None:
        super().__init__(source, resources, invoke, stop)
        self._iterators: dict[str, str] = {}
        self._attempts = 0

    def stream(self) -> dict[str, str]:
        """The stream's name and ARN, as the API calls and the records name them."""
        raise NotImplementedError

    def skip_existing(self) -> None:
        stream = self.stream()
        for shard in self.shard_ids(stream):
            self._iterators[shard] = self.iterator(stream, shard, "LATEST")

    def shard_ids(self, stream: dict[str, str]) -> list[str]:
        raise NotImplementedError

    def iterator(self, stream: dict[str, str], shard: str, position: str, sequence: str | None = None) -> str:
        raise NotImplementedError

    def to_record(self, record: dict[str, Any], shard: str, stream: dict[str, str]) -> dict[str, Any]:
        raise NotImplementedError

    def sequence_of(self, record: dict[str, Any]) -> str:
        raise NotImplementedError

    def poll_once(self) -> bool:
        stream = self.stream()
        busy = False
        for shard in self.shard_ids(stream):
            busy |= self._poll_shard(stream, shard)
        return busy

    def _poll_shard(self, stream: dict[str, str], shard: str) -> bool:
        if shard not in self._iterators:
            self._iterators[shard] = self.iterator(stream, shard, self.source.starting_position)
        answer = self.client(self.service).get_records(
            ShardIterator=self._iterators[shard], Limit=self.source.batch_size
        )
        records = answer["Records"]
        self._iterators[shard] = answer.get("NextShardIterator") or self._iterators[shard]
        wanted = [r for r in (self.to_record(r, shard, stream) for r in records) if passes_filters(self.source, r)]
        if not wanted:
            return bool(records)
        invocation = self.invoke(self.source.function, {"Records": wanted})
        failed = _failed_ids(invocation)
        _log(self.source, len(wanted), invocation, failed)
        retry_from = self._retry_point(wanted, failed)
        if retry_from is None and failed != []:
            self._send_to_on_failure(stream, shard, wanted, failed)
        if retry_from is not None:
            self._iterators[shard] = self.iterator(stream, shard, "AT_SEQUENCE_NUMBER", retry_from)
        return True

    def _send_to_on_failure(
        self, stream: dict[str, str], shard: str, records: list[dict[str, Any]], failed: list[str] | None
    ) -> None:
        """Describe the skipped batch to the OnFailure queue, in the shape Lambda sends."""
        if self.source.on_failure is None:
            return
        skipped = (
            records if failed is None else [r for r in records if int(self.sequence_of(r)) >= min(map(int, failed))]
        )
        info_key = "KinesisBatchInfo" if self.source.kind == "Kinesis" else "DDBStreamBatchInfo"
        message = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.source.max_retries + 1,
                "functionArn": f"arn:aws:lambda:{REGION}:123456789012:function:{self.source.function}",
            },
            "version": "1.0",
            "timestamp": datetime.now().astimezone().isoformat(),
            info_key: {
                "shardId": shard,
                "startSequenceNumber": self.sequence_of(skipped[0]),
                "endSequenceNumber": self.sequence_of(skipped[-1]),
                "batchSize": len(skipped),
                "streamArn": stream["arn"],
            },
        }
        queue = self.resources.physical[self.source.on_failure]
        self.client("sqs").send_message(QueueUrl=queue["QueueUrl"], MessageBody=json.dumps(message))

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
            return self.sequence_of(records[0])
        return min(failed, key=int)


class _KinesisPoller(_StreamPoller):
    service = "kinesis"

    def stream(self) -> dict[str, str]:
        physical = self.resources.physical[self.source.source]
        return {"name": physical["Ref"], "arn": physical["Arn"]}

    def shard_ids(self, stream: dict[str, str]) -> list[str]:
        return [shard["ShardId"] for shard in self.client("kinesis").list_shards(StreamName=stream["name"])["Shards"]]

    def iterator(self, stream: dict[str, str], shard: str, position: str, sequence: str | None = None) -> str:
        extra = {"StartingSequenceNumber": sequence} if sequence else {}
        return str(
            self.client("kinesis").get_shard_iterator(
                StreamName=stream["name"], ShardId=shard, ShardIteratorType=position, **extra
            )["ShardIterator"]
        )

    def to_record(self, record: dict[str, Any], shard: str, stream: dict[str, str]) -> dict[str, Any]:
        return _kinesis_record(record, shard, stream["arn"])

    def sequence_of(self, record: dict[str, Any]) -> str:
        return str(record["kinesis"]["sequenceNumber"])


class _DynamoDBStreamPoller(_StreamPoller):
    service = "dynamodbstreams"

    def stream(self) -> dict[str, str]:
        arn = self.resources.physical[self.source.source]["StreamArn"]
        return {"name": arn, "arn": arn}

    def shard_ids(self, stream: dict[str, str]) -> list[str]:
        description = self.client("dynamodbstreams").describe_stream(StreamArn=stream["arn"])["StreamDescription"]
        return [shard["ShardId"] for shard in description["Shards"]]

    def iterator(self, stream: dict[str, str], shard: str, position: str, sequence: str | None = None) -> str:
        extra = {"SequenceNumber": sequence} if sequence else {}
        return str(
            self.client("dynamodbstreams").get_shard_iterator(
                StreamArn=stream["arn"], ShardId=shard, ShardIteratorType=position, **extra
            )["ShardIterator"]
        )

    def to_record(self, record: dict[str, Any], shard: str, stream: dict[str, str]) -> dict[str, Any]:
        change = dict(record.get("dynamodb", {}))
        created = change.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):  # botocore parsed it; Lambda sends epoch seconds
            change["ApproximateCreationDateTime"] = int(created.timestamp())
        return {**record, "dynamodb": change, "eventSourceARN": stream["arn"], "awsRegion": REGION}

    def sequence_of(self, record: dict[str, Any]) -> str:
        return str(record["dynamodb"]["SequenceNumber"])


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

    def start(self, resources: LocalResources, *, skip_existing: bool = False) -> None:
        """``skip_existing``: every stream mapping starts after the records its stream holds now,
        whatever its StartingPosition (after a restored snapshot: they were delivered before it
        was saved, or are the restore's own writes)."""
        self._stop = threading.Event()
        kinds: dict[str, type[_Poller]] = {
            "Kinesis": _KinesisPoller,
            "DynamoDB": _DynamoDBStreamPoller,
            "SQS": _SqsPoller,
        }
        self._threads = [kinds[s.kind](s, resources, self.invoke, self._stop) for s in self.sources]
        for thread in self._threads:
            if skip_existing:
                thread.skip_existing()  # before the thread runs and before any request: nothing slips past
            thread.start()

    def settle(self, timeout: float) -> list[str]:
        """Wait until every mapping has delivered what its stream or queue holds (each has polled
        twice, begun after this call, and found nothing new); return the mappings that had not
        within ``timeout`` seconds, as "<source> -> <function>"."""
        marks = {thread: thread.empty_polls for thread in self._threads}
        deadline = time.monotonic() + timeout
        waiting = list(self._threads)
        while waiting and time.monotonic() < deadline:
            waiting = [t for t in waiting if t.is_alive() and t.empty_polls < marks[t] + 2]
            for thread in waiting:
                thread.wake.set()
            if waiting:
                time.sleep(0.02)
        return [f"{t.source.source} -> {t.source.function}" for t in waiting]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.wake.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads = []
