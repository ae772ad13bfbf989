"""Shared by the tests/policy_generate scripts: the byte builders of the
pickles they make by hand (never by pickling a live object, let alone loading
one), and `pickleguard scan` read back as {path: verdict}.
"""
import argparse
import json
import pathlib
import struct
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"


def text(s):
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b  # BINUNICODE


def stack_global(module, name):
    return text(module) + text(name) + b"\x93"  # STACK_GLOBAL


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"  # GLOBAL (protocol 0's spelling)


def scan_verdicts(pickleguard, policies, paths, chunk=2000):
    """{path as reported: verdict} of `pickleguard scan` under the policies (names or files, in order).
    A scan that writes no report exits the test: a crash is never a verdict."""
    if isinstance(policies, (str, pathlib.Path)):
        policies = [policies]
    paths = list(paths)
    verdict = {}
    for i in range(0, len(paths), chunk):
        cmd = [pickleguard, "scan", "--format", "json"]
        for p in policies:
            cmd += ["--policy", str(p)]
        r = subprocess.run(cmd + [str(p) for p in paths[i:i + chunk]], capture_output=True, text=True)
        if r.returncode not in (0, 1, 2) or not r.stdout.strip():
            sys.exit(f"scan under {'+'.join(map(str, policies))} failed ({r.returncode}): {r.stderr[:500]}")
        verdict.update({f["path"]: f["verdict"] for f in json.loads(r.stdout)["files"]})
    return verdict


def arguments(*extra):
    """The command line every script takes (--pickleguard), plus extra (flags, kwargs) pairs."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    for flags, kwargs in extra:
        ap.add_argument(*flags, **kwargs)
    return ap.parse_args()


def report(failures):
    """Prints each failure; the exit status of the script."""
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0
