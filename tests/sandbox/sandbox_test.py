#!/usr/bin/env python3
"""`pickleguard scan` in sandboxed workers: crashes, hangs and forbidden
system calls in a worker become an `error` for that one file, the rest of the
scan goes on, and the report does not depend on --jobs.

The worker misbehaves on purpose through test-only environment variables
(PICKLEGUARD_TEST_CRASH_ON / _HANG_ON / _OPEN_ON = a file's base name; see
lib/src/sandbox/worker_pool.cpp). Pickles here are written byte by byte or
with pickle.dumps; nothing is ever unpickled.

    sandbox_test.py --pickleguard PATH --workdir DIR [--fixtures DIR] CHECK...
"""
import argparse
import gzip
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import time

OS_SYSTEM = b"cos\nsystem\n(S'id'\ntR."  # GLOBAL os.system, called: unsafe


def five_pickles(d):
    """Four data pickles and one calling os.system."""
    os.makedirs(d, exist_ok=True)
    for i, value in enumerate([{"a": 1}, [1, 2.5, "x"], (None, True), {"k": b"v" * 100}]):
        with open(os.path.join(d, f"p{i}.pkl"), "wb") as f:
            f.write(pickle.dumps(value, protocol=i + 1))
    with open(os.path.join(d, "evil.pkl"), "wb") as f:
        f.write(OS_SYSTEM)


def mixed_tree(d, fixtures):
    """Safe, unsafe, malformed, empty, skipped and container files."""
    five_pickles(d)
    extra = {
        "empty.pkl": b"",
        "truncated.pkl": pickle.dumps(list(range(50)), protocol=2)[:-7],
        "notes.txt": b"not a pickle\n",
        "nested/deep.pkl": pickle.dumps({"x": [1, {"y": (2, 3)}]}, protocol=5),
        "nested/evil_p0.pkl": OS_SYSTEM,
        "nested/data.pkl.gz": gzip.compress(pickle.dumps([1, 2, 3], protocol=4), mtime=0),
        "after_stop.pkl": pickle.dumps(1, protocol=2) + OS_SYSTEM,
    }
    for name, data in extra.items():
        path = os.path.join(d, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    for i in range(40):
        with open(os.path.join(d, f"many_{i:02}.pkl"), "wb") as f:
            f.write(pickle.dumps({"i": i, "s": "s" * i}, protocol=i % 6))
    if fixtures and os.path.isdir(fixtures):
        shutil.copytree(fixtures, os.path.join(d, "fixtures"),
                        ignore=shutil.ignore_patterns("*.py", "*.json", "*.md"))


def scan(args, paths, *extra, env=None, timeout=120):
    e = dict(os.environ)
    for k in ("PICKLEGUARD_TEST_CRASH_ON", "PICKLEGUARD_TEST_HANG_ON", "PICKLEGUARD_TEST_OPEN_ON"):
        e.pop(k, None)
    e.update(env or {})
    cmd = [args.pickleguard, "scan", "--format", "json", *extra, *paths]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, env=e, timeout=timeout)
    return p, time.monotonic() - t0


def by_name(doc):
    return {os.path.basename(f["path"]): f for f in doc["files"]}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def misbehaving_worker(args, var, expect_rule, expect_text, extra=()):
    d = os.path.join(args.workdir, var.lower())
    shutil.rmtree(d, ignore_errors=True)
    five_pickles(d)
    p, seconds = scan(args, [d], "--jobs", "2", *extra, env={var: "p2.pkl"})
    check(p.returncode == 2, f"exit {p.returncode}, want 2; stderr: {p.stderr.decode()}")
    files = by_name(json.loads(p.stdout))
    check(len(files) == 5, f"{len(files)} files reported, want 5")
    bad = files["p2.pkl"]
    check(bad["verdict"] == "error", f"p2.pkl verdict {bad['verdict']}")
    rules = [f["rule"] for f in bad["findings"]]
    check(rules == [expect_rule], f"p2.pkl findings {rules}")
    msg = bad["findings"][0]["message"]
    check(expect_text in msg, f"message {msg!r} lacks {expect_text!r}")
    for name in ("p0.pkl", "p1.pkl", "p3.pkl"):
        check(files[name]["verdict"] == "safe", f"{name}: {files[name]['verdict']}")
    check(files["evil.pkl"]["verdict"] == "unsafe", "evil.pkl not unsafe")
    return seconds


def test_crash(args):
    misbehaving_worker(args, "PICKLEGUARD_TEST_CRASH_ON", "scanner-crashed",
                       "the scanner process crashed (SIGSEGV) while reading this file")


def test_timeout(args):
    seconds = misbehaving_worker(args, "PICKLEGUARD_TEST_HANG_ON", "scan-timeout",
                                 "took longer than 1 s", extra=("--timeout", "1"))
    check(seconds < 20, f"scan took {seconds:.1f} s with --timeout 1")


def test_forbidden_open(args):
    misbehaving_worker(args, "PICKLEGUARD_TEST_OPEN_ON", "scanner-crashed",
                       "stopped by its sandbox (SIGSYS")


