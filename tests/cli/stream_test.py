#!/usr/bin/python3
"""`pickleguard scan -` (one file read from standard input, which may be a
pipe) and `scan --format jsonl` (one JSON line per file as soon as it is
done), as a shell pipeline or a CI log follower uses them.

    stream_test.py --pickleguard build/tools/pickleguard
"""

import json
import os
import pickle
import queue
import subprocess
import sys
import threading
import time

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


class JsonlTest(cli_common.TempDirTest):
    def setUp(self):
        super().setUp()
        self.a = self.write("d/a.pkl", pickle.dumps({"w": [0.5] * 10}, protocol=4))
        self.b = self.write("d/b.pkl", pickles.os_system())
        self.write("d/notes.txt", "not a pickle\n")
        os.symlink(self.a, os.path.join(self.dir, "d", "link.pkl"))

    def test_same_objects_as_format_json(self):
        d = os.path.join(self.dir, "d")
        for mode in sandbox_modes():
            with self.subTest(mode=mode):
                doc = json.loads(subprocess.run([PICKLEGUARD, "scan", *mode, "--format", "json", d],
                                                capture_output=True, text=True, timeout=60).stdout)
                r = subprocess.run([PICKLEGUARD, "scan", *mode, "--format", "jsonl", d], capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(r.returncode, 1, r.stderr)
                lines = [json.loads(x) for x in r.stdout.splitlines()]
                self.assertTrue(r.stdout.endswith("\n"))
                for line in lines:
                    self.assertEqual(next(iter(line)), "type", "the discriminator comes first")
                types = [x.pop("type") for x in lines]
                self.assertEqual(types[-1], "summary")
                self.assertEqual(types.count("summary"), 1)
                self.assertEqual([x for t, x in zip(types, lines) if t == "file"], doc["files"])
                self.assertEqual([x for t, x in zip(types, lines) if t == "skipped"], doc["skipped"])
                summary = lines[-1]
                self.assertEqual({k: summary.pop(k) for k in ("schema", "tool", "version", "policy")},
                                 {k: doc[k] for k in ("schema", "tool", "version", "policy")})
                self.assertEqual(summary, doc["summary"])

    def read_lines_while_stdin_is_open(self, args, source):
        """Starts a scan whose last path is '-', a pipe this test holds open,
        and returns the first line `source` gives while that pipe is still
        pending, then the rest once the pickle is sent."""
        proc = subprocess.Popen([PICKLEGUARD, "scan", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            first = source(proc)
            self.assertIsNone(proc.poll(), "the scan is still waiting for standard input")
            proc.stdin.write(pickle.dumps([1, 2, 3]))
            proc.stdin.close()
            proc.wait(timeout=60)
            return first, proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def test_first_line_before_the_last_file_is_read(self):
        for mode in sandbox_modes():
            with self.subTest(mode=mode):
                lines = queue.Queue()

                def from_stdout(proc):
                    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
                    # A report written only at the end would never come here:
                    # the last file is not there yet.
                    return json.loads(lines.get(timeout=30))

                first, proc = self.read_lines_while_stdin_is_open(
                    [*mode, "--format", "jsonl", "--timeout", "120", self.a, self.b, "-"], from_stdout)
                self.assertEqual((first["type"], first["path"], first["verdict"]), ("file", self.a, "safe"))
                rest = []
                while len(rest) < 3:
                    rest.append(json.loads(lines.get(timeout=30)))
                self.assertEqual([(x["type"], x.get("path")) for x in rest],
                                 [("file", self.b), ("file", "<stdin>"), ("summary", None)])
                self.assertEqual(proc.returncode, 1)
                self.assertEqual(rest[-1]["files"], 3)

    def test_output_file_is_written_line_by_line(self):
        out = os.path.join(self.dir, "report.jsonl")

        def from_file(proc):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if os.path.exists(out):
                    with open(out) as f:
                        text = f.read()
                    if "\n" in text:
                        return json.loads(text.split("\n")[0])
                time.sleep(0.05)
            self.fail("no line in the --output file while the scan was pending")

        first, proc = self.read_lines_while_stdin_is_open(["--format", "jsonl", "-o", out, self.a, "-"], from_file)
        self.assertEqual(first["path"], self.a)
        self.assertEqual(proc.returncode, 0)
        with open(out) as f:
            self.assertEqual([json.loads(x)["type"] for x in f], ["file", "file", "summary"])


if __name__ == "__main__":
    cli_common.main(sys.modules[__name__])
