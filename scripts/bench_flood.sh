#!/bin/bash
# Latency of a light client beside a flood of requests the server refuses.
#
#   scripts/bench_flood.sh [FLOOD_RATE [BINARY]]     (defaults: 9000, bin/gannet)
#
# Starts `BINARY serve` on free loopback ports (one local worker per model),
# then a light client of fashion-mnist-cnn over HTTP binary, 20 requests/s
# with no timeout (the model's 20 ms SLO) for 9 s, measured after its first
# second; from half a second in, for 8 s, a flood of FLOOD_RATE requests/s
# with a 1us timeout (every one is refused: its deadline cannot be met). Prints the light client's p50,
# p90, p99 and errors, and the flood's errors. A server that refuses well
# answers the light client as if the flood were not there (p50 about 2-4 ms
# on a 2-vCPU VM); one that lets the flood steer its batching holds the light
# client's requests toward their deadlines.
set -euo pipefail
cd "$(dirname "$0")/.."
FLOOD=${1:-9000}
BIN=${2:-bin/gannet}
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HP=$(port); ZP=$(port); WP=$(port)
OUT=$(mktemp -d)
"$BIN" serve --http-addr 127.0.0.1:$HP --zmq-addr tcp://127.0.0.1:$ZP --worker-addr tcp://127.0.0.1:$WP \
	--log-level warn > "$OUT/serve.log" 2>&1 &
SP=$!
trap 'kill $SP 2>/dev/null; wait $SP 2>/dev/null; rm -rf "$OUT"' EXIT
for _ in $(seq 150); do
	curl -sf "http://127.0.0.1:$HP/v2/models/fashion-mnist-cnn/ready" > /dev/null && break
	sleep 0.2
done
bench() { "$BIN" bench --url "http://127.0.0.1:$HP" --transport http-binary --model fashion-mnist-cnn --slo 20ms --json --quiet "$@"; }
# The light client first (its first second, before the flood, is its
# warm-up), so that the model has answers when the flood comes: a model idle
# for a second probes (admits without predictions), and a probe that met
# the flood's head would measure the flood, not the refusals.
bench --rate 20 --duration 8s --warmup 1s > "$OUT/light.json" &
LP=$!
sleep 0.5
bench --rate "$FLOOD" --duration 8s --warmup 0s --timeout 1us > "$OUT/flood.json"
wait $LP
summary='import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("%-6s offered %5.0f/s  ok %6d  p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  errors %s" % (
    sys.argv[2], r["rate"], r["ok"], r["p50_ms"], r["p90_ms"], r["p99_ms"], r["errors"]))'
/usr/bin/python3 -c "$summary" "$OUT/light.json" light
/usr/bin/python3 -c "$summary" "$OUT/flood.json" flood
