"""Users at scale (issue 23), on the strict emulated DynamoDB in this process.

- **Work per route at 1k and 10k users**: the items each request examines and each write
  touches, and its units, from ``local.strict_dynamodb.meter``. The 1k figures are the
  baseline of the 10k ones: equal means bounded by the page.
- **Hot items**: over every write of the run (sign-ups, deactivations, updates, deletes), the
  share of writes on the busiest item.
- **Sign-ups under 8-way concurrency**: 8 threads signing up distinct users through
  ``UserService.create_user`` while each transaction holds its items 20 ms (as DynamoDB's do,
  so that overlapping transactions conflict) and a fifth of transactions are cancelled besides;
  the baseline is the same run without conflicts. Every outcome is counted: created, 409, or
  anything else (which would be a 5xx).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local import strict_dynamodb
from local.template import Template

SIZES = (1_000, 10_000)
LIMIT = 20
CONCURRENCY = 8
SIGN_UPS_PER_THREAD = int(os.environ.get("BENCH_CONFLICT_SIGN_UPS", "40"))
OVERLAP_SECONDS = 0.02
CONFLICT_RATE = 0.2


def _writes(service: Any) -> dict[str, dict[str, float]]:
    """Items and units of one sign-up (one tag, two-word name), one update, one delete."""
    from nexus.users import NewUser, UserChanges

    meter = strict_dynamodb.meter
    measured: dict[str, dict[str, float]] = {}
    meter.take()
    created = service.create_user(
        NewUser(username="measured_user", email="measured@example.com", full_name="Measured User", tags=["tag1"])
    )
    measured["create (1 tag, 2-word name)"] = meter.totals(meter.take())
    service.update_user(created.id, UserChanges(full_name="Renamed Person", tags=["tag2"]))
    measured["update (name and tag)"] = meter.totals(meter.take())
    service.update_user(created.id, UserChanges(is_active=False))
    measured["update (is_active)"] = meter.totals(meter.take())
    service.delete_user(created.id)
    measured["delete"] = meter.totals(meter.take())
    return measured


def _sign_ups_under_conflicts(service: Any, rate: float, overlap: float, tag: str) -> dict[str, Any]:
    from nexus.errors import ConflictError
    from nexus.users import NewUser

    strict_dynamodb.conflicts.reset()
    strict_dynamodb.conflicts.rate = rate
    strict_dynamodb.conflicts.overlap_seconds = overlap
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(CONCURRENCY)

    def sign_up(thread: int) -> None:
        start.wait()
        for n in range(SIGN_UPS_PER_THREAD):
            began = time.perf_counter()
            try:
                service.create_user(
                    NewUser(username=f"{tag}{thread}x{n}", email=f"{tag}{thread}x{n}@example.com", tags=["busy"])
                )
                outcome = "created"
            except ConflictError as exc:
                outcome = f"409 {exc.code}"
            except Exception as exc:  # noqa: BLE001 - anything else would be a 5xx: count it
                outcome = f"error {type(exc).__name__}"
            with lock:
                outcomes[outcome] += 1
                latencies.append((time.perf_counter() - began) * 1000)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(sign_up, range(CONCURRENCY)))
    conflicts = strict_dynamodb.conflicts
    result = {
        "sign_ups": CONCURRENCY * SIGN_UPS_PER_THREAD,
        "outcomes": dict(outcomes),
        "five_xx": sum(n for o, n in outcomes.items() if o.startswith("error")),
        "cancelled": conflicts.cancelled,
        "median_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(statistics.quantiles(latencies, n=100)[98], 1),
    }
    conflicts.reset()
    return result


def measure(template: Template) -> dict[str, Any]:
    from devkit.api_client import ApiClient
    from devkit.in_process_stack import in_process_stack
    from devkit.scale import read_per_request, seed_users, user_service

    strict_dynamodb.install()
    result: dict[str, Any] = {"limit": LIMIT, "reads": {}, "writes": {}}
    with in_process_stack(template):
        api = ApiClient(template)
        service = user_service()
        meter = strict_dynamodb.meter
        meter.take()
        seeded = 0
        all_writes: list[strict_dynamodb.Usage] = []
        for size in SIZES:
            seed_users(service, size - seeded, start=seeded)
            all_writes += [u for u in meter.take() if u.items_written]
            seeded = size
            result["reads"][str(size)] = read_per_request(api, LIMIT)
            result["writes"][str(size)] = _writes(service)
            all_writes += [u for u in meter.take() if u.items_written]
        hottest, count = meter.writes_per_key(all_writes).most_common(1)[0]
        result["hot_item"] = {"key": hottest, "writes": count, "of": len(all_writes), "share": count / len(all_writes)}
        result["concurrency"] = {
            "baseline": _sign_ups_under_conflicts(service, 0.0, 0.0, "calm"),
            "conflicts": _sign_ups_under_conflicts(service, CONFLICT_RATE, OVERLAP_SECONDS, "busy"),
        }
    return result


def print_users_scale(result: dict[str, Any]) -> None:
    small, large = (str(size) for size in SIZES)
    print(f"\n6. Users at scale (strict emulated DynamoDB; items examined per request, page of {result['limit']})")
    print(f"  {'request':32} {small + ' users':>10} {large + ' users':>11}  bounded")
    for name, read in result["reads"][large].items():
        base = result["reads"][small][name]
        print(f"  {name:32} {base:10} {read:11}  {'ok ' if read == base else 'MISS'}")
    print(f"  {'write':32} {'items':>10} {'write units':>11}  (at {large} users; at {small}: the same?)")
    for name, usage in result["writes"][large].items():
        base = result["writes"][small][name]
        same = usage["items_written"] == base["items_written"]
        print(f"  {name:32} {usage['items_written']:10.0f} {usage['write_units']:11.0f}  {'ok ' if same else 'MISS'}")
    hot = result["hot_item"]
    print(
        f"  hottest item: {hot['key']} on {hot['writes']} of {hot['of']:,} writes = {hot['share']:.1%}"
        f"  (goal <= 5 %)  {'ok ' if hot['share'] <= 0.05 else 'MISS'}"
    )
    calm, busy = result["concurrency"]["baseline"], result["concurrency"]["conflicts"]
    print(
        f"  {CONCURRENCY}-way sign-ups, {busy['sign_ups']} each run: with {CONFLICT_RATE:.0%} cancelled and"
        f" {OVERLAP_SECONDS * 1000:.0f} ms overlap: {busy['cancelled']} transactions cancelled,"
        f" outcomes {busy['outcomes']}, 5xx {busy['five_xx']}  {'ok ' if busy['five_xx'] == 0 else 'MISS'}"
    )
    print(
        f"  sign-up latency median {busy['median_ms']} ms, p99 {busy['p99_ms']} ms;"
        f" without conflicts (baseline, same run) {calm['median_ms']} ms, p99 {calm['p99_ms']} ms"
        f" (ratio {busy['median_ms'] / calm['median_ms']:.2f})"
    )
