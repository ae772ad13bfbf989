#!/usr/bin/env python3
"""Files per second of `python3 -m pickleguard.cluster` per worker core, and
of `pickleguard scan` on the same files (docs/cluster.md, "How it scales").

Not a test. Copies the test corpora (tests/fixtures, examples/) N times into
a scratch directory, then scans it with LocalClusters of 1..W single-thread
worker processes and with `pickleguard scan --jobs 1..W`:

    PYTHONPATH=build/python python3 tools/bench/cluster_bench.py \
        --tool build/tools/pickleguard --copies 20 --workers 2
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

SOURCE = pathlib.Path(__file__).resolve().parents[2]


def corpus(root, copies):
    for i in range(copies):
        for name in ("tests/fixtures", "examples"):
            shutil.copytree(SOURCE / name, root / f"copy{i:03d}" / name, symlinks=True)
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return len(files), sum(p.stat().st_size for p in files)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--task-files", type=int, default=256)
    args = ap.parse_args()

    from distributed import Client, LocalCluster
    from pickleguard.cluster import scan_on_cluster

    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        n, size = corpus(root, args.copies)
        print(f"{n} files, {size / 1e6:.1f} MB (median file: see docs/cluster.md)")
        print("| run | workers | seconds | files scanned/s | per worker core |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for w in range(1, args.workers + 1):
            t = time.monotonic()
            subprocess.run([args.tool, "scan", "--format", "json", "--jobs", str(w), "-o", os.devnull, str(root)],
                           check=False)
            s = time.monotonic() - t
            print(f"| `pickleguard scan --jobs {w}` | {w} | {s:.2f} | {n / s:.0f} | {n / s / w:.0f} |", flush=True)
        for w in range(1, args.workers + 1):
            with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=40) as cluster, Client(cluster) as client:
                t = time.monotonic()
                result = scan_on_cluster(client, [str(root)], task_files=args.task_files)
                s = time.monotonic() - t
                assert result.summary["files"] + result.summary["skipped"] == n, result.summary
            print(f"| cluster, LocalCluster | {w} | {s:.2f} | {n / s:.0f} | {n / s / w:.0f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
