#!/usr/bin/env python3
"""make bench-slo: the SLO figures of the batching issue, in one run.

Runs bin/gannet (built by make; a fresh server for each sweep and part) on
this machine, with the load generator on the same machine, for
fashion-mnist-cnn (slo: 20ms at p99):

  ceiling  gannet bench --in-process: compute throughput per batch size; the
           ceiling is the best one whose batch p50 fits in the SLO
  a        max goodput (OK answers within the SLO per second, over a sweep of
           offered rates) over HTTP JSON, HTTP binary and the SDK, as a ratio
           to the ceiling
  b        the same sweep (HTTP binary) for the SLO policy and the fixed-delay
           and AIMD baselines, BENCH_B_ROUNDS rounds (default 3) with the
           three policies interleaved in each; per cell the median goodput
  c        60 s (BENCH_OVERLOAD_S) at 2x the max goodput: accepted p99,
           refusals vs the excess, peak RSS of gannet serve vs at 50% load;
           and where the time went: the server's own share of answers within
           the SLO (from the kernel's receive time, /metrics), the wait to be
           read (gannet_request_intake_seconds p99) and the bench's send lag
  d        serving overhead: p50 at one request in flight (10/s) minus the
           in-process batch-1 p50, per transport
  e        a burst (10x the base rate for 2 s): share of requests within the
           SLO, SLO policy vs fixed delay
  floor    what no server can beat here: the same generator against an
           HTTP server that does nothing (bin/rttfloor, another process),
           at a's best HTTP binary rate: the CPU per request of the two,
           and the ratio to the ceiling a server would reach on all the
           cores if its only other cost were the model's compute (CPU per
           row of the ceiling's batch size); and the p50 at one request
           every 100 ms of a server that does nothing, over HTTP and
           ZeroMQ: the floor under d
  drift    the ceiling measured again at the end: a shared VM's speed can
           change during the run (10,939 at the start and 17,009 rows/s at
           the end of one shortened run on a 2-vCPU VM), and every ratio
           rests on the first one

Every sweep step also reports the CPU time per request of gannet serve, its
worker and the load generator (from /proc and getrusage): the three share
this machine's cores, while the ceiling has the cores to itself, which
bounds a.

Only the Python standard library; prints a table per part and writes every
result to bench-out/slo.json. Environment: BENCH_STEP_S (seconds per sweep
point, default 5), BENCH_OVERLOAD_S (default 60), BENCH_B_ROUNDS (default
3), FIXED_DELAY (default 2ms).
"""
import json
import os
import resource
import statistics
import signal
import socket
import subprocess
import sys
import time
import urllib.request

