#!/usr/bin/python3
"""Compare pickleguard's decoder with CPython's pickle.loads.

Generates a few large pickles of plain data into a work directory, then for
each one measures, every time in a fresh child process:

  * CPython: pickle.loads of the file's bytes, best of N after one warm-up,
    and the child's peak resident memory (getrusage ru_maxrss);
  * pickleguard: `decode_bench --repeat N FILE`, which prints its best decode
    time and its own peak resident memory.

and prints a Markdown table. Standard library only. The only pickles this
script ever loads are the ones it has just written itself.

    /usr/bin/python3 tools/bench/run_bench.py [--decode-bench PATH]
        [--repeat N] [--workdir DIR] [--quick]
"""

import argparse
import json
import os
import pickle
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MIB = 1 << 20

# name -> (description, full-size count, --quick count, protocol)
INPUTS = [
    ("ints", "list of {n:,} random 32-bit ints", 5_000_000, 50_000, 5),
    ("strings", "list of {n:,} short str", 1_000_000, 20_000, 5),
    ("dicts", "list of {n:,} small dicts", 300_000, 6_000, 5),
    ("bytes", "list of {n} x 1 MiB bytes", 256, 4, 5),
]

# Runs in a child process: times pickle.loads on one file, prints JSON.
CHILD = r"""
import json, pickle, resource, sys, time
path, repeat = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    data = f.read()
obj = pickle.loads(data)  # warm-up
best = float("inf")
for _ in range(repeat):
    obj = None
    t0 = time.perf_counter()
    obj = pickle.loads(data)
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"seconds": best,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_value(name, n, rng):
    if name == "ints":
        return [rng.randrange(-(1 << 31), 1 << 31) for _ in range(n)]
    if name == "strings":
        letters = "abcdefghijklmnopqrstuvwxyz"
        return ["%s%d" % ("".join(rng.choices(letters, k=rng.randrange(1, 8))), i) for i in range(n)]
    if name == "dicts":
        return [{"id": i, "name": "n%d" % i, "score": i * 0.5} for i in range(n)]
    if name == "bytes":
        return [rng.randbytes(MIB) for _ in range(n)]
    raise ValueError(name)


def generate(workdir, name, n, protocol):
    """Writes the input once; a later run with the same --workdir reuses it."""
    path = os.path.join(workdir, "%s_%d_p%d.pkl" % (name, n, protocol))
    if os.path.exists(path):
        return path
    rng = random.Random(20240611 + n)
    value = make_value(name, n, rng)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(value, f, protocol=protocol)
    os.replace(tmp, path)
    return path


def run_json(cmd):
    # Linux carries ru_maxrss over exec: a program started straight from this
    # (large) Python process would report this process's peak as its own. A
    # small shell in between forks the program off its own fresh, tiny memory.
    trampoline = ["/bin/sh", "-c", '"$@"; exit $?', "sh"]
    proc = subprocess.run(trampoline + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (cmd[0], proc.returncode, proc.stderr.strip()))
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    if not lines:
        raise RuntimeError("%s printed nothing" % cmd[0])
    return json.loads(lines[-1])


def measure_cpython(path, repeat):
    return run_json([sys.executable, "-c", CHILD, path, str(repeat)])


def measure_pickleguard(decode_bench, path, repeat):
    return run_json([decode_bench, "--repeat", str(repeat), path])


def fmt_mb(nbytes):
    return "%.1f MB" % (nbytes / 1e6)


def fmt_s(seconds):
    return "%.6f" % seconds if seconds < 0.01 else "%.4f" % seconds if seconds < 1 else "%.3f" % seconds


def fmt_ratio(ratio):
    return "%.0fx faster" % ratio if ratio >= 100 else "%.1fx faster" % ratio


def find_decode_bench():
    for d in ("build", "build-release"):
        p = os.path.join(REPO, d, "tools", "decode_bench")
        if os.access(p, os.X_OK):
            return p
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--decode-bench", help="path of decode_bench (default: build/tools/decode_bench)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed runs per input, best taken (default 5; 2 with --quick)")
    ap.add_argument("--workdir", help="where to write the inputs (kept, and reused by later runs); "
                    "default: a temporary directory, removed afterwards")
    ap.add_argument("--quick", action="store_true", help="small inputs, for a smoke test")
    args = ap.parse_args()

    decode_bench = args.decode_bench or find_decode_bench()
    if not decode_bench or not os.access(decode_bench, os.X_OK):
        print("run_bench: decode_bench not found; build it (ninja -C build decode_bench) "
              "or pass --decode-bench PATH", file=sys.stderr)
        return 2
    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 5)
    if repeat < 1:
        print("run_bench: --repeat must be at least 1", file=sys.stderr)
        return 2

    if args.workdir:
        workdir = args.workdir
        os.makedirs(workdir, exist_ok=True)
        cleanup = False
    else:
        workdir = tempfile.mkdtemp(prefix="pickleguard-bench-")
        cleanup = True

    rows = []
    failed = False
    try:
        for name, desc, full, quick, protocol in INPUTS:
            n = quick if args.quick else full
            t0 = time.perf_counter()
            print("run_bench: %s: generating..." % name, file=sys.stderr, flush=True)
            path = generate(workdir, name, n, protocol)
            size = os.path.getsize(path)
            print("run_bench: %s: %s in %.1f s; measuring..." % (name, fmt_mb(size), time.perf_counter() - t0),
                  file=sys.stderr, flush=True)
            cp = measure_cpython(path, repeat)
            pg = measure_pickleguard(decode_bench, path, repeat)
            if not pg.get("ok", False):
                failed = True
            rows.append((desc.format(n=n), protocol, size, cp, pg))
    finally:
        if cleanup:
            shutil.rmtree(workdir, ignore_errors=True)

    print("| input | size | CPython s | pickleguard s | ratio | pickleguard GB/s | peak RSS CPython | peak RSS pickleguard |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for desc, protocol, size, cp, pg in rows:
        pgs = max(pg["seconds"], 1e-9)
        note = "" if pg.get("ok", False) else " (REJECTED)"
        print("| %s, protocol %d%s | %s | %s | %s | %s | %.2f | %.0f MB | %.0f MB |" % (
            desc, protocol, note, fmt_mb(size), fmt_s(cp["seconds"]), fmt_s(pg["seconds"]),
            fmt_ratio(cp["seconds"] / pgs), size / pgs / 1e9, cp["peak_rss_kb"] / 1024, pg["peak_rss_kb"] / 1024))
    print()
    print("Best of %d runs (CPython after one warm-up); peak RSS of each process (ru_maxrss). "
          "Python %s, %s, %d CPUs." % (repeat, platform.python_version(), platform.machine(), os.cpu_count() or 0))
    if failed:
        print("run_bench: pickleguard rejected an input", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
