"""The snapshot file: what a snapshot holds (``Snapshot``, a JSON document with a ``layout``
number), where snapshots live, and reading, writing and listing them, each error one line.

local/README.md, "State that survives"; docs/decisions.md, "2026-12-06: state that survives a
restart of the local runner: a snapshot through the APIs, streams delivered first".
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from local.mail import SentMail
from local.template import ROOT

LAYOUT = 1
DATA_DIR_ENV = "LOCAL_DATA_DIR"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class SnapshotError(Exception):
    """A snapshot that cannot be saved or loaded; ``status`` is the HTTP answer's."""

    status = 422


class SnapshotMissing(SnapshotError):
    status = 404


class BadSnapshotName(SnapshotError):
    status = 400


class NotEmbedded(SnapshotError):
    status = 409


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or ROOT / ".build")


def snapshot_dir() -> Path:
    return data_dir() / "snapshots"


def state_file() -> Path:
    """What `start --persist` loads when it starts and saves when it stops."""
    return data_dir() / "state" / "local.json"


def snapshot_path(name: str) -> Path:
    if not _NAME.fullmatch(name):
        raise BadSnapshotName(
            f"{name!r} is not a snapshot name: letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    return snapshot_dir() / f"{name}.json"


@dataclass(frozen=True)
class Snapshot:
    """The data, in the file's JSON forms: items in DynamoDB JSON and every binary value in base64."""

    saved_at: str
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # logical id -> items
    streams: dict[str, dict[str, list[dict[str, str]]]] = field(default_factory=dict)  # id -> shard -> records
    queues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # logical id -> messages
    secrets: dict[str, str] = field(default_factory=dict)  # logical id -> SecretString
    parameters: dict[str, str] = field(default_factory=dict)  # SSM name -> SecureString value
    mail: list[dict[str, Any]] = field(default_factory=list)  # /_local/emails' documents, oldest first

    def document(self) -> dict[str, Any]:
        return {
            "layout": LAYOUT,
            "saved_at": self.saved_at,
            "tables": self.tables,
            "streams": self.streams,
            "queues": self.queues,
            "secrets": self.secrets,
            "parameters": self.parameters,
            "mail": self.mail,
        }

    def summary(self) -> str:
        items = sum(len(items) for items in self.tables.values())
        records = sum(len(records) for shards in self.streams.values() for records in shards.values())
        messages = sum(len(messages) for messages in self.queues.values())
        return (
            f"{items} items in {len(self.tables)} tables, {records} stream records, "
            f"{messages} queued messages, {len(self.mail)} emails"
        )

    @classmethod
    def parse(cls, document: Any, where: str) -> Snapshot:
        """The snapshot ``document`` holds; SnapshotError (one line) for another layout or a shape not of this one."""
        if not isinstance(document, dict) or "layout" not in document:
            raise SnapshotError(f"{where} is not a snapshot (no layout number)")
        layout = document["layout"]
        if layout != LAYOUT:
            raise SnapshotError(
                f"{where} has layout {layout!r}; this runner reads layout {LAYOUT} only "
                "(snapshots are not converted: load it with the version that saved it, or save the data again)"
            )
        try:
            snapshot = cls(
                saved_at=_of(document.get("saved_at", ""), str, "saved_at"),
                tables={
                    table: [_of(item, dict, f"tables.{table}[]") for item in _of(items, list, f"tables.{table}")]
                    for table, items in _of(document.get("tables", {}), dict, "tables").items()
                },
                streams={
                    stream: {
                        shard: [_record(record, f"streams.{stream}.{shard}[]") for record in _of(records, list, shard)]
                        for shard, records in _of(shards, dict, f"streams.{stream}").items()
                    }
                    for stream, shards in _of(document.get("streams", {}), dict, "streams").items()
                },
                queues={
                    queue: [_message(message, f"queues.{queue}[]") for message in _of(messages, list, queue)]
                    for queue, messages in _of(document.get("queues", {}), dict, "queues").items()
                },
                secrets=_strings(document.get("secrets", {}), "secrets"),
                parameters=_strings(document.get("parameters", {}), "parameters"),
                mail=[_of(mail, dict, "mail[]") for mail in _of(document.get("mail", []), list, "mail")],
            )
            for mail in snapshot.mail:
                SentMail.from_document(mail)
        except (ValueError, KeyError, TypeError) as error:
            raise SnapshotError(f"{where} is not a snapshot of layout {LAYOUT}: {error}") from error
        return snapshot


def _of[T](value: Any, kind: type[T], where: str) -> T:
    if not isinstance(value, kind):
        raise TypeError(f"{where} is a {type(value).__name__}, not a {kind.__name__}")
    return value


def _strings(value: Any, where: str) -> dict[str, str]:
    return {str(k): _of(v, str, f"{where}.{k}") for k, v in _of(value, dict, where).items()}


def _record(value: Any, where: str) -> dict[str, str]:
    record = _of(value, dict, where)
    return {key: _of(record[key], str, f"{where}.{key}") for key in ("sequence_number", "partition_key", "data")}


def _message(value: Any, where: str) -> dict[str, Any]:
    message = _of(value, dict, where)
    _of(message["body"], str, f"{where}.body")
    _of(message.get("attributes", {}), dict, f"{where}.attributes")
    return message


# Files ------------------------------------------------------------------------------------------


def read(path: Path, name: str | None = None) -> Snapshot:
    """The snapshot in ``path``; SnapshotMissing when there is none (``name``: what the user called it)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SnapshotMissing(f"no snapshot named {name} ({path})" if name else f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SnapshotError(f"{path} cannot be read: {error}") from error
    try:
        document = json.loads(text)
    except ValueError as error:
        raise SnapshotError(f"{path} is corrupt: not JSON ({error})") from error
    return Snapshot.parse(document, str(path))


def write(path: Path, snapshot: Snapshot) -> None:
    """Atomically: a reader, or a stop in the middle, never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(snapshot.document(), separators=(",", ":")) + "\n")
    partial.replace(path)


@dataclass(frozen=True)
class Listed:
    name: str
    modified: datetime
    size: int

    def line(self) -> str:
        return f"{self.name}  saved {self.modified:%Y-%m-%d %H:%M:%S}  {self.size / 1024:.1f} KiB"


def listed() -> list[Listed]:
    found = []
    for path in sorted(snapshot_dir().glob("*.json")):
        if _NAME.fullmatch(path.stem):
            stat = path.stat()
            found.append(Listed(path.stem, datetime.fromtimestamp(stat.st_mtime), stat.st_size))
    return found