BIN = os.path.abspath("bin/gannet")
FLOOR = os.path.abspath("bin/rttfloor")
MODEL = "fashion-mnist-cnn"
SLO_MS = 20.0
STEP_S = float(os.environ.get("BENCH_STEP_S", "5"))
OVERLOAD_S = float(os.environ.get("BENCH_OVERLOAD_S", "60"))
B_ROUNDS = int(os.environ.get("BENCH_B_ROUNDS", "3"))
FIXED = os.environ.get("FIXED_DELAY", "2ms")
OUT = "bench-out"
FRACTIONS = [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User plus system CPU time of a live process, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def last_json(out):
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("no JSON line in:\n" + out[-2000:])


class Server:
    """gannet serve with one local worker per model, on free loopback ports."""

    def __init__(self, policy):
        self.http = free_port()
        self.zmq = free_port()
        args = [BIN, "serve", "--http-addr", "127.0.0.1:%d" % self.http,
                "--zmq-addr", "tcp://127.0.0.1:%d" % self.zmq,
                "--worker-addr", "tcp://127.0.0.1:%d" % free_port(),
                "--batching-policy", policy, "--log-level", "warn"]
        self.proc = subprocess.Popen(args)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.http), 1) as s:
                    s.sendall(b"GET /v2/models/%s/ready HTTP/1.0\r\n\r\n" % MODEL.encode())
                    if b" 200 " in s.recv(100):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server not ready")

    def workers(self):
        # Every child of serve is a worker (of either model; the idle one
        # costs only heartbeats).
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]

    def bench(self, transport, rate, duration=STEP_S, extra=()):
        """One gannet bench run; its result gains cpu_us, the CPU time per
        request (warm-up included) of serve, its workers and the bench."""
        procs = [self.proc.pid] + self.workers()
        before = [cpu_seconds(p) for p in procs] + [children_cpu()]
        args = [BIN, "bench", "--url", "http://127.0.0.1:%d" % self.http,
                "--sdk", "tcp://127.0.0.1:%d" % self.zmq, "--transport", transport,
                "--model", MODEL, "--rate", "%.1f" % rate, "--duration", "%gs" % duration,
                "--warmup", "1s", "--slo", "%gms" % SLO_MS, "--json", "--quiet"] + list(extra)
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        r = last_json(out)
        try:
            after = [cpu_seconds(p) for p in procs] + [children_cpu()]
        except OSError:  # a worker went away: no CPU figures for this step
            return r
        sent = r.get("requests", 0) + rate  # and the 1 s warm-up
        if sent > 0:
            used = [a - b for a, b in zip(after, before)]
            r["cpu_us"] = {"serve": 1e6 * used[0] / sent, "workers": 1e6 * sum(used[1:-1]) / sent,
                           "bench": 1e6 * used[-1] / sent}
        return r

    def peak_rss_mib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0

    def server_view(self):
        """The server's own count of the model's answers: (met, missed)
        the SLO from arrival, and the intake histogram's buckets
        (cumulative, by upper bound), from /metrics."""
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http, timeout=10).read().decode()
        met = missed = 0.0
        intake = []
        for line in text.splitlines():
            if 'model="%s"' % MODEL not in line:
                continue
            name, _, val = line.rpartition(" ")
            if name.startswith("gannet_slo_requests_total"):
                if 'outcome="met"' in name:
                    met = float(val)
                else:
                    missed = float(val)
            elif name.startswith("gannet_request_intake_seconds_bucket"):
                le = name.split('le="')[1].split('"')[0]
                intake.append((float("inf") if le == "+Inf" else float(le), float(val)))
        return met, missed, intake

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def floor(meta, rate, ceiling, compute_us):
    """The generator against bin/rttfloor --serve (answers the model's
    metadata to GETs and an empty 200 to every POST): CPU per request of
    both at rate, and the bound on a that leaves: a served row costs the
    model's compute_us of CPU (the ceiling's batch size, in process) on
    top of these, and the machine has os.cpu_count() cores. Then
    bin/rttfloor's p50 at one request every 100 ms, HTTP and ZeroMQ."""
    meta_file = os.path.join(OUT, "metadata.json")
    with open(meta_file, "wb") as f:
        f.write(meta)
    srv = subprocess.Popen([FLOOR, "--serve", "127.0.0.1:0", "--get-body", meta_file], stdout=subprocess.PIPE, text=True)
    try:
        addr = srv.stdout.readline().strip()
        before = (cpu_seconds(srv.pid), children_cpu())
        out = subprocess.run([BIN, "bench", "--url", "http://" + addr, "--transport", "http-binary", "--model", MODEL,
                              "--rate", "%.1f" % rate, "--duration", "%gs" % STEP_S, "--warmup", "1s", "--json", "--quiet"],
                             check=True, capture_output=True, text=True).stdout
        after = (cpu_seconds(srv.pid), children_cpu())
    finally:
        srv.kill()
        srv.wait()
    r = last_json(out)
    sent = r["requests"] + rate
    cores = os.cpu_count()
    f = {"rate": rate, "throughput": r["throughput"], "server_cpu_us": 1e6 * (after[0] - before[0]) / sent,
         "bench_cpu_us": 1e6 * (after[1] - before[1]) / sent, "compute_cpu_us": compute_us}
    f["max_ratio"] = cores * 1e6 / (compute_us + f["server_cpu_us"] + f["bench_cpu_us"]) / ceiling
    for key, extra in [("rtt_p50_us", []), ("zmq_rtt_p50_us", ["--zmq"])]:
        line = subprocess.run([FLOOR, "--gap", "100ms", "--n", "50"] + extra, check=True, capture_output=True, text=True).stdout
        f[key] = float(line.split(" p50 ")[1].split()[0])
    return f


