#!/usr/bin/python3
"""Time the Fashion-MNIST models in PyTorch (eager and jit+freeze) and,
optionally, in Gannet's accel engine, interleaved in one session.

Run with Debian's interpreter (python3-torch):

    /usr/bin/python3 scripts/bench_engine.py [--threads 2] [--rounds 5] [--go]

The models are scripts/make_models.py's MLP and CNN (the architectures of
testdata/models/*); PyTorch runs them with random weights, which does not
change their cost. Each round times every (model, batch, engine) cell for
--iters calls after a warm-up, in turn, so load on a shared machine hits all
engines alike; the table gives the median over rounds of the mean per call,
in milliseconds. With --go each round also runs the Go benchmark

    go test ./accel/ -run XXX -bench 'Models/./batch/accel' -benchtime 200x

and the table adds Gannet's median and its ratio to PyTorch jit+freeze
(the goal of issue 4 is <= 1.0).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_models import CNN, MLP  # noqa: E402

BATCHES = (1, 8, 32)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def per_call_ms(fn, x, iters):
    with torch.inference_mode():
        for _ in range(max(3, iters // 10)):
            fn(x)
        t0 = time.perf_counter()
        for _ in range(iters):
            fn(x)
        return (time.perf_counter() - t0) * 1e3 / iters


def engines(model, batch):
    model.eval()
    x = torch.rand(batch, 1, 28, 28)
    with torch.inference_mode():
        frozen = torch.jit.freeze(torch.jit.trace(model, x).eval())
    return x, {"eager": model, "jit": frozen}


GO_LINE = re.compile(r"BenchmarkModels/(\w+)/batch(\d+)/accel-\d+\s+\d+\s+([\d.]+) ns/op")


def go_round(threads):
    env = dict(os.environ, GOMAXPROCS=str(threads))
    out = subprocess.run(
        ["go", "test", "./accel/", "-run", "XXX", "-bench", "Models/./batch/accel",
         "-benchtime", "200x", "-count", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    return {(m, int(b)): float(ns) / 1e6 for m, b, ns in GO_LINE.findall(out)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--go", action="store_true", help="also time Gannet (go test -bench)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    cells = {}
    for name, cls in (("mlp", MLP), ("cnn", CNN)):
        for b in BATCHES:
            cells[(name, b)] = engines(cls(), b)
    times = {}
    for r in range(args.rounds):
        for key, (x, fns) in cells.items():
            for eng, fn in fns.items():
                times.setdefault(key + (eng,), []).append(per_call_ms(fn, x, args.iters))
        if args.go:
            for key, ms in go_round(args.threads).items():
                times.setdefault(key + ("gannet",), []).append(ms)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"torch {torch.__version__}, {args.threads} threads, medians of {args.rounds} rounds, ms per batch")
    head = f"{'model':<6}{'batch':>6}{'eager':>10}{'jit+freeze':>12}"
    if args.go:
        head += f"{'gannet':>10}{'gannet/jit':>12}"
    print(head)
    for (name, b) in cells:
        line = f"{name:<6}{b:>6}{med[(name, b, 'eager')]:>10.3f}{med[(name, b, 'jit')]:>12.3f}"
        if args.go and (name, b, "gannet") in med:
            g = med[(name, b, "gannet")]
            line += f"{g:>10.3f}{g / med[(name, b, 'jit')]:>12.2f}"
        print(line)


if __name__ == "__main__":
    main()
