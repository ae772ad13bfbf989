#!/usr/bin/python3
"""pickleguard against the tools people use, on the same inputs.

    compare_tools.py --pickleguard build/tools/pickleguard [--picklescan-src DIR] [--workdir DIR] [--quick]

Tools, each run in its own child process (wall time, and peak RSS as
/usr/bin/time reports it: the largest process of the run's tree):

  * `pickleguard scan` (default options; on the directory also --jobs 1 and
    --jobs 2, and --no-sandbox when the build has the sandbox);
  * CPython's C unpickler, `pickle.loads` (what loading costs; safe here only
    because this script wrote the inputs itself from plain values);
  * `pickletools.genops` over every opcode: what picklescan and modelscan
    build on, so the floor of any scanner written on it;
  * picklescan itself, when --picklescan-src names a checkout of
    github.com/mmaitre314/picklescan (run from there with PYTHONPATH, never
    installed or copied; it is not on Debian or reachable PyPI).

Inputs are generated here with pickle.dumps: op-dense pickles (5e6 ints,
1e6 strings, 300k small dicts), a 256 MiB bytes-heavy pickle, and a
directory of 10,000 small pickles. Not a ctest; runs in a few minutes.
Prints a markdown table.
"""

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import time

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

LOAD = """
import os, pickle, sys
p = sys.argv[1]
paths = [os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs] if os.path.isdir(p) else [p]
for q in paths:
    with open(q, 'rb') as f:
        pickle.loads(f.read())
"""

GENOPS = """
import os, pickletools, sys
p = sys.argv[1]
paths = [os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs] if os.path.isdir(p) else [p]
n = 0
for q in paths:
    with open(q, 'rb') as f:
        data = f.read()
    for _ in pickletools.genops(data):
        n += 1
"""


