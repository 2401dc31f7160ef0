#!/usr/bin/env bash
# The node's performance figures on loopback (the targets of the node issue):
# GET /api/blocks throughput and latency idle and while mining on all cores (wrk),
# a mined block's trip from node A to node B, and the restart of a running search
# when a longer chain is published (examples/node_timing.rs).
#
# Run with `bash examples/node_bench.sh` (needs redis-server and wrk; builds release).
# Uses Redis on port 6390 and nodes on ports 8001/8002; stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin minichain --example node_timing
TARGET=${CARGO_TARGET_DIR:-target}/release
R=redis://127.0.0.1:6390
redis-server --port 6390 --save "" --appendonly no >/dev/null 2>&1 &
REDIS=$!
NODES=()
DATA=$(mktemp -d)   # each node keeps its chain in a fresh directory of its own under it
start() { RUST_LOG=warn "$TARGET/minichain" node --redis $R --root none --mine-rate-ms 1 --data-dir "$(mktemp -d -p "$DATA")" "$@" >/dev/null 2>&1 & NODES+=($!); }
stop_nodes() { for p in "${NODES[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${NODES[@]}" 2>/dev/null || true; NODES=(); }
trap 'stop_nodes; kill $REDIS 2>/dev/null || true; rm -rf "$DATA"' EXIT
sleep 0.5

echo "== one node pinned at difficulty 60 (mines forever once asked), a 1,000-block chain of about 279 KB"
start --port 8001 --difficulty 60
sleep 1
"$TARGET/examples/node_timing" load $R 1000 279000
sleep 0.5
echo "== wrk -t2 -c16 GET /api/blocks, idle"
wrk -t2 -c16 -d10s --latency http://127.0.0.1:8001/api/blocks | grep -E "Requests/sec|50%|99%"
curl -s -X POST localhost:8001/api/mineblock -d '{"data": "forever"}' >/dev/null &
sleep 1.5
echo "== wrk -t2 -c16 GET /api/blocks, while mining on all cores"
wrk -t2 -c16 -d10s --latency http://127.0.0.1:8001/api/blocks | grep -E "Requests/sec|50%|99%"
curl -s localhost:8001/api/status | python3 -c 'import json,sys; m=json.load(sys.stdin)["mining"]; print("still mining:", m["active"], "threads", m["threads"], "%.1f MH/s" % (m["hash_rate"] / 1e6))'
echo "== restart on a published longer chain: one block longer (only the new block is validated)"
"$TARGET/examples/node_timing" restart http://127.0.0.1:8001 $R 200 extend
echo "== restart on a published longer chain: a whole new chain (validated whole)"
"$TARGET/examples/node_timing" restart http://127.0.0.1:8001 $R 100 full
stop_nodes

echo "== two nodes, a 1,000-block chain: mined on A, served by B"
start --port 8001
start --port 8002
sleep 1
"$TARGET/examples/node_timing" load $R 1000 279000
sleep 0.5
"$TARGET/examples/node_timing" propagation http://127.0.0.1:8001 http://127.0.0.1:8002 300
