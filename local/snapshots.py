"""State that survives a restart of the local runner: the embedded emulated AWS's data (tables,
stream records, queue messages, generated secrets, sent mail) captured into a ``Snapshot``
(``local.snapshot_file``), read through the AWS APIs where they do not change what they read,
and restored so that the streams keep their sequence numbers.

local/README.md, "State that survives"; docs/decisions.md, "2026-12-06: state that survives a
restart of the local runner: a snapshot through the APIs, streams delivered first".
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local.mail import SentMail
from local.snapshot_file import NotEmbedded, Snapshot, SnapshotError

if TYPE_CHECKING:
    from local.emulated_aws import EmulatedAws
    from local.provisioning import LocalResources

_TABLE, _STREAM, _QUEUE, _SECRET = (
    "AWS::DynamoDB::Table",
    "AWS::Kinesis::Stream",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
)
_PUT_RECORDS = 500  # Kinesis' PutRecords limit
_SEND_MESSAGES = 10  # SQS's SendMessageBatch limit


# Saving -----------------------------------------------------------------------------------------


def capture(aws: EmulatedAws) -> Snapshot:
    """The emulated AWS's data now (see the module's docstring for what, and how it is read)."""
    if not aws.embedded:
        raise NotEmbedded("snapshots need the embedded emulated AWS: AWS_ENDPOINT_URL is set, and that keeps its own")
    resources = aws.resources
    return Snapshot(
        saved_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        tables={table: _scan(resources, table) for table in _present(resources, _TABLE)},
        streams={stream: _stream_records(resources, stream) for stream in _present(resources, _STREAM)},
        queues={queue: _queue_messages(resources, queue) for queue in _present(resources, _QUEUE)},
        secrets={
            secret: str(
                resources.client("secretsmanager").get_secret_value(SecretId=resources.physical[secret]["Ref"])[
                    "SecretString"
                ]
            )
            for secret in _present(resources, _SECRET)
        },
        parameters={
            name: str(resources.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
            for name in resources.secure_string_parameters()
        },
        mail=aws.sent_emails(),
    )


def _present(resources: LocalResources, resource_type: str) -> list[str]:
    return [logical_id for logical_id in resources.template.of_type(resource_type) if logical_id in resources.physical]


def _scan(resources: LocalResources, table: str) -> list[dict[str, Any]]:
    pages = resources.client("dynamodb").get_paginator("scan")
    name = resources.physical[table]["Ref"]
    return [_item_json(item) for page in pages.paginate(TableName=name, ConsistentRead=True) for item in page["Items"]]


def _stream_records(resources: LocalResources, stream: str) -> dict[str, list[dict[str, str]]]:
    kinesis, name = resources.client("kinesis"), resources.physical[stream]["Ref"]
    shards: dict[str, list[dict[str, str]]] = {}
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        shard_id = shard["ShardId"]
        iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
        position, records = iterator["ShardIterator"], []
        while position:
            answer = kinesis.get_records(ShardIterator=position, Limit=10_000)
            records += [
                {
                    "sequence_number": str(record["SequenceNumber"]),
                    "partition_key": str(record["PartitionKey"]),
                    "data": base64.b64encode(record["Data"]).decode("ascii"),
                }
                for record in answer["Records"]
            ]
            position = answer.get("NextShardIterator") if answer["Records"] else None
        shards[shard_id] = records
    return shards


def _queue_messages(resources: LocalResources, queue: str) -> list[dict[str, Any]]:
    """Every message, visible or not, from moto's backend: reading through the API would change them."""
    from moto.sqs.models import sqs_backends

    from local.account import ACCOUNT, REGION

    found = sqs_backends[ACCOUNT][REGION].queues[resources.physical[queue]["QueueName"]]
    with found._messages_lock:  # moto's own lock around its message list
        messages = list(found._messages)
    return [
        {
            "body": message.body,
            "attributes": {
                name: _attribute_json(value) for name, value in sorted(dict(message.message_attributes).items())
            },
            **({"group_id": message.group_id} if message.group_id else {}),
            **({"deduplication_id": message.deduplication_id} if message.deduplication_id else {}),
        }
        for message in messages
    ]


def _attribute_json(value: dict[str, Any]) -> dict[str, str]:
    encoded = {"DataType": str(value["DataType"])}
    if "StringValue" in value:
        encoded["StringValue"] = str(value["StringValue"])
    if "BinaryValue" in value:
        encoded["BinaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return encoded


def _item_json(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _value_json(value) for name, value in item.items()}


def _value_json(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(element).decode("ascii") for element in inner]}
    if kind == "M":
        return {"M": _item_json(inner)}
    if kind == "L":
        return {"L": [_value_json(element) for element in inner]}
    return value


def _item_from_json(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _value_from_json(value) for name, value in item.items()}


def _value_from_json(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner, validate=True)}
    if kind == "BS":
        return {"BS": [base64.b64decode(element, validate=True) for element in inner]}
    if kind == "M":
        return {"M": _item_from_json(inner)}
    if kind == "L":
        return {"L": [_value_from_json(element) for element in inner]}
    return value


