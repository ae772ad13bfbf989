#!/usr/bin/python3
"""The file system cannot lie either (issue 12 §8): `pickleguard scan` as a
new, non-root user meets it.

Permission checks do not apply to root, and CI runs as root, so the
binary runs as `nobody` (setpriv --reuid=nobody --regid=nogroup
--clear-groups) against a temporary directory that nobody owns; a test
that needs this skips, saying why, only when the system has no setpriv.
Pickles are plain data written by pickle.dumps, or GLOBAL opcodes spelled
byte by byte; nothing is ever unpickled.

    filesystem_test.py --pickleguard build/tools/pickleguard
"""

import json
import os
import pickle
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli_common  # noqa: E402
import pickles  # noqa: E402

PICKLEGUARD = None
# Seconds a refused FIFO or device may take: they are refused before open()
# could block, so anything near this is a hang.
QUICK = 20


def as_user_prefix():
    """argv prefix that runs a command as a user permission checks apply to, or None."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        return None
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


class FileSystemTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.root = self._tmp.name
        os.chmod(self.root, 0o755)
        self.d = os.path.join(self.root, "d")
        os.makedirs(os.path.join(self.d, "sub"))
        self.write("d/a.pkl", pickle.dumps({"w": [0.5] * 4}, protocol=4))
        self.write("d/sub/b.pkl", pickle.dumps([1, 2, 3], protocol=2))

    def tearDown(self):
        for dirpath, dirnames, _ in os.walk(self.root):
            for n in dirnames:
                p = os.path.join(dirpath, n)
                if not os.path.islink(p):
                    os.chmod(p, 0o755)
        self._tmp.cleanup()

    def write(self, rel, data):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def run_scan(self, *args, as_user=False, stdin=None, timeout=60):
        prefix = []
        if as_user:
            prefix = as_user_prefix()
            if prefix is None:
                self.skipTest("running as root without setpriv: cannot drop to a user that permission checks apply to")
            if prefix:
                nobody = pwd.getpwnam("nobody")
                for dirpath, dirnames, filenames in os.walk(self.root):
                    for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
                        os.lchown(n, nobody.pw_uid, nobody.pw_gid)
        return subprocess.run(prefix + [PICKLEGUARD, *args], cwd=self.root, capture_output=True, text=True,
                              input=stdin, timeout=timeout)

    def json_scan(self, *args, **kw):
        r = self.run_scan("scan", "--format", "json", *args, **kw)
        return r, json.loads(r.stdout) if r.stdout.strip() else None

    # ---- unreadable directories --------------------------------------

    def test_unreadable_directory_in_walk_is_an_error_in_every_format(self):
        locked = os.path.join(self.d, "locked")
        os.mkdir(locked)
        self.write("d/locked/c.pkl", pickles.os_system())
        os.chmod(locked, 0)
        for fmt in ("text", "json", "sarif"):
            r = self.run_scan("scan", "--format", fmt, "d", as_user=True)
            self.assertEqual(r.returncode, 2, (fmt, r.stdout, r.stderr))
            self.assertIn("d/locked", r.stdout, fmt)
            self.assertIn("unreadable-directory", r.stdout, fmt)
        doc = json.loads(self.run_scan("scan", "--format", "json", "d", as_user=True).stdout)
        self.assertEqual(doc["summary"]["error"], 1)
        self.assertEqual(doc["summary"]["safe"], 2)

    def test_unreadable_named_directory_is_an_error(self):
        os.chmod(self.d, 0)
        r = self.run_scan("scan", "d", as_user=True)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("d: cannot list the directory", r.stdout)

    def test_unsearchable_directory_files_are_errors(self):
        # Readable but not searchable (r--): its names are listed, its files cannot be opened.
        os.chmod(os.path.join(self.d, "sub"), 0o644)
        r = self.run_scan("scan", "d", as_user=True)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("d/sub/b.pkl", r.stdout)

    def test_file_below_unsearchable_named_path_is_an_error(self):
        os.chmod(self.d, 0)
        r = self.run_scan("scan", "d/a.pkl", as_user=True)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("Permission denied", r.stdout)

    # ---- FIFOs, devices, sockets -------------------------------------

    def test_named_fifo_is_refused_without_blocking(self):
        os.mkfifo(os.path.join(self.root, "fifo"))
        for extra in ([], ["--no-sandbox"]):
            r = self.run_scan("scan", *extra, "fifo", timeout=QUICK)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("FIFO", r.stdout)
            self.assertIn("not-a-regular-file", r.stdout)

    def test_fifo_given_to_the_worker_pool_is_refused_without_blocking(self):
        # --stdin-paths hands paths straight to the worker pool (no walk, no
        # stat first): its open() must not block and it must refuse the FIFO,
        # as a FIFO swapped in after the walk would be. --no-sandbox: map_regular_file.
        os.mkfifo(os.path.join(self.root, "fifo"))
        for extra in ([], ["--no-sandbox"]):
            r = self.run_scan("scan", "--stdin-paths", *extra, stdin="fifo\n/dev/zero\n", timeout=QUICK)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            lines = [json.loads(x) for x in r.stdout.splitlines()]
            self.assertEqual([x["verdict"] for x in lines], ["error", "error"])
            self.assertIn("FIFO", lines[0]["findings"][0]["message"])
            self.assertIn("character device", lines[1]["findings"][0]["message"])

    def test_explain_and_decode_of_fifo_do_not_block(self):
        os.mkfifo(os.path.join(self.root, "fifo"))
        r = self.run_scan("explain", "fifo", timeout=QUICK)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        # decode reads pipes on purpose (decode <(cmd)); one without a writer is empty, not a hang.
        r = self.run_scan("decode", "fifo", timeout=QUICK)
        self.assertNotEqual(r.returncode, 0)
        r = self.run_scan("decode", "/dev/zero", timeout=QUICK)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("character device", r.stderr)

    def test_policy_infer_of_fifo_does_not_block(self):
        os.mkfifo(os.path.join(self.root, "fifo"))
        r = self.run_scan("policy", "infer", "fifo", timeout=QUICK)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("FIFO", r.stderr)

    def test_named_device_is_refused(self):
        for dev in ("/dev/zero", "/dev/null"):
            for extra in ([], ["--no-sandbox"]):
                r = self.run_scan("scan", *extra, dev, timeout=QUICK)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn("character device", r.stdout)
                self.assertIn("not-a-regular-file", r.stdout)

    def test_named_socket_is_refused(self):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(os.path.join(self.root, "sock"))
            r = self.run_scan("scan", "sock", timeout=QUICK)
        finally:
            s.close()
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("socket", r.stdout)
        self.assertIn("not-a-regular-file", r.stdout)

    def test_special_files_in_walk_are_skipped_by_name(self):
        os.mkfifo(os.path.join(self.d, "fifo"))
        r, doc = self.json_scan("d", timeout=QUICK)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(doc["summary"]["files"], 2)
        reasons = {s["path"]: s["reason"] for s in doc["skipped"]}
        self.assertIn("FIFO", reasons.get("d/fifo", ""))

    # ---- symbolic links ----------------------------------------------

    def test_symlink_loop_is_walked_once_and_reported(self):
        os.symlink("..", os.path.join(self.d, "sub", "up"))
        r, doc = self.json_scan("--follow-symlinks", "d")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(f["path"] for f in doc["files"]), ["d/a.pkl", "d/sub/b.pkl"])
        self.assertIn("d/sub/up: file system loop", r.stderr)
        self.assertIn("loop", {s["path"]: s["reason"] for s in doc["skipped"]}["d/sub/up"])

    def test_self_link_loop(self):
        os.symlink(".", os.path.join(self.d, "self"))
        r, doc = self.json_scan("--follow-symlinks", "d")
        self.assertEqual(doc["summary"]["files"], 2, r.stderr)
        self.assertIn("d/self", r.stderr)

    def test_links_into_a_directory_twice_walk_it_once(self):
        # Two ways into other/ (not a loop): its file is scanned once, the second way listed.
        self.write("other/c.pkl", pickle.dumps("c", protocol=2))
        os.symlink("../other", os.path.join(self.d, "l1"))
        os.symlink("../other", os.path.join(self.d, "l2"))
        r, doc = self.json_scan("--follow-symlinks", "d")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(f["path"] for f in doc["files"]), ["d/a.pkl", "d/l1/c.pkl", "d/sub/b.pkl"])
        self.assertIn("the same directory as d/l1", {s["path"]: s["reason"] for s in doc["skipped"]}["d/l2"])

    def test_link_fan_out_stays_linear(self):
        # Each level links twice to the next: without "each directory once"
        # the walk would see 2**12 copies of the last file.
        for i in range(12):
            os.makedirs(os.path.join(self.root, f"lv/{i}"))
            for k in ("x", "y"):
                os.symlink(f"../{i + 1}", os.path.join(self.root, f"lv/{i}/{k}"))
        os.makedirs(os.path.join(self.root, "lv/12"))
        self.write("lv/12/deep.pkl", pickle.dumps(1, protocol=2))
        r, doc = self.json_scan("--follow-symlinks", "lv/0")
        self.assertEqual(doc["summary"]["files"], 1, r.stderr)

    def test_symlinks_not_followed_are_listed_as_skipped(self):
        os.symlink("a.pkl", os.path.join(self.d, "link.pkl"))
        r, doc = self.json_scan("d")
        self.assertEqual(doc["summary"]["files"], 2)
        self.assertIn("not followed", {s["path"]: s["reason"] for s in doc["skipped"]}["d/link.pkl"])
        # Followed, a link to a file is scanned under its own path too.
        r, doc = self.json_scan("--follow-symlinks", "d")
        self.assertIn("d/link.pkl", [f["path"] for f in doc["files"]])

    # ---- globs -------------------------------------------------------

    def test_invalid_glob_is_a_usage_error(self):
        for opt, glob in (("--include", "["), ("--include", "*.p[kl"), ("--exclude", "a\\"),
                          ("--include", "[[:nope:]]"), ("--include", ""), ("--include", "sub/")):
            r = self.run_scan("scan", opt, glob, "d")
            self.assertEqual(r.returncode, 2, (opt, glob, r.stdout))
            self.assertIn(opt, r.stderr)
        # Valid bracket expressions stay valid.
        for glob in ("[]]", "[!a]*", "[[:alpha:]].pkl", "\\[x"):
            self.assertEqual(self.run_scan("scan", "--include", glob, "d").returncode, 0, glob)

    def test_exclude_prunes_the_directory(self):
        # Pruned, not filtered file by file: the unreadable directory is never opened.
        locked = os.path.join(self.d, "locked")
        os.mkdir(locked)
        os.chmod(locked, 0)
        r = self.run_scan("scan", "--exclude", "locked", "d", as_user=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("2 files", r.stdout)
        r = self.run_scan("scan", "--exclude", "sub/", "d")
        self.assertIn("1 file:", r.stdout)

    def test_patterns_match_paths_as_printed(self):
        for root in ("d", "./d", os.path.join(self.root, "d")):
            printed = os.path.join(root, "sub", "*") if root.startswith("/") else "d/sub/*"
            r, doc = self.json_scan("--include", printed, root)
            self.assertEqual([os.path.basename(f["path"]) for f in doc["files"]], ["b.pkl"], (root, printed))
            r, doc = self.json_scan("--exclude", printed, root)
            self.assertEqual([os.path.basename(f["path"]) for f in doc["files"]], ["a.pkl"], (root, printed))
        # Below the directory given, as before.
        r, doc = self.json_scan("--include", "sub/*", "d")
        self.assertEqual([f["path"] for f in doc["files"]], ["d/sub/b.pkl"])

    def test_scan_of_nothing_says_so_and_fail_on_empty(self):
        r = self.run_scan("scan", "--include", "*.pt", "d")
        self.assertEqual(r.returncode, 0)
        self.assertIn("no file was scanned", r.stderr)
        r = self.run_scan("scan", "--fail-on-empty", "--include", "*.pt", "d")
        self.assertEqual(r.returncode, 2)
        os.makedirs(os.path.join(self.root, "empty"))
        self.assertEqual(self.run_scan("scan", "--fail-on-empty", "--format", "sarif", "empty").returncode, 2)
        self.assertEqual(self.run_scan("scan", "--fail-on-empty", "d").returncode, 0)
        r = self.run_scan("scan", "--stdin-paths", "--fail-on-empty", stdin="")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no path", r.stderr)

    # ---- output files ------------------------------------------------

    def test_output_file_that_cannot_be_written_is_an_error(self):
        # /dev/full opens and takes buffered writes; the failure shows only
        # when the file is closed. A report that did not reach --output must
        # not pass as a clean scan (scan used to ignore fclose and exit 0).
        if not os.path.exists("/dev/full"):
            self.skipTest("no /dev/full")
        for args in (("scan", "d"), ("scan", "--format", "json", "d"), ("policy", "infer", "d/a.pkl")):
            r = self.run_scan(*args, "-o", "/dev/full")
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertIn("cannot write /dev/full", r.stderr, args)
        r = self.run_scan("scan", "d", "-o", os.path.join(self.root, "no-such-dir", "report.txt"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("cannot write", r.stderr)


if __name__ == "__main__":
    cli_common.main(sys.modules[__name__])
