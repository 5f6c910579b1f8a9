"""local/snapshot_file.py and local/snapshots.py: the file's format, its errors in one line, and a
capture that a restore gives back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.moto_api._internal.models import moto_api_backend

from local import snapshot_file, snapshots
from local.emulated_aws import EmulatedAws
from local.mail import SentMail
from local.provisioning import LocalResources
from local.snapshot_file import LAYOUT, Snapshot, SnapshotError, SnapshotMissing
from local.template import Template


def test_binary_values_go_to_json_and_back_at_any_depth() -> None:
    item = {
        "pk": {"S": "USER#1"},
        "blob": {"B": b"\x00\xff"},
        "blobs": {"BS": [b"a", b"\x01"]},
        "nested": {"M": {"inner": {"L": [{"B": b"\x02"}, {"N": "3"}, {"M": {"deep": {"B": b"\x03"}}}]}}},
        "flag": {"BOOL": True},
    }
    encoded = snapshots._item_json(item)
    assert json.loads(json.dumps(encoded)) == encoded
    assert encoded["blob"] == {"B": "AP8="}
    assert snapshots._item_from_json(encoded) == item


def test_mail_documents_come_back_as_they_were_shown() -> None:
    document = {
        "id": "m-1",
        "source": "Nexus <noreply@example.com>",
        "destinations": {"ToAddresses": ["a@example.com"]},
        "subject": "Welcome",
        "body": "<p>hi</p>",
        "to": ["a@example.com"],
        "cc": [],
        "sent_at": "2026-12-06T10:00:00.123456Z",
        "text": "hi",
        "html": "<p>hi</p>",
        "attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "size": 3}],
    }
    assert SentMail.from_document(document).document() == document


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "-dash", "x" * 65, "a b"])
def test_a_name_that_is_not_a_plain_file_name_is_refused(name: str) -> None:
    with pytest.raises(snapshot_file.BadSnapshotName, match="is not a snapshot name"):
        snapshot_file.snapshot_path(name)


def test_names_are_files_in_the_data_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(snapshot_file.DATA_DIR_ENV, str(tmp_path))
    assert snapshot_file.snapshot_path("before-v2.1_x") == tmp_path / "snapshots" / "before-v2.1_x.json"
    assert snapshot_file.state_file() == tmp_path / "state" / "local.json"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"layout": 0}, "x.json has layout 0; this runner reads layout 1 only"),
        ({"layout": "1"}, "x.json has layout '1'; this runner reads layout 1 only"),  # a string is not the number
        ([], "x.json is not a snapshot (no layout number)"),
        ({"tables": {}}, "x.json is not a snapshot (no layout number)"),
        ({"layout": LAYOUT, "tables": []}, "not a snapshot of layout 1: tables is a list, not a dict"),
        ({"layout": LAYOUT, "tables": {"T": [1]}}, "tables.T[] is a int, not a dict"),
        ({"layout": LAYOUT, "streams": {"S": {"shard": [{"data": "x"}]}}}, "'sequence_number'"),
        ({"layout": LAYOUT, "queues": {"Q": [{"attributes": {}}]}}, "'body'"),
        ({"layout": LAYOUT, "secrets": {"S": 1}}, "secrets.S is a int, not a str"),
        ({"layout": LAYOUT, "mail": [{"id": "m"}]}, "not a snapshot of layout 1"),
    ],
)
def test_another_layout_or_shape_is_one_line(document: Any, message: str) -> None:
    with pytest.raises(SnapshotError) as raised:
        Snapshot.parse(document, "x.json")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_or_corrupt_file(tmp_path: Path) -> None:
    with pytest.raises(SnapshotMissing, match="no snapshot named gone"):
        snapshot_file.read(tmp_path / "gone.json", "gone")
    (tmp_path / "half.json").write_text('{"layout": 1, "tables": ')
    with pytest.raises(SnapshotError, match=r"half.json is corrupt: not JSON \(Expecting value"):
        snapshot_file.read(tmp_path / "half.json")


def test_write_then_read_and_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(snapshot_file.DATA_DIR_ENV, str(tmp_path))
    snapshot = Snapshot(saved_at="2026-12-06T10:00:00Z", tables={"T": [{"pk": {"S": "1"}}]}, secrets={"S": "v"})
    snapshot_file.write(snapshot_file.snapshot_path("b"), snapshot)
    snapshot_file.write(snapshot_file.snapshot_path("a"), Snapshot(saved_at=""))
    (tmp_path / "snapshots" / "not a name.json").write_text("{}")
    assert snapshot_file.read(snapshot_file.snapshot_path("b")) == snapshot
    assert [entry.name for entry in snapshot_file.listed()] == ["a", "b"]
    assert not list((tmp_path / "snapshots").glob(".*")), "no partial file left"


def _emulated(resources: LocalResources) -> EmulatedAws:
    """An EmulatedAws over the test's in-process moto (the same backends the server's moto uses)."""
    emulated = EmulatedAws(resources.template)
    emulated.resources = resources
    return emulated


def _fill(resources: LocalResources) -> None:
    """Data of every kind a snapshot keeps."""
    physical = resources.physical
    resources.client("dynamodb").put_item(
        TableName=physical["AnalyticsTable"]["Ref"],
        Item={"pk": {"S": "CHECKPOINT"}, "sk": {"S": "shardId-000000000000"}, "blob": {"B": b"\x00"}},
    )
    resources.client("kinesis").put_records(
        StreamName=physical["AnalyticsStream"]["Ref"],
        Records=[{"Data": f'{{"n": {n}}}'.encode(), "PartitionKey": f"p{n}"} for n in range(3)],
    )
    sqs = resources.client("sqs")
    queue = physical["WelcomeEmailQueue"]["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="waiting")
    sqs.send_message(
        QueueUrl=queue,
        MessageBody="in flight",
        MessageAttributes={"kind": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}},
    )
    # One message received and not deleted (in flight): a snapshot keeps it as well.
    sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=600)
    sender = physical["SenderIdentity"]["Ref"]
    boto3.client("sesv2").send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": ["a@example.com"]},
        Content={"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Html": {"Data": "<p>hi</p>"}}}},
    )


def _without_time(snapshot: Snapshot) -> dict[str, Any]:
    document = snapshot.document()
    document.pop("saved_at")
    return document


def test_a_capture_restored_into_new_resources_captures_the_same(aws: LocalResources, template: Template) -> None:
    _fill(aws)
    saved = snapshots.capture(_emulated(aws))
    tables = len(template.of_type("AWS::DynamoDB::Table"))
    assert saved.summary() == f"1 items in {tables} tables, 3 stream records, 2 queued messages, 1 emails"
    assert [r["sequence_number"] for r in saved.streams["AnalyticsStream"]["shardId-000000000000"]] == ["1", "2", "3"]

    moto_api_backend.reset()  # as the server's reset does: every resource and item gone
    fresh = LocalResources(template, boto3.Session()).create_all()
    assert snapshots.capture(_emulated(fresh)).secrets != saved.secrets, "new resources, new random secrets"
    emulated = _emulated(fresh)
    from_file = Snapshot.parse(json.loads(json.dumps(saved.document())), "x.json")
    snapshots.check(from_file, fresh, "x.json")
    snapshots.restore(emulated, from_file)

    assert _without_time(snapshots.capture(emulated)) == _without_time(saved)
    # A record put after the restore goes on from the old sequence numbers.
    put = fresh.client("kinesis").put_record(
        StreamName=fresh.physical["AnalyticsStream"]["Ref"], Data=b"{}", PartitionKey="after"
    )
    assert put["SequenceNumber"] == "4"


def test_a_snapshot_of_resources_the_template_no_longer_has_is_refused(aws: LocalResources) -> None:
    snapshot = Snapshot(saved_at="", tables={"UsersTable": [], "OldTable": []})
    with pytest.raises(SnapshotError, match=r"x.json holds the table OldTable, which template.yaml does not declare"):
        snapshots.check(snapshot, aws, "x.json")