def test_files_queued_behind_a_failure(args):
    """Small files are queued several to a worker: those behind one that
    crashes or hangs the worker are scanned by its replacement, not lost and
    not blamed."""
    d = os.path.join(args.workdir, "queued")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for i in range(30):
        with open(os.path.join(d, f"q{i:02}.pkl"), "wb") as f:
            f.write(pickle.dumps({"i": i}, protocol=i % 6))
    for var, rule, extra in (("PICKLEGUARD_TEST_CRASH_ON", "scanner-crashed", ()),
                             ("PICKLEGUARD_TEST_HANG_ON", "scan-timeout", ("--timeout", "1"))):
        for jobs in ("1", "2"):
            p, _ = scan(args, [d], "--jobs", jobs, *extra, env={var: "q03.pkl"})
            what = f"{var} --jobs {jobs}"
            check(p.returncode == 2, f"{what}: exit {p.returncode}, want 2; stderr: {p.stderr.decode()}")
            files = by_name(json.loads(p.stdout))
            check(len(files) == 30, f"{what}: {len(files)} files reported, want 30")
            rules = [f["rule"] for f in files["q03.pkl"]["findings"]]
            check(rules == [rule], f"{what}: q03.pkl findings {rules}")
            others = [n for n, f in files.items() if n != "q03.pkl" and f["verdict"] != "safe"]
            check(not others, f"{what}: not safe: {others}")


def test_archives_with_converted_names(args):
    """libarchive converts 7z names (UTF-16) and pax tar names (UTF-8) with
    iconv, whose first use opens glibc's gconv cache: forbidden in a worker,
    so it is done before the sandbox. Before that, such archives were
    'scanner-crashed' errors."""
    d = os.path.join(args.workdir, "archives")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, fmt in (("pax.tar", tarfile.PAX_FORMAT), ("gnu.tar", tarfile.GNU_FORMAT)):
        with tarfile.open(os.path.join(d, name), "w", format=fmt) as t:
            for member, data in (("modèle/données.pkl", pickle.dumps([1, 2], protocol=4)),
                                 ("x" * 120 + "/evil.pkl", OS_SYSTEM)):
                info = tarfile.TarInfo(member)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    # Written with libarchive (nothing in Python's standard library writes 7z).
    seven = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fuzz", "corpus", "file_fuzzer",
                         "seed_7z_two_pickles.7z")
    shutil.copy(seven, os.path.join(d, "two.7z"))
    p, _ = scan(args, [d])
    check(p.returncode == 1, f"exit {p.returncode}, want 1; stderr: {p.stderr.decode()}")
    files = by_name(json.loads(p.stdout))
    for name in ("pax.tar", "gnu.tar", "two.7z"):
        f = files[name]
        check(f["verdict"] == "unsafe", f"{name}: {f['verdict']}: {[x['rule'] for x in f['findings']]}")
        members = {x["member"] for x in f["findings"] if x["rule"] == "global-not-allowed"}
        check(any(m.endswith("evil.pkl") for m in members), f"{name}: payload member not named: {members}")


