#!/usr/bin/env bash
# The README's fresh-clone figures: `make start` until GET /health answers 200 with empty
# package caches, then (with --test) `make test` through .ci/run with the caches it left, judged
# against the README's goal: exit 1 when it took longer than TEST_GOAL_SECONDS (6 minutes).
# Traffic goes only to 127.0.0.1; the server is stopped at the end, whatever happens.
set -euo pipefail
goal=${TEST_GOAL_SECONDS:-360}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d)
port=${PORT:-3390}
trap 'kill "${server:-0}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

git clone --quiet "$repo" "$work/clone"
cd "$work/clone"
export UV_CACHE_DIR="$work/uv-cache" PIP_NO_CACHE_DIR=1
started=$(date +%s%N)
make start PORT="$port" > "$work/start.log" 2>&1 &
server=$!
for _ in $(seq 1 1200); do   # 120 s at most
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ]; then
    printf 'make start -> GET /health 200: %.1f s (empty package caches)\n' "$(( $(date +%s%N) - started ))e-9"
    break
  fi
  sleep 0.1
done
grep -E '^  .* s$|ready in' "$work/start.log" || true
kill "$server"; wait "$server" 2>/dev/null || true

if [ "${1:-}" = --test ]; then
  started=$(date +%s%N)
  bash .ci/run > "$work/test.log" 2>&1 || { tail -40 "$work/test.log"; exit 1; }
  took=$(( ($(date +%s%N) - started) / 1000000000 ))
  printf 'make test (.ci/run): %d min %d s (goal: under %d s)\n' $(( took / 60 )) $(( took % 60 )) "$goal"
  tail -1 "$work/test.log"
  if [ "$took" -ge "$goal" ]; then
    echo "make test took ${took} s: over the README's goal of ${goal} s"
    exit 1
  fi
fi
