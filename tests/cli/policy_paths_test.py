#!/usr/bin/python3
"""--policy paths and names that shadow each other (issue 13 §4).

`scan --policy ./numpy.toml --policy ./team.toml` used to turn the paths
into stems and include them by name, and a name resolves to a shipped
policy first: the user's numpy.toml was silently replaced by the shipped
numpy policy, and only the last file's folder was searched. Now the files
themselves are merged, a path (a '/' in it, or ending in .toml) is never a
shipped name, and an include in a file is looked for from that file's
folder. Each test runs `scan` on pickles built byte by byte (GLOBAL
references in a tuple; nothing is ever unpickled) and reads the verdict.

    policy_paths_test.py --pickleguard build/tools/pickleguard
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli_common  # noqa: E402
import pickles  # noqa: E402

PICKLEGUARD = None

# A global the shipped numpy policy allows as a reference (the pickles below only
# reference globals) and no test policy here does.
NUMPY_GLOBAL = ("numpy", "ndarray")  # allowed as a reference by the shipped numpy policy


def references(*globals_):
    """A protocol-2 pickle whose value is a tuple of the given globals (references only)."""
    return b"\x80\x02(" + b"".join(pickles.global_op(m, n) for m, n in globals_) + b"t."


def policy_text(name, allowed, include=()):
    out = f'name = "{name}"\ninclude = [{", ".join(json.dumps(i) for i in include)}]\n'
    for module, attr in allowed:
        out += f'\n[[allow]]\nmodule = "{module}"\nname = "{attr}"\n'
    return out


class PolicyPathsTest(cli_common.TempDirTest):
    def verdict(self, pickle_bytes, *policies):
        """The verdict of one pickle under --policy ... as given, run from self.dir."""
        target = self.write("in/x.pkl", pickle_bytes)
        argv = [PICKLEGUARD, "scan", "--no-sandbox", "--format", "json"]
        for p in policies:
            argv += ["--policy", p]
        r = subprocess.run(argv + [target], cwd=self.dir, capture_output=True, text=True, timeout=60)
        if r.returncode == 2:
            return "usage: " + r.stderr.strip()
        return json.loads(r.stdout)["files"][0]["verdict"]

    def test_two_files_with_shipped_names_are_the_files(self):
        # ./numpy.toml and ./pytorch.toml share the shipped policies' names.
        self.write("numpy.toml", policy_text("numpy", [("team", "A")]))
        self.write("pytorch.toml", policy_text("pytorch", [("team", "B")]))
        both = ["./numpy.toml", "./pytorch.toml"]
        self.assertEqual(self.verdict(references(("team", "A"), ("team", "B")), *both), "safe")
        # Nothing of the shipped numpy policy came in under the file's name.
        self.assertEqual(self.verdict(references(NUMPY_GLOBAL), *both), "unsafe")
        # The same with paths that end in .toml but have no '/'.
        self.assertEqual(self.verdict(references(("team", "A"), ("team", "B")), "numpy.toml", "pytorch.toml"), "safe")

    def test_files_in_different_folders_include_from_their_own_folder(self):
        # Each file's include "common" is the common.toml beside it.
        self.write("one/team.toml", policy_text("team", [("team", "A")], include=["common"]))
        self.write("one/common.toml", policy_text("common", [("one", "C")]))
        self.write("two/other.toml", policy_text("other", [("team", "B")], include=["common"]))
        self.write("two/common.toml", policy_text("common", [("two", "D")]))
        everything = references(("team", "A"), ("team", "B"), ("one", "C"), ("two", "D"))
        self.assertEqual(self.verdict(everything, "one/team.toml", "two/other.toml"), "safe")
        self.assertEqual(self.verdict(everything, os.path.join(self.dir, "one/team.toml"),
                                      os.path.join(self.dir, "two/other.toml")), "safe")

    def test_file_and_shipped_name(self):
        self.write("numpy.toml", policy_text("numpy", [("team", "A")]))
        # "python" is the shipped policy; ./numpy.toml the file.
        self.assertEqual(self.verdict(references(("team", "A"), ("builtins", "frozenset")),
                                      "./numpy.toml", "python"), "safe")
        self.assertEqual(self.verdict(references(NUMPY_GLOBAL), "./numpy.toml", "python"), "unsafe")
        # And the shipped name alone still means the shipped policy.
        self.assertEqual(self.verdict(references(NUMPY_GLOBAL), "numpy"), "safe")

    def test_single_file_with_shipped_name(self):
        self.write("numpy.toml", policy_text("numpy", [("team", "A")]))
        self.assertEqual(self.verdict(references(("team", "A")), "./numpy.toml"), "safe")
        self.assertEqual(self.verdict(references(NUMPY_GLOBAL), "./numpy.toml"), "unsafe")

    def test_path_include_is_the_file_relative_to_the_including_file(self):
        # include = ["./numpy.toml"] in sub/team.toml is sub/numpy.toml, not the shipped numpy.
        self.write("sub/team.toml", policy_text("team", [], include=["./numpy.toml", "../shared/base.toml"]))
        self.write("sub/numpy.toml", policy_text("numpy", [("team", "A")]))
        self.write("shared/base.toml", policy_text("base", [("team", "B")]))
        self.assertEqual(self.verdict(references(("team", "A"), ("team", "B")), "sub/team.toml"), "safe")
        self.assertEqual(self.verdict(references(NUMPY_GLOBAL), "sub/team.toml"), "unsafe")
        # Merged with another file, the includes still resolve from sub/.
        self.write("extra.toml", policy_text("extra", [("team", "E")]))
        self.assertEqual(self.verdict(references(("team", "A"), ("team", "B"), ("team", "E")),
                                      "extra.toml", "sub/team.toml"), "safe")

    def test_bare_include_name_is_the_shipped_policy(self):
        # A name is a name (documented): "numpy" in a file is the shipped numpy policy,
        # even with a numpy.toml beside it; "./numpy.toml" would be the file.
        self.write("team.toml", policy_text("team", [("team", "A")], include=["numpy"]))
        self.write("numpy.toml", policy_text("numpy", [("team", "Z")]))
        self.assertEqual(self.verdict(references(NUMPY_GLOBAL, ("team", "A")), "./team.toml"), "safe")
        self.assertEqual(self.verdict(references(("team", "Z")), "./team.toml"), "unsafe")

    def test_bare_name_is_never_a_file(self):
        # "team" is no shipped policy: an error that says how to name the file, not the file,
        # alone or merged with others (where an include "team" would take ./team.toml).
        self.write("team", policy_text("team", [("team", "A")]))
        self.write("team.toml", policy_text("team", [("team", "A")]))
        for given in (["team"], ["team", "python"], ["python", "team"]):
            got = self.verdict(references(("team", "A")), *given)
            self.assertTrue(got.startswith("usage: "), (given, got))
            self.assertIn("./team", got)

    def test_include_cycle_through_paths_is_an_error(self):
        self.write("a.toml", policy_text("a", [], include=["./b.toml"]))
        self.write("b.toml", policy_text("b", [], include=["./a.toml"]))
        got = self.verdict(references(("team", "A")), "./a.toml", "python")
        self.assertTrue(got.startswith("usage: ") and "cycle" in got, got)

    def test_non_ascii_path(self):
        # The merged policy names each file in TOML text; a path in any script stays that path.
        self.write("équipe/numpy.toml", policy_text("numpy", [("team", "A")]))
        self.assertEqual(self.verdict(references(("team", "A"), ("builtins", "frozenset")),
                                      "équipe/numpy.toml", "python"), "safe")


if __name__ == "__main__":
    cli_common.main(sys.modules[__name__])