def test_fuzz_corpora_in_workers(args):
    """The fuzz targets run in one process, without the sandbox; this replays
    their corpora through sandboxed workers, where a system call the filter
    forbids (a library initialising itself on first use) kills the worker.
    No file may be a scanner-crashed or scan-timeout error."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fuzz", "corpus")
    dirs = [os.path.join(root, t) for t in ("file_fuzzer", "scan_fuzzer", "decode_fuzzer") if os.path.isdir(os.path.join(root, t))]
    check(dirs, f"no fuzz corpus under {root}")
    p, _ = scan(args, dirs, "--timeout", "60", timeout=900)
    check(p.returncode in (0, 1, 2), f"exit {p.returncode}: {p.stderr.decode()[:500]}")
    doc = json.loads(p.stdout)
    bad = [(f["path"], x["rule"], x["message"][:120]) for f in doc["files"] for x in f["findings"]
           if x["rule"] in ("scanner-crashed", "scan-timeout")]
    check(not bad, f"{len(bad)} files broke a worker: {bad[:5]}")
    check(doc["summary"]["files"] > 500, f"only {doc['summary']['files']} files scanned")


def test_hooks_need_the_sandbox(args):
    """--no-sandbox ignores the hooks (they live in the worker): p2 is scanned."""
    d = os.path.join(args.workdir, "no_sandbox")
    shutil.rmtree(d, ignore_errors=True)
    five_pickles(d)
    p, _ = scan(args, [d], "--no-sandbox", env={"PICKLEGUARD_TEST_CRASH_ON": "p2.pkl"})
    check(p.returncode == 1, f"exit {p.returncode}, want 1")
    check(by_name(json.loads(p.stdout))["p2.pkl"]["verdict"] == "safe", "p2.pkl not safe")


def run_tool(args, *argv, env=None, stdin=None):
    e = dict(os.environ)
    for k in ("PICKLEGUARD_TEST_CRASH_ON", "PICKLEGUARD_TEST_HANG_ON", "PICKLEGUARD_TEST_OPEN_ON"):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([args.pickleguard, *argv], capture_output=True, env=e, input=stdin, timeout=120)


def test_explain_and_infer_use_the_sandbox(args):
    """explain and policy infer read untrusted bytes too: in workers, so a
    crash there is an error for that file, not for the command."""
    d = os.path.join(args.workdir, "explain_infer")
    shutil.rmtree(d, ignore_errors=True)
    five_pickles(d)
    files = [os.path.join(d, n) for n in ("p0.pkl", "p2.pkl", "evil.pkl")]
    crash = {"PICKLEGUARD_TEST_CRASH_ON": "p2.pkl"}
    p = run_tool(args, "explain", *files, env=crash)
    out = p.stdout.decode()
    check(p.returncode == 2, f"explain exit {p.returncode}, want 2; stderr: {p.stderr.decode()}")
    check("error " + files[1] in out and "scanner-crashed" in out, f"explain output lacks the crash:\n{out}")
    check("safe " + files[0] in out, "explain did not go on with p0.pkl")
    check("unsafe " + files[2] in out and "global-not-allowed" in out, "explain did not report evil.pkl")
    p = run_tool(args, "explain", "--no-sandbox", *files, env=crash)
    check(p.returncode == 1 and "safe " + files[1] in p.stdout.decode(), "explain --no-sandbox ignores the hook")
    # Standard input goes to the worker as a stream.
    with open(files[2], "rb") as f:
        p = run_tool(args, "explain", "-", stdin=f.read())
    check(p.returncode == 1 and "global-not-allowed" in p.stdout.decode(), "explain - (stdin)")

    p = run_tool(args, "policy", "infer", files[0], files[1], env=crash)
    check(p.returncode in (1, 2) and b"scanner-crashed" in p.stdout + p.stderr,
          f"infer exit {p.returncode}; stderr: {p.stderr.decode()}")
    p = run_tool(args, "policy", "infer", files[0], files[1])
    check(p.returncode == 0, f"infer without hooks exit {p.returncode}: {p.stderr.decode()}")
    with open(files[0], "rb") as f:
        p = run_tool(args, "policy", "infer", "-", stdin=f.read())
    check(p.returncode == 0 and b"#   -" in p.stdout, f"infer - (stdin): {p.returncode} {p.stderr.decode()}")


TIMING_WORDS = ("time", "second", "duration", "elapsed", "date", "ms")


def keys(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            out.add(k)
            keys(v, out)
    elif isinstance(node, list):
        for v in node:
            keys(v, out)
    return out


def test_jobs_deterministic(args):
    d = os.path.join(args.workdir, "mixed")
    shutil.rmtree(d, ignore_errors=True)
    mixed_tree(d, args.fixtures)
    outputs = {}
    for mode in (("--jobs", "1"), ("--jobs", "2"), ("--jobs", "5"), ("--no-sandbox",)):
        p, _ = scan(args, [d], *mode)
        check(p.returncode in (1, 2), f"{mode}: exit {p.returncode}: {p.stderr.decode()}")
        outputs[" ".join(mode)] = p.stdout
    first = outputs["--jobs 1"]
    for mode, out in outputs.items():
        check(out == first, f"JSON with {mode} differs from --jobs 1")
    doc = json.loads(first)
    timing = sorted(k for k in keys(doc, set()) if any(w in k.lower() for w in TIMING_WORDS))
    check(not timing, f"JSON has fields that may vary between runs: {timing}")
    paths = [f["path"] for f in doc["files"]]
    check(paths == sorted(paths), "files are not in input (walk) order")
    check(doc["summary"]["files"] >= 50, f"only {doc['summary']['files']} files scanned")


CHECKS = {
    "crash": test_crash,
    "timeout": test_timeout,
    "forbidden_open": test_forbidden_open,
    "files_queued_behind_a_failure": test_files_queued_behind_a_failure,
    "archives_with_converted_names": test_archives_with_converted_names,
    "fuzz_corpora_in_workers": test_fuzz_corpora_in_workers,
    "hooks_need_the_sandbox": test_hooks_need_the_sandbox,
    "jobs_deterministic": test_jobs_deterministic,
    "explain_and_infer": test_explain_and_infer_use_the_sandbox,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--fixtures", help="tests/fixtures, copied into the mixed tree")
    ap.add_argument("checks", nargs="*", help="some of: " + ", ".join(CHECKS) + " (default: all)")
    args = ap.parse_args()
    unknown = [c for c in args.checks if c not in CHECKS]
    if unknown:
        ap.error(f"unknown checks: {', '.join(unknown)}")
    os.makedirs(args.workdir, exist_ok=True)
    failed = 0
    for name in args.checks or CHECKS:
        try:
            CHECKS[name](args)
            print(f"PASS {name}")
        except (AssertionError, subprocess.TimeoutExpired) as e:
            failed += 1
            print(f"FAIL {name}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
