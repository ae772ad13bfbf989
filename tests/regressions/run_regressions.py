#!/usr/bin/env python3
"""Every input in tests/regressions/ gets a verdict, never a crash.

For pickles and containers (every folder but policy_fuzzer/): `pickleguard
scan` sandboxed must report no scanner-crashed or scan-timeout finding, and
`pickleguard scan --no-sandbox` must exit 0, 1 or 2 (never die by a signal).
For policy_fuzzer/ inputs: `pickleguard scan --policy FILE` on a small pickle
must exit 0, 1 or 2. Nothing is unpickled.

    run_regressions.py --pickleguard PATH [--dir tests/regressions]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

SKIP = {"README.md", "run_regressions.py"}


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired:
        return "timeout", b""


def check_input(pg, path, timeout):
    problems = []
    rc, out = run([pg, "scan", "--format", "json", "--timeout", str(timeout), path], timeout * 3)
    if rc not in (0, 1, 2):
        problems.append(f"sandboxed scan: exit {rc}")
    else:
        try:
            rules = {f["rule"] for f in json.loads(out)["files"][0]["findings"]}
        except (ValueError, KeyError, IndexError):
            rules = {"<no report>"}
        bad = rules & {"scanner-crashed", "scan-timeout", "<no report>"}
        if bad:
            problems.append(f"sandboxed scan: {', '.join(sorted(bad))}")
    rc, _ = run([pg, "scan", "--no-sandbox", "--format", "json", path], timeout)
    if rc not in (0, 1, 2):
        problems.append(f"in-process scan: exit {rc}")
    return problems


def check_policy(pg, path, sample, timeout):
    rc, _ = run([pg, "scan", "--no-sandbox", "--policy", path, sample], timeout)
    return [] if rc in (0, 1, 2) else [f"scan --policy: exit {rc}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--dir", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--timeout", type=int, default=20, help="seconds per input")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sample = os.path.join(tmp, "sample.pkl")
        with open(sample, "wb") as f:
            f.write(b"\x80\x02]q\x00(K\x01K\x02e.")
        count = failed = 0
        for folder, _, names in sorted(os.walk(args.dir)):
            for name in sorted(names):
                if name in SKIP or name.startswith("."):
                    continue
                path = os.path.join(folder, name)
                count += 1
                if os.path.basename(folder) == "policy_fuzzer":
                    problems = check_policy(args.pickleguard, path, sample, args.timeout)
                else:
                    problems = check_input(args.pickleguard, path, args.timeout)
                if problems:
                    failed += 1
                    print(f"FAIL {os.path.relpath(path, args.dir)}: {'; '.join(problems)}")
        print(f"{count} regression inputs, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
