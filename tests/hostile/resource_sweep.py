#!/usr/bin/env python3
"""Time and memory on hostile inputs: each is built byte by byte, scanned by
`pickleguard scan` in a child process, and must finish within a few seconds,
with a peak resident size under a cap and the expected verdict.

Peak memory is the child's ru_maxrss from wait4(), which covers the scanner
process and the sandboxed workers it has reaped. It also counts what the
forked child inherited before exec, so inputs are written by a separate
process and this one stays small. Nothing here is unpickled.

    resource_sweep.py --pickleguard PATH --workdir DIR [--seconds S] [--rss-mb MB] [--no-sandbox]
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time


def u4(n):
    return struct.pack("<I", n)


def u8(n):
    return struct.pack("<Q", n)


def nested_lists(n):
    # n empty lists on the stack, then n-1 APPENDs nest each into the one below.
    return b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b"."


def shared_leaves(levels):
    # t = None; then `levels` times t = (t, t) through memo slot 0: a tree of
    # 2**levels leaves in `levels` nodes. CPython loads it at once.
    body = b"Nq\x00" + b"h\x00h\x00\x86q\x00" * levels
    return b"\x80\x02" + body + b"."


# name: (builder, expected verdict, substrings of which a finding rule must have one)
CASES = {
    "nested_lists_1e6": (lambda: nested_lists(1_000_000), "unsafe", "limit"),
    "marks_2e6": (lambda: b"\x80\x02" + b"(" * 2_000_000 + b"N.", "unsafe", "limit"),
    "binbytes8_2_62": (lambda: b"\x80\x04\x8e" + u8(1 << 62) + b"x" * 64 + b".", "unsafe", "malformed"),
    "long_binput_2_32_minus_16": (lambda: b"\x80\x02Nr" + u4((1 << 32) - 16) + b".", "unsafe", "limit"),
    # CPython refuses more than 4300 decimal digits (ValueError): malformed or a limit.
    "long_text_1e6_digits": (lambda: b"\x80\x02L" + b"7" * 1_000_000 + b"L\n.", "unsafe", "limit malformed"),
    "frame_longer_than_file": (lambda: b"\x80\x04\x95" + u8(1 << 40) + b"N.", "unsafe", "malformed"),
    "frame_just_past_end": (lambda: b"\x80\x04\x95" + u8(3) + b"N.", "unsafe", "malformed"),
    "shared_leaves_2_120": (lambda: shared_leaves(120), "safe", ""),
    "marks_100MB": (lambda: b"(" * 100_000_000, "unsafe", "limit"),
    "binunicode_4GB_declared": (lambda: b"\x80\x03X" + u4(0xFFFFFFFF) + b"abc.", "unsafe", "malformed"),
    "memo_1e6_entries": (lambda: b"\x80\x02N" + b"".join(b"r" + u4(i) for i in range(1_000_000)) + b".",
                         "safe", ""),
    "dict_setitems_1e6": (lambda: b"\x80\x02}(" + b"".join(b"J" + u4(i) + b"N" for i in range(1_000_000)) + b"u.",
                          "safe", ""),
}


def run_measured(args, path):
    cmd = [args.pickleguard, "scan", "--format", "json", "--policy", "python", path]
    if args.no_sandbox:
        cmd.insert(2, "--no-sandbox")
    out_path = path + ".json"
    t0 = time.monotonic()
    with open(out_path, "wb") as out, open(path + ".err", "wb") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        deadline = t0 + max(60, args.seconds * 4)
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.005)
    seconds = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path, "rb") as f:
        out = f.read()
    with open(path + ".err", "rb") as f:
        err = f.read()
    return out, err, p.returncode, seconds, usage.ru_maxrss / 1024.0  # KiB -> MiB


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--seconds", type=float, default=5.0, help="time allowed per input")
    ap.add_argument("--rss-mb", type=float, default=512.0, help="peak resident size allowed per input")
    ap.add_argument("--no-sandbox", action="store_true", help="scan in the pickleguard process itself")
    ap.add_argument("--write", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("cases", nargs="*", help="some of: " + ", ".join(CASES))
    args = ap.parse_args()
    if args.write:
        with open(args.write[1], "wb") as f:
            f.write(CASES[args.write[0]][0]())
        return 0
    os.makedirs(args.workdir, exist_ok=True)
    failed = 0
    for name in args.cases or CASES:
        _, want, rule_part = CASES[name]
        path = os.path.join(args.workdir, name + ".pkl")
        subprocess.run([sys.executable, __file__, "--pickleguard", args.pickleguard, "--workdir", args.workdir,
                        "--write", name, path], check=True)
        try:
            out, err, rc, seconds, rss = run_measured(args, path)
        finally:
            os.unlink(path)  # some are 100 MB
        problems = []
        verdict, rules = "?", []
        try:
            f = json.loads(out)["files"][0]
            verdict, rules = f["verdict"], [x["rule"] for x in f["findings"]]
        except (ValueError, KeyError, IndexError):
            problems.append(f"no JSON report (exit {rc}): {err.decode(errors='replace')[-300:]}")
        want_rc = {"safe": 0, "unsafe": 1}[want]
        if rc != want_rc:
            problems.append(f"exit {rc}, want {want_rc}")
        if verdict != want:
            problems.append(f"verdict {verdict}, want {want}")
        if rule_part and not any(part in r for part in rule_part.split() for r in rules):
            problems.append(f"no '{rule_part}' finding in {rules}")
        if seconds > args.seconds:
            problems.append(f"{seconds:.2f} s > {args.seconds} s")
        if rss > args.rss_mb:
            problems.append(f"peak RSS {rss:.0f} MB > {args.rss_mb:.0f} MB")
        status = "FAIL" if problems else "PASS"
        print(f"{status} {name:28} {verdict:7} {seconds:6.2f} s {rss:7.1f} MB  {','.join(rules)}"
              + ("  -- " + "; ".join(problems) if problems else ""))
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
