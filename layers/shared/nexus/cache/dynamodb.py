"""The default cache backend: items with a TTL attribute in a DynamoDB table.

DynamoDB deletes expired items only eventually (and moto never does), so every read
compares ``expires_at`` with the clock: an expired item reads as missing.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, PynamoDBException, UpdateError
from pynamodb.models import Model

from nexus import aws
from nexus.cache.backend import CacheBackend, CacheBackendError, NotAnIntegerError
from nexus.timeutil import Clock, utc_now

_MAX_RESETS = 3


class CacheItem(Model):
    class Meta:
        table_name = "unbound"  # set by DynamoDBCacheBackend

    key = UnicodeAttribute(hash_key=True)
    value = UnicodeAttribute(null=True)  # JSON text of anything but an integer
    number = NumberAttribute(null=True)  # integers, so that increment is one atomic ADD
    version = NumberAttribute(null=True)
    expires_at = NumberAttribute()  # epoch seconds: the table's TTL attribute


def _is_integer(value: Any) -> bool:
    return type(value) is int


def _conditional_check_failed(exc: PynamoDBException) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


class DynamoDBCacheBackend(CacheBackend):
    name = "dynamodb"

    def __init__(self, table_name: str, *, clock: Clock = utc_now, **meta: Any) -> None:
        CacheItem.Meta.table_name = table_name
        for name, value in meta.items():
            setattr(CacheItem.Meta, name, value)
        CacheItem._connection = None
        aws.share_dynamodb_client(CacheItem)
        self._clock = clock

    def _now(self) -> int:
        return math.floor(self._clock().timestamp())

    def _item(self, key: str, value: Any, ttl: int, version: int | None = None) -> CacheItem:
        item = CacheItem(key, expires_at=self._now() + ttl, version=version)
        if _is_integer(value):
            item.number = value
        else:
            item.value = json.dumps(value, separators=(",", ":"))
        return item

    def _live(self, key: str) -> CacheItem | None:
        try:
            item = CacheItem.get(key, consistent_read=True)
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise CacheBackendError(str(exc)) from exc
        return item if item.expires_at > self._now() else None

    def get(self, key: str) -> Any | None:
        item = self._live(key)
        if item is None:
            return None
        if item.number is not None:
            return int(item.number)
        return json.loads(item.value) if item.value is not None else None

    def set(self, key: str, value: Any, ttl: int) -> None:
        try:
            self._item(key, value, ttl).save()
        except PynamoDBException as exc:
            raise CacheBackendError(str(exc)) from exc

    def set_if_newer(self, key: str, value: Any, version: int, ttl: int) -> bool:
        condition = (
            CacheItem.key.does_not_exist()
            | CacheItem.version.does_not_exist()
            | (CacheItem.version < version)
            | (CacheItem.expires_at <= self._now())
        )
        try:
            self._item(key, value, ttl, version).save(condition=condition)
        except PutError as exc:
            if _conditional_check_failed(exc):
                return False
            raise CacheBackendError(str(exc)) from exc
        return True

    def delete(self, key: str) -> bool:
        try:
            response = CacheItem._get_connection().delete_item(key, return_values="ALL_OLD")
        except PynamoDBException as exc:
            raise CacheBackendError(str(exc)) from exc
        old: dict[str, Any] = (response or {}).get("Attributes") or {}
        return bool(old) and int(old["expires_at"]["N"]) > self._now()

    def exists(self, key: str) -> bool:
        return self._live(key) is not None

    def increment(self, key: str, amount: int, ttl: int) -> int:
        for _ in range(_MAX_RESETS):
            now = self._now()
            live_integer = (
                CacheItem.key.does_not_exist() | (CacheItem.expires_at > now)
            ) & CacheItem.value.does_not_exist()
            try:
                item = CacheItem(key)
                item.update(
                    actions=[CacheItem.number.add(amount), CacheItem.expires_at.set(CacheItem.expires_at | now + ttl)],
                    condition=live_integer,
                )
                return int(item.number)
            except UpdateError as exc:
                if not _conditional_check_failed(exc):
                    raise CacheBackendError(str(exc)) from exc
            # Either a live non-integer (an error) or an expired item (start again from 0).
            current = self._live(key)
            if current is not None:
                raise NotAnIntegerError(f"cache value of {key!r} is not an integer")
            try:
                self._item(key, amount, ttl).save(condition=CacheItem.expires_at <= now)
                return amount
            except PutError as exc:
                if not _conditional_check_failed(exc):
                    raise CacheBackendError(str(exc)) from exc
        raise CacheBackendError(f"increment of {key!r} kept racing with expiry")

    def ping(self) -> None:
        self._live("__ping__")
