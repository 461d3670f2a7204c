#!/usr/bin/env python3
"""Interleaved A/B of goodput over HTTP binary, for fashion-mnist-cnn.

    /usr/bin/python3 scripts/bench_ab.py ROUNDS RATE[,RATE...] LABEL=BINARY:POLICY ...

e.g. scripts/bench_ab.py 5 10421 slo=bin/gannet:slo fixed=bin/gannet:fixed:2ms

Each round starts a fresh `BINARY serve --batching-policy POLICY` per
configuration (bench_slo.Server: free loopback ports, one local worker per
model) and runs `gannet bench` at each rate for BENCH_STEP_S seconds
(default 5), configurations interleaved so that a noisy machine hits them
alike. Prints every step, then per configuration and rate the median
goodput (OK answers within the 20 ms SLO per second) and all samples. One
`make bench` cell is a single sample; on a shared 2-vCPU VM the same cell
spans about +-15%, so compare policies by these medians.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_slo as b  # noqa: E402


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    rates = [float(x) for x in sys.argv[2].split(",")]
    cfgs = [a.split("=", 1) for a in sys.argv[3:]]
    res = {}
    for rnd in range(rounds):
        for label, spec in cfgs:
            binary, policy = spec.split(":", 1)
            b.BIN = os.path.abspath(binary)
            s = b.Server(policy)
            try:
                for rate in rates:
                    r = s.bench("http-binary", rate)
                    res.setdefault((label, rate), []).append(r["goodput"])
                    print("round %d %-8s offered %6.0f/s goodput %6.0f/s p50 %6.2f ms p99 %7.2f ms refused %d" % (
                        rnd + 1, label, rate, r["goodput"], r["p50_ms"], r["p99_ms"],
                        sum(r.get("refusals", {}).values())), flush=True)
            finally:
                s.stop()
    for (label, rate), v in sorted(res.items(), key=lambda x: (x[0][1], x[0][0])):
        print("%-8s %7.0f/s  median goodput %7.0f/s  samples %s" % (label, rate, statistics.median(v), [round(x) for x in v]))


if __name__ == "__main__":
    main()
