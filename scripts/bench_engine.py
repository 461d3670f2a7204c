#!/usr/bin/python3
"""Time Gannet's CPU engine against PyTorch eager and jit+freeze, interleaved
in one session (issue 4; `make bench-engine`).

Run with Debian's interpreter (python3-torch, python3-torchvision):

    /usr/bin/python3 scripts/bench_engine.py [--threads 2] [--rounds 5] [--no-go]

Models: the Fashion-MNIST MLP and CNN (scripts/make_models.py's classes, at
batch 1, 8, 32) and torchvision's resnet18 and mobilenet_v2 (batch 1, 8):
the PyTorch modules that testdata/models and testdata/large were exported
from, with random weights (which do not change their cost). The torchvision
rows need testdata/large (`/usr/bin/python3 scripts/make_models.py
--torchvision`) for Gannet's side and are left out without it.

Each round times every (model, batch) cell in PyTorch eager and jit+freeze
(warm-up, then enough calls for about --cell-seconds), then runs Gannet's Go
benchmark once (models/onnx BenchmarkRun: Program.RunInto, a whole inference
with decoding and encoding into reused output buffers, from a test binary
built once), so load on a shared
machine hits all engines alike. The table gives, per cell, the median over
rounds of the mean time per call in milliseconds, Gannet's allocations per
run and the ratio Gannet / jit+freeze (the goal of issue 4 is <= 1.0).

OpenBLAS (Gannet's BLAS, and Debian PyTorch's) does not know Zen 5 in Debian's
0.3.21 and falls back to AVX2 kernels; on a CPU with AVX-512 the script sets
OPENBLAS_CORETYPE=SkylakeX for both engines unless it is already set
(--coretype '' leaves it alone).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LARGE = os.path.join(ROOT, "testdata", "large", "models")

FMNIST_BATCHES = (1, 8, 32)
LARGE_BATCHES = (1, 8)

GO_LINE = re.compile(
    r"BenchmarkRun/(\w+)/batch(\d+)-\d+\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?")


def has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512f" in f.read()
    except OSError:
        return False


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cell-seconds", type=float, default=0.4,
                    help="time spent per cell and engine in each round")
    ap.add_argument("--no-go", action="store_true", help="time PyTorch only")
    ap.add_argument("--go", action="store_true", help=argparse.SUPPRESS)  # the default; kept for old callers
    ap.add_argument("--no-large", action="store_true", help="leave out resnet18 and mobilenet_v2")
    ap.add_argument("--coretype", default="auto",
                    help="OPENBLAS_CORETYPE for both engines (auto: SkylakeX on AVX-512 CPUs)")
    return ap.parse_args()


ARGS = parse_args()
if ARGS.coretype == "auto":
    if "OPENBLAS_CORETYPE" not in os.environ and has_avx512():
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
elif ARGS.coretype:
    os.environ["OPENBLAS_CORETYPE"] = ARGS.coretype

# OpenBLAS reads OPENBLAS_CORETYPE when it is loaded: import torch after.
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_models import CNN, MLP  # noqa: E402


def per_call_ms(fn, x, seconds):
    with torch.inference_mode():
        for _ in range(3):
            fn(x)
        t0 = time.perf_counter()
        fn(x)
        one = max(time.perf_counter() - t0, 1e-6)
        iters = int(min(500, max(3, seconds / one)))
        t0 = time.perf_counter()
        for _ in range(iters):
            fn(x)
        return (time.perf_counter() - t0) * 1e3 / iters


def engines(model, x):
    model.eval()
    with torch.inference_mode():
        frozen = torch.jit.freeze(torch.jit.trace(model, x).eval())
    return {"eager": model, "jit": frozen}


def build_cells(large):
    cells = {}
    for name, cls in (("mlp", MLP), ("cnn", CNN)):
        for b in FMNIST_BATCHES:
            torch.manual_seed(0)
            x = torch.rand(b, 1, 28, 28)
            cells[(name, b)] = (x, engines(cls(), x))
    if large:
        import torchvision
        for name in ("resnet18", "mobilenet_v2"):
            for b in LARGE_BATCHES:
                torch.manual_seed(0)
                x = torch.randn(b, 3, 224, 224)
                cells[(name, b)] = (x, engines(getattr(torchvision.models, name)(weights=None), x))
    return cells


class GoBench:
    """models/onnx's BenchmarkRun from a test binary built once."""

    def __init__(self, threads, large):
        self.dir = tempfile.mkdtemp(prefix="gannet-bench-")
        self.bin = os.path.join(self.dir, "onnx.test")
        subprocess.run(["go", "test", "-c", "-o", self.bin, "./models/onnx"], cwd=ROOT, check=True)
        self.env = dict(os.environ, GOMAXPROCS=str(threads))
        # The small models run many calls; the large ones a few.
        self.runs = [("BenchmarkRun/(mlp|cnn)/", "300x")]
        if large:
            self.runs.append(("BenchmarkRun/(resnet18|mobilenet_v2)/", "8x"))

    def round(self):
        res = {}
        for pattern, benchtime in self.runs:
            out = subprocess.run(
                [self.bin, "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", benchtime,
                 "-test.count", "1", "-test.benchmem"],
                cwd=os.path.join(ROOT, "models", "onnx"), env=self.env, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"go benchmark failed:\n{out.stdout}\n{out.stderr}")
            for m, b, ns, _, allocs in GO_LINE.findall(out.stdout):
                res[(m, int(b))] = (float(ns) / 1e6, float(allocs) if allocs else float("nan"))
        return res


def main():
    torch.set_num_threads(ARGS.threads)
    large = not ARGS.no_large and all(
        os.path.exists(os.path.join(LARGE, m, "1", "model.onnx")) for m in ("resnet18", "mobilenet_v2"))
    if not large and not ARGS.no_large:
        print("testdata/large is absent: resnet18 and mobilenet_v2 left out "
              "(/usr/bin/python3 scripts/make_models.py --torchvision)", file=sys.stderr)
    cells = build_cells(large)
    go = None if ARGS.no_go else GoBench(ARGS.threads, large)

    times, allocs = {}, {}
    for r in range(ARGS.rounds):
        for key, (x, fns) in cells.items():
            for eng, fn in fns.items():
                times.setdefault(key + (eng,), []).append(per_call_ms(fn, x, ARGS.cell_seconds))
        if go:
            for key, (ms, al) in go.round().items():
                times.setdefault(key + ("gannet",), []).append(ms)
                allocs[key] = al
        print(f"round {r + 1}/{ARGS.rounds} done", file=sys.stderr, flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"torch {torch.__version__}, {ARGS.threads} threads, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '')}, medians of {ARGS.rounds} rounds, ms per batch")
    head = f"{'model':<14}{'batch':>6}{'eager':>10}{'jit+freeze':>12}"
    if go:
        head += f"{'gannet':>10}{'allocs':>8}{'gannet/jit':>12}"
    print(head)
    for (name, b) in cells:
        line = f"{name:<14}{b:>6}{med[(name, b, 'eager')]:>10.3f}{med[(name, b, 'jit')]:>12.3f}"
        if go and (name, b, "gannet") in med:
            g = med[(name, b, "gannet")]
            line += f"{g:>10.3f}{allocs[(name, b)]:>8.0f}{g / med[(name, b, 'jit')]:>12.2f}"
        print(line)


if __name__ == "__main__":
    main()
