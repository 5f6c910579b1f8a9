"""moto's DynamoDB made as strict as DynamoDB where this project's design depends on it:
``install()`` patches moto's backend in this process (the tests' moto, the one ``make start``
embeds) so that transactions conflict (``conflicts``), a cancelled one rolls back only its own
items, and every call is metered as DynamoDB bills it (``meter``).

docs/decisions.md, "Users at DynamoDB's scale: index entries in slots, counter shards taken in
turn, conflicts retried".
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import moto.dynamodb.models as moto_models
from moto.dynamodb.exceptions import DynamodbException, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_READ_UNIT_BYTES = 4096
_WRITE_UNIT_BYTES = 1024

ItemKey = tuple[str, str]  # (table name, the item's key as text)


class TransactionConflictException(DynamodbException):
    def __init__(self) -> None:
        super().__init__(
            _ERROR_PREFIX + "TransactionConflictException",
            message="Transaction is ongoing for the item",
        )


@dataclass
class _Forced:
    remaining: int
    where: Callable[[ItemKey], bool]


@dataclass
class Conflicts:
    """When DynamoDB would refuse a write for another transaction (cancel a transaction that
    overlaps another on any item, refuse a plain write to an item inside one). Off by default.

    ``cancel_next`` cancels chosen transactions (deterministic, for tests); ``rate`` cancels that
    share at random (a fault); ``overlap_seconds`` makes every transaction hold its items that
    long, so that concurrent writers of one item really collide.
    """

    rate: float = 0.0
    overlap_seconds: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311 - faults, not secrets
    _forced: list[_Forced] = field(default_factory=list)
    _held: dict[ItemKey, float] = field(default_factory=dict)
    cancelled: int = 0
    refused: int = 0

    def cancel_next(self, count: int = 1, where: Callable[[ItemKey], bool] = lambda _: True) -> None:
        """Cancel the next ``count`` transactions (and refuse plain writes) touching an item ``where`` holds for."""
        self._forced.append(_Forced(count, where))

    def reset(self) -> None:
        self.rate, self.overlap_seconds = 0.0, 0.0
        self.rng = random.Random(0)  # noqa: S311 - the same faults for a test in any order
        self._forced.clear()
        self._held.clear()
        self.cancelled = self.refused = 0

    def _conflicting(self, keys: list[ItemKey], now: float, *, at_random: bool = True) -> ItemKey | None:
        for forced in self._forced:
            hit = next((key for key in keys if forced.where(key)), None)
            if hit is not None and forced.remaining > 0:
                forced.remaining -= 1
                return hit
        held = next((key for key in keys if self._held.get(key, 0.0) > now), None)
        if held is not None:
            return held
        if at_random and self.rate and keys and self.rng.random() < self.rate:
            return self.rng.choice(keys)
        return None

    def _hold(self, keys: list[ItemKey], now: float) -> None:
        if self.overlap_seconds:
            for key in keys:
                self._held[key] = now + self.overlap_seconds
            if len(self._held) > 10_000:  # forget windows long past
                self._held = {k: t for k, t in self._held.items() if t > now}


@dataclass(frozen=True)
class Usage:
    """One DynamoDB call as it would be billed."""

    operation: str
    table: str
    index: str | None
    items_read: int
    items_written: int
    read_units: float
    write_units: float
    keys_written: tuple[str, ...] = ()
    caller: str = ""  # the local runner's worker that made the call (local.boundary), if known


@dataclass
class Meter:
    """Each call's items read (examined) and written, its units as DynamoDB bills them (from moto's
    item sizes: approximately) and the keys it wrote, for the tests' and the bench's assertions."""

    records: list[Usage] = field(default_factory=list)

    def reset(self) -> None:
        self.records.clear()

    def take(self) -> list[Usage]:
        """What was recorded since the last take (or reset), and start again."""
        taken, self.records = self.records, []
        return taken

    @staticmethod
    def totals(records: list[Usage]) -> dict[str, float]:
        return {
            "items_read": sum(r.items_read for r in records),
            "items_written": sum(r.items_written for r in records),
            "read_units": sum(r.read_units for r in records),
            "write_units": sum(r.write_units for r in records),
        }

    @staticmethod
    def writes_per_key(records: list[Usage]) -> Counter[str]:
        """How many writes touched each item (a transaction counts once per item)."""
        return Counter(key for r in records for key in r.keys_written)


conflicts = Conflicts()
meter = Meter()
# Called with each recorded usage (the local runner's per-invocation costs, local.costs).
listeners: list[Callable[[Usage], None]] = []
# The caller of the request this thread serves (set by local.boundary around each AWS call).
current = threading.local()
_lock = threading.RLock()  # every patched call runs under it: moto's backends have no lock of their own
_inside = threading.local()


def _key_text(backend: DynamoDBBackend, table_name: str, attrs: dict[str, Any]) -> str:
    table = backend.get_table(table_name)
    parts = [next(iter(attrs[table.hash_key_attr].values()))]
    if table.range_key_attr:
        parts.append(next(iter(attrs[table.range_key_attr].values())))
    return "/".join(str(part) for part in parts)


def _key_attributes(backend: DynamoDBBackend, table_name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """The key attributes of an item (or of a key, unchanged)."""
    table = backend.get_table(table_name)
    return {name: attrs[name] for name in (table.hash_key_attr, table.range_key_attr) if name}


def _transaction_keys(
    backend: DynamoDBBackend, transact_items: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """(table, key attributes) of each item of a transaction, in its order."""
    keys = []
    for entry in transact_items:
        _, operation = next(iter(entry.items()))
        attrs = operation.get("Key") or operation["Item"]
        keys.append((operation["TableName"], _key_attributes(backend, operation["TableName"], attrs)))
    return keys


def _units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


@contextmanager
def _quiet() -> Iterator[None]:
    """Inner calls of a metered call (a transaction's puts) are not recorded again."""
    before = getattr(_inside, "depth", 0)
    _inside.depth = before + 1
    try:
        yield
    finally:
        _inside.depth = before


def _record(usage: Usage) -> None:
    if getattr(_inside, "depth", 0) == 0:
        caller = getattr(current, "caller", "")
        if caller:
            usage = dataclasses.replace(usage, caller=caller)
        meter.records.append(usage)
        for listener in listeners:
            listener(usage)


def _table_state(backend: DynamoDBBackend, keys: list[tuple[str, dict[str, Any]]]) -> Callable[[], None]:
    """A restore function for exactly these items and the tables' stream records."""
    saved = []
    streams = {}
    for table_name, attrs in keys:
        table = backend.get_table(table_name)
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
        saved.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
        if table.stream_shard is not None:
            streams[table_name] = (table.stream_shard, len(table.stream_shard.items))

    def restore() -> None:
        for table, hash_value, range_value, item in saved:
            if table.range_key_attr:
                bucket = table.items[hash_value]
                bucket.pop(range_value, None) if item is None else bucket.__setitem__(range_value, item)
            elif item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
        for shard, length in streams.values():
            del shard.items[length:]

    return restore


def install() -> None:
    """Patch moto's DynamoDB backend in this process (once)."""
    if getattr(DynamoDBBackend, "_nexus_strict", False):
        return
    original = {
        name: getattr(DynamoDBBackend, name)
        for name in ("transact_write_items", "put_item", "update_item", "delete_item", "get_item", "query", "scan")
    }

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with _lock:
            raw_keys = _transaction_keys(self, transact_items)
            keys = [(table_name, _key_text(self, table_name, attrs)) for table_name, attrs in raw_keys]
            now = time.monotonic()
            hit = conflicts._conflicting(keys, now)
            if hit is not None:
                conflicts.cancelled += 1
                raise TransactionCanceledException(
                    [
                        ("TransactionConflict", "Transaction is ongoing for the item", None)
                        if key == hit
                        else (None, None, None)
                        for key in keys
                    ]
                )
            restore = _table_state(self, raw_keys)
            # moto deep-copies every table it touches to roll back: our restore does it per item.
            with _no_table_copies(), _quiet():
                try:
                    original["transact_write_items"](self, transact_items)
                except Exception:
                    restore()
                    raise
            conflicts._hold(keys, now)
            sizes = [_units(_size_of(self, table_name, attrs), _WRITE_UNIT_BYTES) for table_name, attrs in raw_keys]
            _record(
                Usage(
                    "TransactWriteItems",
                    keys[0][0] if keys else "",
                    None,
                    0,
                    len(keys),
                    0.0,
                    2.0 * sum(sizes),
                    tuple(key for _, key in keys),
                )
            )

    def plain_write(name: str) -> Callable[..., Any]:
        operation_name = {"put_item": "PutItem", "update_item": "UpdateItem", "delete_item": "DeleteItem"}[name]

        def write(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
            with _lock:
                attrs = _key_attributes(
                    self, table_name, args[0] if args else kwargs.get("item_attrs") or kwargs["key"]
                )
                key = (table_name, _key_text(self, table_name, attrs))
                # Only an item inside a transaction refuses a plain write: no random share here.
                outside = getattr(_inside, "depth", 0) == 0
                if outside and conflicts._conflicting([key], time.monotonic(), at_random=False):
                    conflicts.refused += 1
                    raise TransactionConflictException()
                before = _size_of(self, table_name, attrs)  # a delete is billed on the item it removes
                with _quiet():
                    result = original[name](self, table_name, *args, **kwargs)
                size = before if name == "delete_item" else _size_of(self, table_name, attrs)
                _record(
                    Usage(
                        operation_name, table_name, None, 0, 1, 0.0, float(_units(size, _WRITE_UNIT_BYTES)), (key[1],)
                    )
                )
                return result

        return write

    def get_item(self: DynamoDBBackend, table_name: str, keys: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with _lock:
            item = original["get_item"](self, table_name, keys, *args, **kwargs)
            # A key looked up is read and billed (at least one unit) whether or not it exists.
            units = float(_units(item.size(), _READ_UNIT_BYTES)) if item is not None else 1.0
            _record(Usage("GetItem", table_name, None, 1, 0, units, 0.0))
            return item

    def reader(name: str, operation_name: str) -> Callable[..., Any]:
        def read(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
            with _lock:
                results, scanned, last_key = original[name](self, table_name, *args, **kwargs)
                call = signatures[name].bind(self, table_name, *args, **kwargs).arguments
                index_name = call.get("index_name")
                size = sum(item.size() for item in results)
                consistent = bool(kwargs.get("consistent_read")) and not index_name
                units = _units(size, _READ_UNIT_BYTES) * (1.0 if consistent else 0.5)
                _record(Usage(operation_name, table_name, index_name, scanned, 0, units, 0.0))
                return results, scanned, last_key

        return read

    signatures = {name: inspect.signature(original[name]) for name in ("query", "scan")}
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, plain_write(name))
    DynamoDBBackend.get_item = get_item  # type: ignore[method-assign]
    DynamoDBBackend.query = reader("query", "Query")  # type: ignore[method-assign]
    DynamoDBBackend.scan = reader("scan", "Scan")  # type: ignore[method-assign]
    DynamoDBBackend._nexus_strict = True  # type: ignore[attr-defined]


def _size_of(backend: DynamoDBBackend, table_name: str, attrs: dict[str, Any]) -> int:
    table = backend.get_table(table_name)
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    item = table.get_item(hash_value, range_value)
    return item.size() if item is not None else 0


class _SameTable:
    """Stands in for ``copy`` inside moto's transaction: tables are not copied, we restore items
    (moto's copies of whole tables cost O(table) a transaction and erase what other writers
    committed meanwhile)."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


@contextmanager
def _no_table_copies() -> Iterator[None]:
    saved = moto_models.copy
    moto_models.copy = _SameTable  # type: ignore[assignment]
    try:
        yield
    finally:
        moto_models.copy = saved
