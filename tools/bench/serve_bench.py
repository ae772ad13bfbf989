#!/usr/bin/env python3
"""`pickleguard serve` against one `pickleguard scan` process per file
(issue 16): requests per second and p50/p99 latency, on small pickles (the
test fixtures) and on a 100 MB checkpoint. A benchmark, not a test: run it
by hand and paste its table into the README.

    python3 tools/bench/serve_bench.py --pickleguard build/tools/pickleguard

The checkpoint is a pickle of one 100 MB bytes object written by the
standard library's pickle.dumps (benign: written here, never loaded).
Both sides use the same concurrency and the default sandbox; the server
runs with --jobs equal to it.
"""

import argparse
import concurrent.futures
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "serve"))
from serve_harness import ServeProcess, load_client  # noqa: E402  (the path above first)


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def timed(tasks, concurrency, run):
    latencies = []
    t0 = time.perf_counter()

    def one(item):
        t = time.perf_counter()
        run(item)
        return time.perf_counter() - t

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, tasks))
    wall = time.perf_counter() - t0
    return len(tasks) / wall, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--small-requests", type=int, default=1000)
    ap.add_argument("--large-requests", type=int, default=10)
    args = ap.parse_args()
    tool = os.path.abspath(args.pickleguard)
    client_mod = load_client(source)
    work = tempfile.mkdtemp(prefix="serve_bench.")
    try:
        small = []
        for d, _, names in os.walk(os.path.join(source, "tests", "fixtures")):
            small += [os.path.join(d, n) for n in sorted(names) if n.endswith(".pkl")]
        small.sort()
        big = os.path.join(work, "checkpoint_100mb.pkl")
        with open(big, "wb") as f:
            f.write(pickle.dumps({"weights": bytes(100 * 1024 * 1024), "step": 1000}, protocol=4))

        sock = os.path.join(work, "serve.sock")
        srv = ServeProcess(tool, ["--listen", "unix:" + sock, "--listen", "127.0.0.1:0",
                                  "--jobs", str(args.concurrency), "--queue", "64", "--max-body", str(1 << 30)])
        clients = {}

        def client():
            import threading
            k = threading.get_ident()
            if k not in clients:
                clients[k] = client_mod.Client("unix:" + sock, retries=10)
            return clients[k]

        def via_server(path):
            doc = client().scan(path)
            assert doc["files"][0]["verdict"] in ("safe", "unsafe", "error")

        def via_cli(path):
            r = subprocess.run([tool, "scan", "--format", "json", "--jobs", "1", path],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert r.returncode in (0, 1, 2)

        rows = []
        small_tasks = [small[i % len(small)] for i in range(args.small_requests)]
        big_tasks = [big] * args.large_requests
        for label, tasks, conc in (("small pickles (%d fixtures, 0.1-60 KB)" % len(small), small_tasks,
                                    args.concurrency),
                                   ("100 MB checkpoint", big_tasks, 1)):
            timed(tasks[: max(2, len(tasks) // 10)], conc, via_server)  # warm-up
            for name, run in (("serve (Unix socket, keep-alive)", via_server),
                              ("one `pickleguard scan` per file", via_cli)):
                rate, p50, p99 = timed(tasks, conc, run)
                rows.append((label, name, conc, len(tasks), rate, p50, p99))
                print(f"{label:40} {name:34} c={conc:<2} n={len(tasks):<5} {rate:8.1f} req/s  "
                      f"p50 {p50:8.1f} ms  p99 {p99:8.1f} ms", file=sys.stderr, flush=True)
        for c in clients.values():
            c.close()
        srv.stop()

        print("| input | how | clients | requests | req/s | p50 ms | p99 ms |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for label, name, conc, n, rate, p50, p99 in rows:
            print(f"| {label} | {name} | {conc} | {n} | {rate:.1f} | {p50:.1f} | {p99:.1f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