def sweep(server, transport, ceiling):
    rows = []
    for f in FRACTIONS:
        r = server.bench(transport, f * ceiling)
        rows.append(r)
        cpu = r.get("cpu_us", {})
        print("  %-11s offered %7.0f/s  goodput %7.0f/s  p50 %6.2f ms  p99 %7.2f ms  refused %d  errors %s  CPU us/request serve %.0f worker %.0f bench %.0f" % (
            transport, r["rate"], r["goodput"], r["p50_ms"], r["p99_ms"],
            sum(r.get("refusals", {}).values()), r.get("errors", {}),
            cpu.get("serve", 0), cpu.get("workers", 0), cpu.get("bench", 0)), flush=True)
    best = max(rows, key=lambda r: r["goodput"])
    return {"max_goodput": best["goodput"], "at_rate": best["rate"], "rows": rows}


def in_process():
    """gannet bench --in-process: its JSON, the ceiling (the best
    throughput of a batch size whose p50 fits the SLO) and the batch-1 p50."""
    inproc = last_json(subprocess.run([BIN, "bench", "--in-process", MODEL, "--json"],
                                      check=True, capture_output=True, text=True).stdout)
    fit = [r for r in inproc["rows"] if r["p50_ms"] <= SLO_MS]
    best = max(fit, key=lambda r: r["throughput"])
    inproc["ceiling_cpu_us_per_row"] = best.get("cpu_us_per_row", 0)
    return inproc, best["throughput"], next(r["p50_ms"] for r in inproc["rows"] if r["batch_size"] == 1)


