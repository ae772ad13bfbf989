#!/usr/bin/python3
"""A scanning worker for an upload queue, around `pickleguard scan --stdin-paths`.

One long-lived pickleguard process per worker: each path written to its
standard input comes back as one line of JSON on its standard output (the
per-file object of `scan --format json`), so there is no process start per
upload and nothing is shared between files. Run as many workers as you have
cores, each under your queue's consumer (see docs/commands.md, "At scale").

    from scan_worker import Scanner
    with Scanner(policy="default") as s:
        report = s.scan("/uploads/123/model.pt")
        if report.get("verdict") != "safe":
            quarantine(report)

As a filter: paths on standard input, "VERDICT PATH" lines on standard output.

    find /uploads -type f | scan_worker.py --pickleguard pickleguard
"""

import argparse
import json
import subprocess
import sys


class Scanner:
    def __init__(self, pickleguard="pickleguard", policy=None, extra_args=()):
        self.argv = [pickleguard, "scan", "--stdin-paths", "--skip-unknown", *extra_args]
        if policy:
            self.argv += ["--policy", policy]
        self.proc = None

    def _start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def scan(self, path: str) -> dict:
        """The report of one file. A path with a newline cannot be sent: it is an error report."""
        if "\n" in path or "\r" in path:
            return {"path": path, "verdict": "error", "findings": [{"rule": "unreadable-file"}]}
        for attempt in (1, 2):
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            try:
                self.proc.stdin.write(path + "\n")
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
            except BrokenPipeError:
                line = ""
            if line:
                return json.loads(line)
            self.close()  # the scanner died on this file: restart it once, then report an error
        return {"path": path, "verdict": "error", "findings": [{"rule": "scanner-crashed"}]}

    def close(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pickleguard", default="pickleguard")
    ap.add_argument("--policy")
    args = ap.parse_args()
    status = 0
    with Scanner(args.pickleguard, args.policy) as scanner:
        for line in sys.stdin:
            path = line.rstrip("\n")
            if not path:
                continue
            report = scanner.scan(path)
            verdict = report.get("verdict", "skipped" if "skipped" in report else "error")
            print(verdict, path, flush=True)
            if verdict in ("unsafe", "error"):
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
