"""``make bench``: measure, print a table, write bench/results.json (see docs/PERFORMANCE.md)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

from bench.analytics_scale import measure as analytics_at_scale  # noqa: E402
from bench.analytics_scale import print_analytics_scale  # noqa: E402
from bench.cold_start import Runner  # noqa: E402
from bench.first_response import first_responses  # noqa: E402
from bench.first_response_report import print_first_responses  # noqa: E402
from bench.prices import price_rows, print_prices  # noqa: E402
from bench.reload import measure as reload_times  # noqa: E402
from bench.reload import print_reload  # noqa: E402
from bench.users_scale import measure as users_at_scale  # noqa: E402
from bench.users_scale import print_users_scale  # noqa: E402
from devkit.in_process_stack import in_process_stack  # noqa: E402
from local.template import Template  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
SAM_LAYER = ROOT / ".aws-sam" / "build" / "SharedLayer" / "python"
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "7"))
WARM_RUNS = int(os.environ.get("BENCH_WARM_RUNS", "500"))
WARM_WARMUP = 50
FIRST_RUNS = int(os.environ.get("BENCH_FIRST_RUNS", "11"))
TARGETS = {"cold_ratio": 1.15, "warm_ratio": 1.3, "warm_added_ms": 2.0, "layer_mb": 25.0}

# Scale on paper (issue 7): DynamoDB partition and Kinesis shard limits.
PARTITION_WCU = 1000  # write units per second one partition takes
INDEX_ITEM_WCU = 1  # one listing-index item of at most 1 KB per create
KINESIS_WRITE_RECORDS = 1000  # records per second per shard
KINESIS_WRITE_BYTES = 1_000_000
KINESIS_READ_BYTES = 2_000_000
CONSUMER_BATCH = 100
TRANSACTION_LATENCY_MS = 15.0  # a TransactWriteItems of ~2 items in-region (assumed, typical p50)
INVOKE_OVERHEAD_MS = 10.0  # Lambda's poller handing a batch to a warm function (assumed)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "arch": platform.machine()}


def cold_starts(template: Template) -> dict[str, Any]:
    runner = Runner(template)
    rows = runner.measure(COLD_RUNS)
    worst = sorted(rows, key=lambda r: -r.over_floor)[:3]
    functions = template.functions()
    profiles = {r.function: runner.import_profile(functions[r.function]) for r in worst}
    return {
        "runs": COLD_RUNS,
        "functions": [
            {
                "function": r.function,
                "init_ms": round(r.init_ms, 1),
                "baseline_init_ms": round(r.baseline_init_ms, 1),
                "ratio": round(r.ratio, 2),
                "floor_init_ms": round(r.floor_init_ms, 1),
                "floor_ratio": round(r.floor_ratio, 2),
                "over_floor": round(r.over_floor, 2),
                "process_ms": round(r.process_ms, 1),
                "baseline_process_ms": round(r.baseline_process_ms, 1),
            }
            for r in rows
        ],
        "importtime": profiles,
    }


def aws_calls(template: Template) -> dict[str, dict[str, int]]:
    from devkit.aws_calls import USAGE, count_aws_calls, run_scenarios

    with in_process_stack(template) as resources, count_aws_calls(usage=True) as counter:
        USAGE.clear()
        return run_scenarios(counter, resources, template)


def warm(recording: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}"}
    python = sys.executable
    subprocess.run(  # noqa: S603
        [python, "-m", "bench.warm", "record", str(recording)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    names = [s["name"] for s in json.loads(recording.read_text())["scenarios"]]
    results = []
    for name in names:
        out = recording.with_name(f"warm-{name}.json")
        subprocess.run(  # noqa: S603
            [python, "-m", "bench.warm", "replay", str(recording), name, str(out), str(WARM_WARMUP), str(WARM_RUNS)],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        result = json.loads(out.read_text())
        result["added_ms"] = result["median_ms"] - result["baseline_median_ms"]
        result["ratio"] = result["median_ms"] / result["baseline_median_ms"]
        result["floor_ratio"] = result["floor_median_ms"] / result["baseline_median_ms"]
        result["over_floor"] = result["median_ms"] / result["floor_median_ms"]
        results.append({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()})
    return results


def layer_size(layer: Path = SAM_LAYER) -> dict[str, Any]:
    if not layer.is_dir():
        return {"error": f"{layer} missing: run `make sam-build`"}
    files = [p for p in layer.rglob("*") if p.is_file()]
    unzipped = sum(p.stat().st_size for p in files)
    by_package: dict[str, int] = {}
    for path in files:
        top = path.relative_to(layer).parts[0]
        name = top.split("-")[0] if top.endswith(".dist-info") else top.removesuffix(".py")
        by_package[name] = by_package.get(name, 0) + path.stat().st_size
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in files:
                zipped.write(path, Path("python") / path.relative_to(layer))
        zipped_size = archive.stat().st_size
    runtime_provided = [
        n for n in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six") if n in by_package
    ]
    return {
        "unzipped_mb": round(unzipped / 1e6, 1),
        "zipped_mb": round(zipped_size / 1e6, 1),
        "pyc_files": sum(1 for p in files if p.suffix == ".pyc"),
        "runtime_packages_in_layer": runtime_provided,
        "largest": [
            {"package": name, "mb": round(size / 1e6, 2)}
            for name, size in sorted(by_package.items(), key=lambda item: -item[1])[:8]
        ],
    }


def scale(consumer_batch_ms: float, record_bytes: int) -> dict[str, Any]:
    shards = [1, 2, 4, 8, 16]
    batch_cycle_ms = consumer_batch_ms + TRANSACTION_LATENCY_MS + INVOKE_OVERHEAD_MS
    consumer_rate = CONSUMER_BATCH / (batch_cycle_ms / 1000)
    shard_write_limit = min(KINESIS_WRITE_RECORDS, KINESIS_WRITE_BYTES // record_bytes)
    shard_read_limit = KINESIS_READ_BYTES // record_bytes
    return {
        "listing_index_creates_per_second": {str(n): n * PARTITION_WCU // INDEX_ITEM_WCU for n in shards},
        "consumer": {
            "record_bytes": record_bytes,
            "measured_batch_ms": round(consumer_batch_ms, 2),
            "assumed_transaction_ms": TRANSACTION_LATENCY_MS,
            "assumed_invoke_overhead_ms": INVOKE_OVERHEAD_MS,
            "consumer_events_per_second": round(consumer_rate),
            "shard_write_limit_records_per_second": shard_write_limit,
            "shard_read_limit_records_per_second": shard_read_limit,
            "sustained_events_per_second_per_shard": round(min(consumer_rate, shard_write_limit, shard_read_limit)),
        },
    }


def _check(ok: bool) -> str:
    return "ok " if ok else "MISS"


PARTS = ("first", "cold", "calls", "warm", "layer", "users", "analytics", "reload")


def print_report(results: dict[str, Any], parts: set[str] | frozenset[str] = frozenset(PARTS)) -> None:
    m = results["machine"]
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, Python {m['python']} ({m['arch']})")
    if "first" in parts and "first_response" in results:
        print_first_responses(results["first_response"])
    if "cold" in parts and "cold_start" in results:
        cold = results["cold_start"]
        print(
            f"\n1. Cold start (init = import app; median of {cold['runs']}, the three run in turn;"
            " bare = boto3 + the same clients; floor = bare + the stack used the least a handler can)"
        )
        print(
            f"{'function':28} {'init ms':>8} {'bare ms':>8} {'floor ms':>9} {'ratio':>6}"
            f" {'floor/bare':>10} {'init/floor':>10}  target ratio <= {TARGETS['cold_ratio']}"
        )
        for row in cold["functions"]:
            ok = row["ratio"] <= TARGETS["cold_ratio"]
            print(
                f"{row['function']:28} {row['init_ms']:8.1f} {row['baseline_init_ms']:8.1f} {row['floor_init_ms']:9.1f}"
                f" {row['ratio']:6.2f} {row['floor_ratio']:10.2f} {row['over_floor']:10.2f}  {_check(ok)}"
            )
        for function, profile in cold["importtime"].items():
            top = ", ".join(f"{p['package']} {p['ms']}" for p in profile["beyond_floor_ms_by_package"][:8])
            print(f"  importtime {function}, self ms beyond the floor by package: {top}")
    if "calls" in parts and "aws_calls" in results:
        from devkit.aws_calls import PHYSICAL_LIMITS

        print("\n2. AWS calls per composite operation (moto in process, botocore before-call; limit: issue 13's)")
        print(f"  {'scenario':32} {'calls':>5} {'limit':>5}")
        for name, calls in results["aws_calls"].items():
            total = sum(calls.values())
            limit = PHYSICAL_LIMITS.get(name)
            verdict = f"{limit:5}  {_check(total <= limit)}" if limit is not None else f"{'':5}     "
            print(f"  {name:32} {total:5} {verdict}  {', '.join(f'{op} {n}' for op, n in calls.items())}")
    if "warm" in parts and "warm" in results:
        print(
            f"\n3. Warm invocation, AWS stubbed at HTTP (before-send), median of {WARM_RUNS};"
            " floor = the bare work inside Powertools' resolver, Logger and Metrics"
        )
        print(
            f"{'scenario':24} {'calls':>5} {'real ms':>8} {'bare ms':>8} {'floor ms':>9} {'added':>7} {'ratio':>6}"
            f" {'floor/bare':>10} {'real/floor':>10}  target <= 1.3x and < 2 ms"
        )
        for row in results["warm"]:
            ok = row["ratio"] <= TARGETS["warm_ratio"] and row["added_ms"] < TARGETS["warm_added_ms"]
            print(
                f"{row['scenario']:24} {row['calls']:5} {row['median_ms']:8.3f} {row['baseline_median_ms']:8.3f}"
                f" {row['floor_median_ms']:9.3f} {row['added_ms']:7.3f} {row['ratio']:6.2f}"
                f" {row['floor_ratio']:10.2f} {row['over_floor']:10.2f}  {_check(ok)}"
            )
    if "prices" in results and parts & {"calls", "warm"}:
        print_prices(results["prices"])
    if "layer" in parts and "layer" in results:
        layer = results["layer"]
        print("\n4. Layer (sam build, arm64)")
        if "error" in layer:
            print(f"  {layer['error']}")
        else:
            ok = layer["unzipped_mb"] <= TARGETS["layer_mb"]
            print(
                f"  unzipped {layer['unzipped_mb']} MB, zipped {layer['zipped_mb']} MB, {layer['pyc_files']} .pyc;"
                f" runtime packages in it: {layer['runtime_packages_in_layer'] or 'none'}  {_check(ok)}"
            )
            print("  largest: " + ", ".join(f"{p['package']} {p['mb']}" for p in layer["largest"]))
    if "warm" in parts and "scale" in results:
        s = results["scale"]
        print("\n5. Scale on paper")
        print(
            "  listing index creates/s before throttling, by USER_LIST_SHARDS: "
            + ", ".join(f"{n}: {v:,}" for n, v in s["listing_index_creates_per_second"].items())
        )
        c = s["consumer"]
        print(
            f"  consumer: batch of {CONSUMER_BATCH} takes {c['measured_batch_ms']} ms of CPU (stubbed) +"
            f" {c['assumed_transaction_ms']} ms transaction + {c['assumed_invoke_overhead_ms']} ms invoke"
            f" -> {c['consumer_events_per_second']:,} events/s;"
            f" shard write limit {c['shard_write_limit_records_per_second']:,}/s"
            f" -> sustained {c['sustained_events_per_second_per_shard']:,} events/s per shard"
        )

    if "users" in parts and "users_scale" in results:
        print_users_scale(results["users_scale"])
    if "reload" in parts and "reload" in results:
        print_reload(results["reload"])
    if "analytics" in parts and "analytics_scale" in results:
        consumer = next((r for r in results.get("warm", []) if r["scenario"] == "consumer_batch_100"), None)
        print_analytics_scale(results["analytics_scale"], consumer["median_ms"] if consumer else None)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run ({', '.join(PARTS)}); the others keep bench/results.json's figures",
    )
    parser.add_argument("--functions", default="", help="comma-separated logical ids (first response only)")
    parser.add_argument("--runs", type=int, default=FIRST_RUNS, help="rounds of the first-response bench")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    options = arguments(sys.argv[1:] if argv is None else argv)
    parts = {p.strip() for p in options.only.split(",") if p.strip()}
    if unknown := parts - set(PARTS):
        raise SystemExit(f"unknown parts: {', '.join(sorted(unknown))} (choose from {', '.join(PARTS)})")
    started = time.monotonic()
    template = Template()
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if parts != set(PARTS) and RESULTS.is_file() else {}
    results.update({"machine": machine(), "command": "make bench" if parts == set(PARTS) else " ".join(sys.argv)})
    if "first" in parts:
        print("time to first response ...", flush=True)
        only = [f for f in options.functions.split(",") if f] or None
        results["first_response"] = first_responses(template, options.runs, only)
    if "cold" in parts:
        print("cold starts ...", flush=True)
        results["cold_start"] = cold_starts(template)
    if "calls" in parts:
        from devkit.aws_calls import USAGE

        print("AWS calls ...", flush=True)
        results["aws_calls"] = aws_calls(template)
        results["usage"] = dict(USAGE)
    if "warm" in parts:
        print("warm invocations ...", flush=True)
        with tempfile.TemporaryDirectory() as scratch:
            results["warm"] = warm(Path(scratch) / "recording.json")
        from devkit.aws_calls import consumer_batch_event

        record_bytes = max(len(r["kinesis"]["data"]) * 3 // 4 for r in consumer_batch_event()["Records"])
        consumer = next(r for r in results["warm"] if r["scenario"] == "consumer_batch_100")
        results["scale"] = scale(consumer["median_ms"], record_bytes)
    if "layer" in parts:
        results["layer"] = layer_size()
    if "users" in parts:
        print("users at scale (1k, 10k) ...", flush=True)
        results["users_scale"] = users_at_scale(template)
    if "analytics" in parts:
        print("analytics counting (1 and 4 shards) ...", flush=True)
        results["analytics_scale"] = analytics_at_scale(template)
    if "reload" in parts:
        print("hot reload (10 saves of a function, 10 of the layer, 10 restarts) ...", flush=True)
        results["reload"] = reload_times()
    if "aws_calls" in results and "usage" in results:
        results["prices"] = price_rows(results["aws_calls"], results["usage"], results.get("warm"), template)
    results["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results, parts)
    print(f"\nwrote {RESULTS.relative_to(ROOT)} in {results['seconds']} s")


if __name__ == "__main__":
    main()