def main():
    if not os.access(FLOOR, os.X_OK):
        sys.exit("%s is missing: make bench builds it" % FLOOR)
    os.makedirs(OUT, exist_ok=True)
    res = {}
    inproc, ceiling, batch1 = in_process()
    res["in_process"] = inproc
    res["ceiling"] = ceiling
    print("in-process: ceiling %.0f rows/s (batch sizes whose p50 fits the %g ms SLO; best of any size %.0f), batch-1 p50 %.3f ms" % (
        ceiling, SLO_MS, inproc["max_throughput"], batch1), flush=True)

    print("\na. max goodput, SLO policy", flush=True)
    a = {}
    for t in ["http-json", "http-binary", "sdk"]:
        # A fresh server per transport: a sweep ends far over capacity,
        # and the next one should not start in its wake.
        s = Server("slo")
        a[t] = sweep(s, t, ceiling)
        meta = urllib.request.urlopen("http://127.0.0.1:%d/v2/models/%s" % (s.http, MODEL), timeout=10).read()
        s.stop()
    res["a"] = a
    cores = os.cpu_count()
    for t, v in a.items():
        print("  %-11s max goodput %7.0f/s = %.2f x ceiling" % (t, v["max_goodput"], v["max_goodput"] / ceiling))
    print("  CPU per request at the max goodput (all three processes on these %d cores; the ceiling had them to itself):" % cores)
    for t, v in a.items():
        cpu = max(v["rows"], key=lambda r: r["goodput"]).get("cpu_us")
        if cpu:
            total = cpu["serve"] + cpu["workers"] + cpu["bench"]
            print("  %-11s serve %4.0f + worker %4.0f + bench %4.0f = %4.0f us: at most %6.0f/s = %.2f x ceiling on %d cores" % (
                t, cpu["serve"], cpu["workers"], cpu["bench"], total, cores * 1e6 / total, cores * 1e6 / total / ceiling, cores))
    fl = res["floor"] = floor(meta, a["http-binary"]["at_rate"], ceiling, inproc["ceiling_cpu_us_per_row"])
    print("  floor: the same generator against an HTTP server that does nothing (bin/rttfloor), %.0f/s: bench %.0f + server %.0f us per request;" % (
        fl["rate"], fl["bench_cpu_us"], fl["server_cpu_us"]))
    print("         with the model's %.0f us of CPU per row (in process, at the ceiling's batch size) on top, on all %d cores," % (
        fl["compute_cpu_us"], cores))
    print("         no HTTP server reaches more than %.2f x ceiling here" % fl["max_ratio"])

    print("\nd. serving overhead at one request in flight (10/s)", flush=True)
    s = Server("slo")
    d = {}
    for t in ["http-json", "http-binary", "sdk"]:
        # --spin: Go timers wake up to a millisecond late, which would count
        # against the server; service_p50 is measured from the actual send.
        r = s.bench(t, 10, duration=max(STEP_S, 5), extra=["--spin"])
        p50 = r.get("service_p50_ms") or r["p50_ms"]
        d[t] = {"p50_ms": r["p50_ms"], "service_p50_ms": p50, "overhead_us": (p50 - batch1) * 1000}
        print("  %-11s p50 %.3f ms (from the scheduled time %.3f) - compute %.3f ms = %.0f us" % (t, p50, r["p50_ms"], batch1, d[t]["overhead_us"]))
    res["d"] = d
    print("  floor: a server that does nothing, in another process, asked one request at a time every 100 ms (bin/rttfloor): p50 HTTP %.0f us, ZeroMQ %.0f us" % (
        fl["rtt_p50_us"], fl["zmq_rtt_p50_us"]))

    s.stop()
    print("\nc. overload: 50%% then 2x the max goodput (http-binary), %g s" % OVERLOAD_S, flush=True)
    s = Server("slo")
    good = a["http-binary"]["max_goodput"]
    half = s.bench("http-binary", 0.5 * good, duration=OVERLOAD_S / 2)
    rss_half = s.peak_rss_mib()
    met0, missed0, intake0 = s.server_view()
    over = s.bench("http-binary", 2 * good, duration=OVERLOAD_S)
    rss_over = s.peak_rss_mib()
    met1, missed1, intake1 = s.server_view()
    refused = sum(over.get("refusals", {}).values())
    excess = max(over["requests"] - over["ok"], 0)
    c = {"half": half, "overload": over, "peak_rss_mib_half": rss_half, "peak_rss_mib_overload": rss_over,
         "refused": refused, "excess_expected": over["requests"] - good * over["duration_s"]}
    res["c"] = c
    print("  offered %.0f/s: accepted p99 %.2f ms (SLO %g), OK %d, refused %d, expected excess %.0f; peak RSS %.1f MiB (%.1f MiB at 50%%)" % (
        over["rate"], over["service_p99_ms"] if over.get("service_p99_ms") else over["p99_ms"], SLO_MS, over["ok"], refused,
        c["excess_expected"], rss_over, rss_half))
    print("  errors answered in p50 %.2f ms, p99 %.2f ms; at most %d requests in flight" % (
        over.get("error_p50_ms", 0), over.get("error_p99_ms", 0), over["generator"]["max_inflight"]))
    # Where the time outside the SLO went: the server's own count (from the
    # kernel's receive time to the answer), the wait to be read, and the
    # load generator's lateness in sending (all on the same cores).
    met, missed = met1 - met0, missed1 - missed0
    counts = [(le, n1 - n0) for (le, n1), (_, n0) in zip(intake1, intake0)] if intake0 else intake1
    total = counts[-1][1] if counts else 0
    p99 = next((le for le, n in counts if total and n >= 0.99 * total), float("nan"))
    c["server_met_share"] = met / (met + missed) if met + missed else None
    c["intake_p99_le_ms"] = p99 * 1000
    print("  server's count: %.4f of answers within the SLO from arrival; wait to be read p99 <= %g ms; bench's send lag p99 %.2f ms" % (
        c["server_met_share"] or 0, p99 * 1000, over["generator"].get("send_lag_p99_ms", 0)))
    s.stop()

    burst_trace = os.path.join(OUT, "burst.trace")
    base = 0.3 * good
    with open(burst_trace, "w") as f:
        f.write("# t_seconds rate: base, 10x for 2 s, base\n0 %.1f\n5 %.1f\n7 %.1f\n12 %.1f\n" % (base, 10 * base, base, base))

    # b: the three policies interleaved round by round, a fresh server per
    # sweep, so that a noisy spell of the machine hits them alike.
    policies = [("slo", "slo"), ("fixed", "fixed:" + FIXED), ("aimd", "aimd")]
    rounds = {name: [] for name, _ in policies}
    for rnd in range(B_ROUNDS):
        for name, policy in policies:
            print("\nb. round %d/%d: %s (%s), http-binary" % (rnd + 1, B_ROUNDS, name, policy), flush=True)
            s = Server(policy)
            rounds[name].append(sweep(s, "http-binary", ceiling))
            s.stop()
    res["b"] = {}
    for name, sweeps in rounds.items():
        cells = [[sw["rows"][i]["goodput"] for sw in sweeps] for i in range(len(FRACTIONS))]
        res["b"][name] = {"rounds": sweeps, "median_goodput": [statistics.median(c) for c in cells],
                          "goodput_samples": cells}

    res["e"] = {}
    for name, policy in [("fixed", "fixed:" + FIXED), ("slo", "slo")]:
        s = Server(policy)
        res["e"][name] = s.bench("http-binary", base, duration=12, extra=["--arrival", "trace", "--trace", burst_trace])
        s.stop()

    print("\nb. goodput at the same offered loads (http-binary), median of %d interleaved rounds [min-max]" % B_ROUNDS)
    print("  offered/s   slo                    fixed                  aimd                   slo >= both")
    for i, f in enumerate(FRACTIONS):
        cell = lambda n: "%7.0f [%6.0f-%6.0f]" % (res["b"][n]["median_goodput"][i], min(res["b"][n]["goodput_samples"][i]),
                                                  max(res["b"][n]["goodput_samples"][i]))
        ok = res["b"]["slo"]["median_goodput"][i] >= max(res["b"]["fixed"]["median_goodput"][i], res["b"]["aimd"]["median_goodput"][i])
        print("  %7.0f  %s  %s  %s  %s" % (f * ceiling, cell("slo"), cell("fixed"), cell("aimd"), "yes" if ok else "no"))
    print("  max      %7.0f                %7.0f                %7.0f" % tuple(max(res["b"][n]["median_goodput"]) for n in ("slo", "fixed", "aimd")))
    print("\ne. burst (base %.0f/s, 10x for 2 s): share within the SLO: slo %.4f, fixed %.4f" % (
        base, res["e"]["slo"]["slo_share"], res["e"]["fixed"]["slo_share"]))
    # The machine's own speed, again: on a shared VM it can drift during
    # the run, and every ratio above rests on the first measurement.
    _, end, _ = in_process()
    res["ceiling_end"] = end
    drift = end / ceiling - 1
    drifted = abs(drift) > 0.15
    print("\nin-process ceiling at the end: %.0f rows/s (%+.0f%% from the start)%s" % (
        end, 100 * drift, ": the machine's speed changed during the run, so compare ratios with care" if drifted else ""))
    if drifted:
        for t, v in res["a"].items():
            print("  %-11s max goodput %7.0f/s = %.2f x the ceiling at the start, %.2f x the one at the end" % (
                t, v["max_goodput"], v["max_goodput"] / ceiling, v["max_goodput"] / end))
    with open(os.path.join(OUT, "slo.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("\nwrote %s" % os.path.join(OUT, "slo.json"))


if __name__ == "__main__":
    sys.exit(main())
