#!/usr/bin/python3
"""`pickleguard scan -` (one file read from standard input, which may be a
pipe) and `scan --format jsonl` (one JSON line per file as soon as it is
done), as a shell pipeline or a CI log follower uses them.

    stream_test.py --pickleguard build/tools/pickleguard
"""

import json
import os
import pickle
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli_common  # noqa: E402
import pickles  # noqa: E402

PICKLEGUARD = None


def has_sandbox():
    return "--no-sandbox" in subprocess.run([PICKLEGUARD, "scan", "--help"], capture_output=True, text=True).stdout


def sandbox_modes():
    """The default (sandboxed workers) and, when the build has a sandbox, --no-sandbox."""
    return [[], ["--no-sandbox"]] if has_sandbox() else [[]]


class ScanStdinTest(cli_common.TempDirTest):
    def scan(self, args, data, **kw):
        # input= hands the bytes through a pipe: nothing the tool could map.
        return subprocess.run([PICKLEGUARD, "scan", *args], input=data, capture_output=True, timeout=60, **kw)

    def test_unsafe_pickle_from_a_pipe(self):
        for mode in sandbox_modes():
            with self.subTest(mode=mode):
                r = self.scan([*mode, "--format", "json", "-"], pickles.os_system())
                self.assertEqual(r.returncode, 1, r.stderr)
                doc = json.loads(r.stdout)
                (f,) = doc["files"]
                self.assertEqual(f["path"], "<stdin>")
                self.assertEqual(f["verdict"], "unsafe")
                self.assertIn("global-not-allowed", [x["rule"] for x in f["findings"]])
                self.assertEqual(f["bytes"], len(pickles.os_system()))

    def test_safe_pickle_and_stdin_name(self):
        data = pickle.dumps({"w": [0.5] * 10}, protocol=4)
        r = self.scan(["--stdin-name", "uploads/model.pkl", "-"], data, text=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"safe    uploads/model.pkl\n", r.stdout)
        self.assertIn(b": 1 safe", r.stdout)

    def test_dash_among_files_keeps_argument_order(self):
        a = self.write("a.pkl", pickle.dumps([1, 2], protocol=2))
        b = self.write("b.pkl", pickles.os_system())
        r = self.scan(["--format", "json", a, "-", b], pickle.dumps("from stdin"))
        self.assertEqual(r.returncode, 1, r.stderr)
        files = json.loads(r.stdout)["files"]
        self.assertEqual([f["path"] for f in files], [a, "<stdin>", b])
        self.assertEqual([f["verdict"] for f in files], ["safe", "safe", "unsafe"])

    def test_unknown_content_is_an_error_not_skipped(self):
        # Named on the command line, as '-' is: unknown content is no verdict.
        r = self.scan(["--format", "json", "-"], b"just some text\n")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(json.loads(r.stdout)["files"][0]["verdict"], "error")

    def test_longer_than_max_input_bytes_is_an_error_not_a_truncation(self):
        # A pickle that is safe in its first 1000 bytes and not after: judged
        # truncated it would pass (or fail as malformed); it must be an error.
        head = pickle.dumps(list(range(300)), protocol=2)[:-1]  # without STOP
        data = head + b"0" + pickles.os_system()  # POP the list, then the payload
        limit = len(head) + 8
        self.assertGreater(len(data), limit)
        for mode in sandbox_modes():
            with self.subTest(mode=mode):
                r = self.scan([*mode, "--format", "json", "--limit", f"max_input_bytes={limit}", "-"], data)
                self.assertEqual(r.returncode, 2, r.stderr)
                (f,) = json.loads(r.stdout)["files"]
                self.assertEqual(f["verdict"], "error")
                self.assertEqual([x["rule"] for x in f["findings"]], ["limit-exceeded"])
                self.assertIn("max_input_bytes", f["findings"][0]["message"])
                # Exactly at the limit it is read whole and judged.
                r = self.scan([*mode, "--format", "json", "--limit", f"max_input_bytes={len(data)}", "-"], data)
                self.assertEqual(json.loads(r.stdout)["files"][0]["verdict"], "unsafe", r.stderr)

    def test_policy_limit_bounds_stdin_too(self):
        policy = self.write("small.toml", 'name = "small"\ninclude = ["default"]\n[limits]\nmax_input_bytes = 16\n')
        r = self.scan(["--format", "json", "--policy", policy, "-"], pickle.dumps(list(range(100))))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(json.loads(r.stdout)["files"][0]["findings"][0]["rule"], "limit-exceeded")

    def test_usage_errors(self):
        r = self.scan(["-", "-"], b"")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"once", r.stderr)
        p = self.write("a.pkl", pickle.dumps(1))
        r = self.scan(["--stdin-name", "x.pkl", p], b"")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--stdin-name", r.stderr)


if __name__ == "__main__":
    cli_common.main(sys.modules[__name__])
