#!/usr/bin/python3
"""The text report and the help as a person reads them: findings in the
order of the file (member, then offset), the "how to allow it" snippet only
where a policy may reasonably allow the global, combined policies named by
their parts, "1 file", help without CLI11's raw defaults, and policy errors
at the line of the bad key.

    text_manners_test.py --pickleguard build/tools/pickleguard
"""

import io
import json
import os
import re
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli_common  # noqa: E402
import pickles  # noqa: E402

PICKLEGUARD = None

# zzz.f at offset 2, then aaa.g at offset 10: name order and file order differ.
TWO_GLOBALS = b"\x80\x02" + pickles.global_op("zzz", "f") + b"0" + pickles.global_op("aaa", "g") + b"0N."


class TextManners(cli_common.TempDirTest):
    def run_pg(self, *args, cwd=None):
        return subprocess.run([PICKLEGUARD, *args], capture_output=True, text=True, timeout=60, cwd=cwd)

    def test_findings_in_file_order_not_name_order(self):
        p = self.write("two.pkl", TWO_GLOBALS)
        out = self.run_pg("scan", p).stdout
        self.assertLess(out.index("zzz.f is not allowed"), out.index("aaa.g is not allowed"), out)
        self.assertLess(out.index("offset 2 "), out.index("offset 10 "), out)

    def test_findings_in_member_order_then_offset(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("b/second.pkl", TWO_GLOBALS)
            z.writestr("a/first.pkl", pickles.global_op("mmm", "h") + b"0N.")
        p = self.write("two.zip", buf.getvalue())
        lines = [x for x in self.run_pg("scan", p).stdout.splitlines() if "global-not-allowed" in x]
        self.assertEqual(len(lines), 3, lines)
        self.assertIn("a/first.pkl: offset 0", lines[0])
        self.assertIn("b/second.pkl: offset 2", lines[1])
        self.assertIn("b/second.pkl: offset 10", lines[2])

    def test_allow_snippet_only_for_what_a_policy_may_allow(self):
        p = self.write("bad.pkl", pickles.os_system())
        q = self.write("two.pkl", TWO_GLOBALS)
        for fmt in ("text", "json"):
            with self.subTest(fmt=fmt):
                bad = self.run_pg("scan", "--format", fmt, p).stdout
                self.assertIn("os.system is not allowed", bad)
                self.assertNotIn("[[allow]]", bad, "no recipe for allowing a critical gadget")
                self.assertIn("No policy should allow it", bad)
                unknown = self.run_pg("scan", "--format", fmt, q).stdout
                self.assertIn('[[allow]] module = \\"zzz\\"' if fmt == "json" else '[[allow]] module = "zzz"', unknown)

    def test_combined_policies_are_named_by_their_parts(self):
        p = self.write("two.pkl", TWO_GLOBALS)
        text = self.run_pg("scan", "--policy", "python", "--policy", "numpy", p).stdout
        self.assertIn("policy 'python+numpy'", text)
        self.assertNotIn("command-line", text)
        doc = json.loads(self.run_pg("scan", "--format", "json", "--policy", "python", "--policy", "numpy", p).stdout)
        self.assertEqual(doc["policy"], "python+numpy")
        self.assertIn("policy 'python+numpy'", doc["files"][0]["findings"][0]["message"])

    def test_one_file_two_files(self):
        a = self.write("a.pkl", b"\x80\x02N.")
        b = self.write("b.pkl", b"\x80\x02N.")
        self.assertRegex(self.run_pg("scan", a).stdout, r"(?m)^1 file: 1 safe")
        self.assertRegex(self.run_pg("scan", a, b).stdout, r"(?m)^2 files: 2 safe")

    def test_help_without_raw_cli11_defaults(self):
        for cmd in (["scan"], ["decode"], ["disasm"], ["explain"], ["policy"], ["policy", "list"], ["policy", "show"],
                    ["policy", "infer"], ["policy", "generate"], []):
            with self.subTest(cmd=cmd):
                out = self.run_pg(*cmd, "--help").stdout
                self.assertTrue(out)
                self.assertIsNone(re.search(r"--[a-z-]+\{", out), out)
                self.assertNotIn("{false}", out)
                self.assertNotIn("{true}", out)

    def test_policy_errors_at_the_line_of_the_bad_key(self):
        cases = {
            # (policy text, line the error must name)
            "allow key": ('name = "x"\n\n[[allow]]\nmodule = "os"\nname = "path"\n\nusez = ["call"]\n', 7),
            "allow use": ('name = "x"\n[[allow]]\nmodule = "os"\nname = "path"\nnote = "n"\nuses = ["call",\n  "cal"]\n', 7),
            "allow int": ('name = "x"\n[[allow]]\nmodule = "m"\nname = "f"\n\nmax_int_arg = -1\n', 6),
            "top key": ('name = "x"\n\n\nincludes = ["python"]\n', 4),
            "persistent_id key": ('name = "x"\n[[persistent_id]]\nshape = "torch-storage"\nstorage = []\n', 4),
            "invokes key": ('name = "x"\n[[allow]]\nmodule = "m"\nname = "f"\ninvokes = [\n  { arg = 0, use = "call" },\n'
                            '  { arg = 1, usage = "call" },\n]\n', 7),
        }
        target = self.write("a.pkl", b"\x80\x02N.")
        for what, (text, line) in cases.items():
            with self.subTest(what):
                p = self.write(f"p{line}.toml", text)
                r = self.run_pg("scan", "--policy", p, target)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(f"{p}:{line}:", r.stderr)


if __name__ == "__main__":
    cli_common.main(sys.modules[__name__])