def make_inputs(workdir, quick):
    scale = 20 if quick else 1
    os.makedirs(workdir, exist_ok=True)
    inputs = []

    def dump(name, value_fn):
        path = os.path.join(workdir, name)
        if not os.path.exists(path):
            with open(path + ".tmp", "wb") as f:
                pickle.dump(value_fn(), f, protocol=4)
            os.replace(path + ".tmp", path)
        inputs.append((name, path))

    dump("ints_5e6.pkl" if not quick else "ints_q.pkl", lambda: list(range(5_000_000 // scale)))
    dump("strings_1e6.pkl" if not quick else "strings_q.pkl", lambda: [f"s{i:07d}" for i in range(1_000_000 // scale)])
    dump("dicts_300k.pkl" if not quick else "dicts_q.pkl",
         lambda: [{"id": i, "score": i / 7.0, "tag": "x"} for i in range(300_000 // scale)])
    chunk = bytes(range(256)) * 4096  # 1 MiB

    def blobs():
        return [bytes([i % 256]) + chunk[1:] for i in range(256 // scale)]
    dump("bytes_256MiB.pkl" if not quick else "bytes_q.pkl", blobs)

    d = os.path.join(workdir, "dir_10k" if not quick else "dir_q")
    count = 10_000 // scale
    if not os.path.isdir(d) or len(os.listdir(d)) != count:
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for i in range(count):
            with open(os.path.join(d, f"m{i:05d}.pkl"), "wb") as f:
                pickle.dump({"layer": i, "weights": [i * 0.5] * 16, "name": f"block{i}"}, f, protocol=4)
    inputs.append((os.path.basename(d) + "/", d))
    return inputs


def measure(argv, env=None):
    """Seconds and peak RSS (MiB) of one child run, its exit code and standard error.

    Through /usr/bin/time when there is one: a child forked straight from
    this Python process would start with Python's RSS as its high-water mark.
    """
    timing = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"compare_tools.{os.getpid()}.time")
    wrapped = ["/usr/bin/time", "-f", "%M", "-o", timing, *argv] if os.path.exists("/usr/bin/time") else argv
    t0 = time.perf_counter()
    proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = proc.stderr.read()
    _, status, ru = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.stderr.close()
    rss_kib = ru.ru_maxrss
    if wrapped is not argv:
        with open(timing) as f:
            lines = [ln for ln in f.read().split("\n") if ln.strip()]
        os.remove(timing)
        rss_kib = int(lines[-1])
    return seconds, rss_kib / 1024.0, os.waitstatus_to_exitcode(status), err.decode(errors="replace")


def size_of(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--picklescan-src", help="a checkout of mmaitre314/picklescan (its src/ is put on PYTHONPATH)")
    ap.add_argument("--workdir", default=os.path.join(os.getcwd(), "bench-compare"))
    ap.add_argument("--quick", action="store_true", help="inputs 20 times smaller")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the fastest is kept")
    args = ap.parse_args()
    pg = os.path.abspath(args.pickleguard)
    help_text = subprocess.run([pg, "scan", "--help"], capture_output=True, text=True).stdout
    has_jobs = "--jobs" in help_text
    has_sandbox = "--no-sandbox" in help_text

    t0 = time.perf_counter()
    inputs = make_inputs(args.workdir, args.quick)
    print(f"inputs ready in {time.perf_counter() - t0:.1f} s in {args.workdir}", file=sys.stderr)

    tools = [("pickleguard scan", lambda p: [pg, "scan", "--format", "json", "-o", os.devnull, p], None, False)]
    if has_jobs:
        tools += [("pickleguard scan --jobs 1", lambda p: [pg, "scan", "--jobs", "1", "--format", "json", "-o",
                                                            os.devnull, p], None, True),
                  ("pickleguard scan --jobs 2", lambda p: [pg, "scan", "--jobs", "2", "--format", "json", "-o",
                                                            os.devnull, p], None, True)]
    if has_sandbox:
        tools.append(("pickleguard scan --no-sandbox", lambda p: [pg, "scan", "--no-sandbox", "--format", "json",
                                                                  "-o", os.devnull, p], None, False))
    tools += [("CPython pickle.loads", lambda p: [PY, "-c", LOAD, p], None, False),
              ("pickletools.genops", lambda p: [PY, "-c", GENOPS, p], None, False)]
    if args.picklescan_src:
        src = os.path.join(os.path.abspath(args.picklescan_src), "src")
        env = dict(os.environ, PYTHONPATH=src)
        tools.append(("picklescan (source)", lambda p: [PY, "-m", "picklescan", "-p", p], env, False))

    rows = []
    for name, path in inputs:
        base = None
        for tool, argv_of, env, dir_only in tools:
            if dir_only and not os.path.isdir(path):
                continue
            best = None
            for _ in range(args.repeat):
                r = measure(argv_of(path), env)
                if best is None or r[0] < best[0]:
                    best = r
            seconds, rss, rc, err = best
            if tool == "pickleguard scan":
                base = seconds
                if rc != 0:
                    print(f"warning: pickleguard scan {path} exited {rc}: {err.strip()[:300]}", file=sys.stderr)
            ok = rc == 0 or tool.startswith("picklescan")  # picklescan exits 0/1 by what it finds
            rows.append((name, size_of(path), tool, seconds, seconds / base if base else float("nan"), rss,
                         "" if ok else f"exit {rc}"))
            print(f"  {name:18} {tool:30} {seconds:8.3f} s  {rss:8.1f} MiB", file=sys.stderr)

    print("| input | size | tool | seconds | × pickleguard | peak RSS (MiB) | note |")
    print("| --- | ---: | --- | ---: | ---: | ---: | --- |")
    for name, size, tool, seconds, ratio, rss, note in rows:
        print(f"| {name} | {size / 2**20:.1f} MiB | {tool} | {seconds:.3f} | {ratio:.2f} | {rss:.0f} | {note} |")
    print(f"\n{os.cpu_count()} CPUs; wall time per run including process start; peak RSS is /usr/bin/time's %M "
          f"(the largest process of the run's tree). Total {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