# Loading ----------------------------------------------------------------------------------------


def check(snapshot: Snapshot, resources: LocalResources, where: str) -> None:
    """Before anything is reset: every table, stream, queue, secret and parameter the snapshot
    holds is one the template still declares."""
    declared: list[tuple[str, Mapping[str, object], list[str]]] = [
        ("table", snapshot.tables, _present(resources, _TABLE)),
        ("stream", snapshot.streams, _present(resources, _STREAM)),
        ("queue", snapshot.queues, _present(resources, _QUEUE)),
        ("secret", snapshot.secrets, _present(resources, _SECRET)),
        ("SecureString parameter", snapshot.parameters, resources.secure_string_parameters()),
    ]
    for what, held, known in declared:
        unknown = sorted(set(held) - set(known))
        if unknown:
            raise SnapshotError(f"{where} holds the {what} {', '.join(unknown)}, which template.yaml does not declare")


def restore(aws: EmulatedAws, snapshot: Snapshot) -> None:
    """Write ``snapshot`` into ``aws``, whose resources are new and empty (checked: ``check``)."""
    resources = aws.resources
    for secret, value in snapshot.secrets.items():
        resources.client("secretsmanager").put_secret_value(
            SecretId=resources.physical[secret]["Ref"], SecretString=value
        )
    for name, value in snapshot.parameters.items():
        resources.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    for table, items in snapshot.tables.items():
        _write_items(resources, resources.physical[table]["Ref"], items)
    for stream, shards in snapshot.streams.items():
        _put_records(resources, stream, shards)
    for queue, messages in snapshot.queues.items():
        _send_messages(resources, resources.physical[queue]["QueueUrl"], messages)
    aws.restored_mail = [SentMail.from_document(mail) for mail in snapshot.mail]


def _write_items(resources: LocalResources, table: str, items: list[dict[str, Any]]) -> None:
    """Straight into the embedded moto's DynamoDB, as its PutItem handler does: the start waits
    for this, and BatchWriteItem over HTTP is several times slower (figures: the decision entry)."""
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.models import dynamodb_backends

    from local.account import ACCOUNT, REGION

    backend = dynamodb_backends[ACCOUNT][REGION]
    for item in items:
        try:
            backend.put_item(table, _item_from_json(item))
        except DynamodbException as error:
            raise SnapshotError(f"table {table} refused an item: {error.message}") from error


def _put_records(resources: LocalResources, stream: str, shards: dict[str, list[dict[str, str]]]) -> None:
    """Each shard's records again, in order, each sent to its shard: the emulator numbers a new
    stream's records from 1 as it did the first time, so each gets its sequence number back."""
    kinesis, name = resources.client("kinesis"), resources.physical[stream]["Ref"]
    hash_keys = {
        shard["ShardId"]: shard["HashKeyRange"]["StartingHashKey"]
        for shard in kinesis.list_shards(StreamName=name)["Shards"]
    }
    for shard, records in shards.items():
        if shard not in hash_keys:
            raise SnapshotError(f"stream {stream} has no shard {shard} (it has {', '.join(sorted(hash_keys))})")
        for start in range(0, len(records), _PUT_RECORDS):
            chunk = records[start : start + _PUT_RECORDS]
            answer = kinesis.put_records(
                StreamName=name,
                Records=[
                    {
                        "Data": base64.b64decode(record["data"], validate=True),
                        "PartitionKey": record["partition_key"],
                        "ExplicitHashKey": hash_keys[shard],
                    }
                    for record in chunk
                ],
            )
            for record, put in zip(chunk, answer["Records"], strict=True):
                if (put.get("ShardId"), put.get("SequenceNumber")) != (shard, record["sequence_number"]):
                    raise SnapshotError(
                        f"stream {stream}: record {shard}/{record['sequence_number']} came back as "
                        f"{put.get('ShardId')}/{put.get('SequenceNumber')}: its sequence numbers cannot be restored"
                    )


def _send_messages(resources: LocalResources, url: str, messages: list[dict[str, Any]]) -> None:
    sqs = resources.client("sqs")
    for start in range(0, len(messages), _SEND_MESSAGES):
        entries = []
        for index, message in enumerate(messages[start : start + _SEND_MESSAGES]):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["body"]}
            attributes = {
                name: {
                    **{key: value for key, value in attribute.items() if key != "BinaryValue"},
                    **(
                        {"BinaryValue": base64.b64decode(attribute["BinaryValue"], validate=True)}
                        if "BinaryValue" in attribute
                        else {}
                    ),
                }
                for name, attribute in message.get("attributes", {}).items()
            }
            if attributes:
                entry["MessageAttributes"] = attributes
            if message.get("group_id"):
                entry["MessageGroupId"] = message["group_id"]
            if message.get("deduplication_id"):
                entry["MessageDeduplicationId"] = message["deduplication_id"]
            entries.append(entry)
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
        if failed:
            raise SnapshotError(f"queue {url}: {len(failed)} messages refused ({failed[0].get('Message')})")
