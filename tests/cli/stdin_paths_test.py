#!/usr/bin/python3
"""`pickleguard scan --stdin-paths`, driven through a pipe as a queue worker
drives it: one path in, one flushed JSON line out, before the next path is
sent. Also runs examples/worker/scan_worker.py, the loop docs/commands.md
documents.

    stdin_paths_test.py --pickleguard build/tools/pickleguard
"""

import json
import os
import pickle
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "worker"))
import cli_common  # noqa: E402
import pickles  # noqa: E402
import scan_worker  # noqa: E402

PICKLEGUARD = None


class StdinPathsTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        d = self._tmp.name
        self.paths = {}
        for name, data in {
            "ok.pkl": pickle.dumps({"w": [0.5] * 10}, protocol=4),
            "bad.pkl": pickles.os_system("echo pwned"),
            "notes.txt": b"not a pickle\n",
        }.items():
            p = os.path.join(d, name)
            with open(p, "wb") as f:
                f.write(data)
            self.paths[name] = p
        self.paths["missing.pkl"] = os.path.join(d, "missing.pkl")

    def tearDown(self):
        self._tmp.cleanup()

    def test_one_line_per_path_flushed(self):
        proc = subprocess.Popen([PICKLEGUARD, "scan", "--stdin-paths", "--skip-unknown"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, bufsize=1)
        try:
            got = {}
            # Each answer is read before the next path is written: a line held
            # in a buffer would hang here (the test's timeout ends it).
            for name in ("ok.pkl", "bad.pkl", "notes.txt", "missing.pkl", "ok.pkl"):
                proc.stdin.write(self.paths[name] + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
                self.assertTrue(line.endswith("\n"))
                got.setdefault(name, json.loads(line))
            proc.stdin.close()
            self.assertEqual(proc.wait(timeout=30), 2, "an unreadable path makes the exit status 2")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
        self.assertEqual(got["ok.pkl"]["verdict"], "safe")
        self.assertEqual(got["ok.pkl"]["path"], self.paths["ok.pkl"])
        self.assertEqual(got["bad.pkl"]["verdict"], "unsafe")
        rules = [f["rule"] for f in got["bad.pkl"]["findings"]]
        self.assertIn("global-not-allowed", rules)
        self.assertIn("os", [g["module"] for g in got["bad.pkl"]["globals"]])
        self.assertEqual(got["notes.txt"].get("skipped"), "not a pickle container")
        self.assertEqual(got["missing.pkl"]["verdict"], "error")

    def test_same_object_as_format_json(self):
        doc = subprocess.run([PICKLEGUARD, "scan", "--format", "json", self.paths["bad.pkl"]], capture_output=True,
                             text=True, timeout=60)
        # In a sandboxed worker (the default) and in-process (--no-sandbox, when the build has a sandbox).
        has_sandbox = "--no-sandbox" in subprocess.run([PICKLEGUARD, "scan", "--help"], capture_output=True,
                                                       text=True).stdout
        for extra in ([], ["--no-sandbox"]) if has_sandbox else ([],):
            one = subprocess.run([PICKLEGUARD, "scan", "--stdin-paths", *extra], input=self.paths["bad.pkl"] + "\n",
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(one.returncode, 1)
            self.assertEqual(json.loads(one.stdout), json.loads(doc.stdout)["files"][0])

    def test_paths_and_stdin_paths_together_is_a_usage_error(self):
        r = subprocess.run([PICKLEGUARD, "scan", "--stdin-paths", self.paths["ok.pkl"]], input="", capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 2)

    def test_documented_worker(self):
        with scan_worker.Scanner(PICKLEGUARD) as s:
            self.assertEqual(s.scan(self.paths["ok.pkl"])["verdict"], "safe")
            self.assertEqual(s.scan(self.paths["bad.pkl"])["verdict"], "unsafe")
            self.assertIn("skipped", s.scan(self.paths["notes.txt"]))
            self.assertEqual(s.scan("a\nb")["verdict"], "error")
            self.assertEqual(s.scan(self.paths["ok.pkl"])["verdict"], "safe")
        worker = os.path.join(HERE, "..", "..", "examples", "worker", "scan_worker.py")
        r = subprocess.run([sys.executable, worker, "--pickleguard", PICKLEGUARD],
                           input="\n".join(self.paths[n] for n in ("ok.pkl", "bad.pkl")) + "\n",
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.split("\n")[:2],
                         ["safe " + self.paths["ok.pkl"], "unsafe " + self.paths["bad.pkl"]])


if __name__ == "__main__":
    cli_common.main(sys.modules[__name__])
