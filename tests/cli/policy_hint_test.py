#!/usr/bin/python3
"""The pre-commit hint (issue 17): a file that fails under the default policy
but is safe under another shipped policy gets a `hint:` line naming it, found
by judging the file again under each shipped policy; a file with a gadget no
shipped policy allows gets none.

    policy_hint_test.py --pickleguard build/tools/pickleguard
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli_common  # noqa: E402
import pickles  # noqa: E402

PICKLEGUARD = None
SOURCE = os.path.dirname(os.path.dirname(HERE))
# A real joblib.dump of a fitted scikit-learn Pipeline (tests/fixtures/make_fixtures.py).
PIPELINE = os.path.join(SOURCE, "tests", "fixtures", "sklearn", "pipeline.joblib")


def hints(out):
    return [line for line in out.splitlines() if line.startswith("hint:")]


class PolicyHint(cli_common.TempDirTest):
    def scan(self, *args):
        return subprocess.run([PICKLEGUARD, "scan", "--no-sandbox", *args], capture_output=True, text=True,
                              timeout=120)

    def test_sklearn_pipeline_under_default_names_sklearn(self):
        for extra in ([], ["--quiet"], ["--policy", "default"]):  # --quiet: the pre-commit hook's default args
            with self.subTest(args=extra):
                r = self.scan(*extra, PIPELINE)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                h = hints(r.stdout)
                self.assertEqual(len(h), 1, r.stdout)
                self.assertIn(PIPELINE, h[0])
                self.assertRegex(h[0], r"passes under --policy sklearn\b")
                self.assertIn("args: [--policy, sklearn]", h[0])
        # ... and what it names does pass.
        r = self.scan("--policy", "sklearn", PIPELINE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(hints(r.stdout), [])

    def test_hint_is_a_real_judging(self):
        # Every policy a hint names passes the file; pandas includes numpy, not sklearn.
        r = self.scan(PIPELINE)
        for name in re.findall(r"--policy (\w+)", hints(r.stdout)[0].split(" (")[0]):
            ok = self.scan("--policy", name, PIPELINE)
            self.assertEqual(ok.returncode, 0, f"the hint names {name}, which fails:\n{ok.stdout}")
        self.assertNotIn("--policy pandas", hints(r.stdout)[0])

    def test_no_hint_for_a_gadget(self):
        attack = os.path.join(SOURCE, "examples", "attacks", "os_system_protocol0.pkl")
        r = self.scan(attack)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(hints(r.stdout), [], r.stdout)
        # sklearn globals that sklearn allows, and os.system: no shipped policy passes it.
        mixed = self.write("mixed.pkl", b"\x80\x02" + pickles.global_op("sklearn.pipeline", "Pipeline") + b"0" +
                           pickles.global_op("os", "system") + b"0N.")
        r = self.scan(mixed)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(hints(r.stdout), [], r.stdout)

    def test_only_under_the_default_policy_and_in_text(self):
        r = self.scan("--policy", "python", PIPELINE)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(hints(r.stdout), [], r.stdout)
        r = self.scan("--format", "json", PIPELINE)
        self.assertNotIn("hint", r.stdout)

    def test_in_the_sandboxed_worker_too(self):
        r = subprocess.run([PICKLEGUARD, "scan", "-q", PIPELINE], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(len(hints(r.stdout)), 1, r.stdout + r.stderr)


if __name__ == "__main__":
    cli_common.main(sys.modules[__name__])
