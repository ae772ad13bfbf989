"""What the command-line test scripts share: the binary under test, given as
--pickleguard, the unittest entry point, and a test case with a folder of
its own.

    if __name__ == "__main__":
        cli_common.main(sys.modules[__name__])
"""

import argparse
import os
import sys
import tempfile
import unittest


def main(module):
    """Runs the test cases of `module` (the script run as __main__) against the
    binary named by --pickleguard, which becomes the module's PICKLEGUARD;
    other arguments (a test name, -k PATTERN, ...) go to unittest."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    args, rest = ap.parse_known_args()
    module.PICKLEGUARD = os.path.abspath(args.pickleguard)
    unittest.main(module=module, argv=[sys.argv[0], *rest], verbosity=2)


class TempDirTest(unittest.TestCase):
    """A test case with a temporary folder of its own, self.dir, removed after
    each test."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, rel, data):
        """Writes bytes or text to self.dir/rel, making its folders; returns the path."""
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return path
