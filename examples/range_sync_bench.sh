#!/usr/bin/env bash
# Start-up sync of an empty node from a root holding a long chain, side by side in
# one run: the paged sync (`--root`, pages of 1,000 blocks, stored in batches) and the
# whole-chain copy the start-up sync made before (GET /api/blocks from the root, its
# body offered to the empty node whole, as POST /api/chain does; the message limit is
# raised for it, since a default node refuses a chain over 32 MB). Each in turn,
# ROUNDS times; prints each run's time, blocks/s and the empty node's peak RSS (VmHWM),
# and the ratios paged / whole.
#
# Run with `bash examples/range_sync_bench.sh [BLOCKS] [ROUNDS]` (default 100000 2;
# builds release; needs curl and python3). Nodes on ports 8011-8013, data under a
# temporary directory removed at exit; stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
BLOCKS=${1:-100000}
ROUNDS=${2:-2}
cargo build --release --quiet --bin minichain --example make_chain
TARGET=${CARGO_TARGET_DIR:-target}/release
DATA=$(mktemp -d)
NODES=()
stop_nodes() { for p in "${NODES[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${NODES[@]}" 2>/dev/null || true; NODES=(); }
trap 'stop_nodes; rm -rf "$DATA"' EXIT
LIMIT=$((BLOCKS * 400 + 1000000))
start() { # PORT ROOT [FLAGS...]: a node in a fresh data directory; its pid in $PID
  local port=$1 root=$2; shift 2
  RUST_LOG=${BENCH_LOG:-warn} "$TARGET/minichain" node --port "$port" --redis none --root "$root" --threads 1 \
    --kernel portable --data-dir "$(mktemp -d -p "$DATA")" "$@" >/dev/null 2>>"$DATA/log" &
  PID=$!; NODES+=("$PID")
  until curl -sf "localhost:$port/healthz" >/dev/null; do sleep 0.05; done
}
stop_one() { kill "$1"; wait "$1" 2>/dev/null || true; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

"$TARGET/examples/make_chain" "$((BLOCKS + 1))" "$DATA/chain.json"
start 8011 none --max-message-bytes "$LIMIT"
curl -sf -X POST localhost:8011/api/chain --data-binary @"$DATA/chain.json" | json 'd["length"]' >/dev/null
echo "root holds $(curl -sf localhost:8011/api/status | json 'd["length"]') blocks"

for round in $(seq "$ROUNDS"); do
  start 8012 http://127.0.0.1:8011
  until [ "$(curl -sf localhost:8012/api/status | json 'd["sync"]["startup"]["state"]')" = done ]; do sleep 0.05; done
  paged_ms=$(curl -sf localhost:8012/api/status | json 'd["sync"]["startup"]["elapsed_ms"]')
  paged_len=$(curl -sf localhost:8012/api/status | json 'd["length"]')
  paged_hwm=$(hwm_mb "$PID")
  stop_one "$PID"

  start 8013 none --max-message-bytes "$LIMIT"
  t0=$(date +%s%N)
  curl -sf localhost:8011/api/blocks | curl -sf -X POST localhost:8013/api/chain --data-binary @- >/dev/null
  whole_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  whole_len=$(curl -sf localhost:8013/api/status | json 'd["length"]')
  whole_hwm=$(hwm_mb "$PID")
  stop_one "$PID"

  python3 - "$BLOCKS" "$paged_ms" "$paged_len" "$paged_hwm" "$whole_ms" "$whole_len" "$whole_hwm" <<'EOF'
import sys
n, pm, pl, ph, wm, wl, wh = (int(x) for x in sys.argv[1:])
print(f"paged: {pl} blocks in {pm} ms ({n / pm * 1000:.0f} blocks/s), peak RSS {ph} MB | "
      f"whole: {wl} blocks in {wm} ms ({n / wm * 1000:.0f} blocks/s), peak RSS {wh} MB | "
      f"paged/whole: time {pm / wm:.2f}, RSS {ph / wh:.2f}")
EOF
done
[ -n "${BENCH_LOG:-}" ] && grep -h "adopted blocks" "$DATA/log" | tail -12 || true
