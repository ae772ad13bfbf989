#!/usr/bin/python3
"""`decode`, `disasm` and `explain` inside containers: --member NAME and
--list-members, end to end (docs/commands.md).

A container given to decode or disasm without --member is a usage error that
names its pickle streams, never its bytes decoded as opcodes; --member reads
the stream a scan report names; explain disassembles findings inside members
from the member's own bytes. Real fixtures (a PyTorch zip, numpy .npz files)
are only read; hostile containers are wrapped around pickles built byte by
byte (pickles.py) with zipfile, tarfile and gzip. Nothing is ever unpickled.

    member_test.py --pickleguard build/tools/pickleguard
"""

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_common  # noqa: E402
import pickles  # noqa: E402

PICKLEGUARD = None
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
TORCH_ZIP = os.path.join(FIXTURES, "torch", "conv_bn_state_dict.pt")
TORCH_PICKLE = "conv_bn_state_dict/data.pkl"
NPZ = os.path.join(FIXTURES, "numpy", "savez_object.npz")
NPZ_COMPRESSED = os.path.join(FIXTURES, "numpy", "savez_compressed_object.npz")
NPZ_PICKLE = "objects.npy > object array"


def run(*args):
    return subprocess.run([PICKLEGUARD, *args], capture_output=True, text=True, timeout=120)


def torch_zip(data_pkl: bytes) -> bytes:
    """A PyTorch zip checkpoint as torch.save lays it out, holding `data_pkl`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
    return out.getvalue()


def tar_gz(members) -> bytes:
    """A gzip'd tar of (name, bytes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


class ListMembersTest(cli_common.TempDirTest):
    def test_lists_the_names_scan_reports_use(self):
        r = run("disasm", "--list-members", TORCH_ZIP)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^pytorch-zip\s+2486  ''$", "the file itself comes first")
        self.assertRegex(r.stdout, r"\npickle\s+\d+  " + TORCH_PICKLE + "\n")
        scan = json.loads(run("scan", "--format", "json", TORCH_ZIP).stdout)
        members = {g["member"] for g in scan["files"][0]["globals"]}
        self.assertEqual(members, {TORCH_PICKLE}, "the listed name is the report's `member`")
        r = run("decode", "--list-members", NPZ_COMPRESSED)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\npickle\s+\d+  objects.npy > object array\n")


JOBLIB_OBJECTS = os.path.join(FIXTURES, "sklearn", "logistic_regression_feature_names.joblib")


class JoblibArrayBytesTest(cli_common.TempDirTest):
    def test_disasm_lists_a_joblib_file_as_joblib_load_reads_it(self):
        # sklearn's feature_names_in_ is an object array: joblib pickles it on
        # its own right after the wrapper's BUILD, and reads it itself.
        r = run("disasm", JOBLIB_OBJECTS)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        skipped = [i for i, line in enumerate(lines) if "(joblib.load reads bytes 516..745 itself" in line]
        self.assertEqual(len(skipped), 1, r.stdout[-2000:])
        self.assertRegex(lines[skipped[0] - 1], r"^\s*515: b\s+BUILD")
        self.assertRegex(lines[skipped[0] + 1], r"^\s*745: ")
        self.assertNotIn("PROTO            2", r.stdout, "the object array's own pickle is not listed as opcodes")
        self.assertNotIn("bytes follow", lines[-1], "the outer stream is listed to its own STOP")


class ContainerWithoutMemberTest(cli_common.TempDirTest):
    def test_disasm_of_a_container_names_its_pickles_and_decodes_nothing(self):
        r = run("disasm", TORCH_ZIP)
        self.assertEqual(r.returncode, 2, "a usage error, as docs/commands.md's exit codes say")
        self.assertEqual(r.stdout, "", "no opcode decoded from the zip's magic")
        self.assertIn("container (pytorch-zip)", r.stderr)
        self.assertIn("'" + TORCH_PICKLE + "'", r.stderr)
        self.assertIn("--member", r.stderr)

    def test_decode_of_a_container(self):
        r = run("decode", NPZ)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertIn("container (npz)", r.stderr)
        self.assertIn("'" + NPZ_PICKLE + "'", r.stderr)
        r = run("decode", "--lines", NPZ)
        self.assertEqual(r.returncode, 2)
        line = json.loads(r.stdout)
        self.assertEqual(line["error"]["kind"], "usage")
        self.assertIn(NPZ_PICKLE, line["error"]["reason"])

    def test_raw_reads_the_container_bytes_as_pickle_loads_would(self):
        # what the differential test compares with CPython's pickle.loads(data)
        r = run("decode", "--lines", "--raw", TORCH_ZIP)
        self.assertEqual(r.returncode, 1, "the zip's magic is no pickle")
        self.assertNotEqual(json.loads(r.stdout)["error"]["kind"], "usage")
        r = run("disasm", "--raw", "--member", TORCH_PICKLE, TORCH_ZIP)
        self.assertEqual(r.returncode, 2, "--raw and --member exclude each other")

    def test_a_bare_pickle_is_read_as_before(self):
        p = self.write("x.pkl", pickles.os_system("echo hi"))
        r = run("disasm", p)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("GLOBAL", r.stdout)
        r = run("disasm", "--member", "", p)
        self.assertEqual(r.returncode, 0, "'' is the file itself")
        self.assertIn("GLOBAL", r.stdout)


class MemberTest(cli_common.TempDirTest):
    def test_disasm_and_decode_of_a_pytorch_zip_member(self):
        r = run("disasm", "--member", TORCH_PICKLE, TORCH_ZIP)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^\s+0: \\x80 PROTO")
        self.assertIn("collections.OrderedDict", r.stdout)
        self.assertIn("STOP", r.stdout)
        r = run("decode", "--member", TORCH_PICKLE, TORCH_ZIP)
        self.assertEqual(r.returncode, 0, r.stderr)
        value = json.loads(r.stdout)
        self.assertIn("$dict", value)

    def test_disasm_and_decode_of_an_npz_object_array(self):
        # stored and deflated: the inflated member's bytes outlive the reader
        for npz in (NPZ, NPZ_COMPRESSED):
            r = run("disasm", "--member", NPZ_PICKLE, npz)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("numpy.core.multiarray._reconstruct", r.stdout)
            r = run("decode", "--lines", "--member", NPZ_PICKLE, npz)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("value", json.loads(r.stdout))

    def test_a_member_of_a_gzipped_tar(self):
        path = self.write("m.tar.gz", tar_gz([("inner/evil.pkl", pickles.os_system("in tar"))]))
        r = run("disasm", "--list-members", path)
        self.assertIn("gzip > inner/evil.pkl", r.stdout)
        r = run("disasm", "--member", "gzip > inner/evil.pkl", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("'in tar'", r.stdout)
        r = run("disasm", "--member", "gzip", path)
        self.assertEqual(r.returncode, 2, "a nested container is no pickle stream either")
        self.assertIn("container (tar)", r.stderr)

    def test_an_unknown_member_lists_the_names(self):
        r = run("disasm", "--member", "archive/nope.pkl", TORCH_ZIP)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertIn("no member named 'archive/nope.pkl'", r.stderr)
        self.assertIn("'" + TORCH_PICKLE + "'", r.stderr)
        r = run("decode", "--lines", "--member", "nope", NPZ)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(json.loads(r.stdout)["error"]["kind"], "usage")
        r = run("explain", "--member", "nope", TORCH_ZIP)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no member named 'nope'", r.stdout)


class ExplainInContainersTest(cli_common.TempDirTest):
    def test_explains_a_finding_in_a_pytorch_zip_member(self):
        # a second pickle after data.pkl's STOP: its name is the judge's
        # ("archive/data.pkl (pickle 2 at offset 5)") around the reader's
        data = b"\x80\x02K\x01." + pickles.os_system("from zip")
        path = self.write("evil.pt", torch_zip(data))
        r = run("explain", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("in archive/data.pkl (pickle 2 at offset 5)", r.stdout)
        self.assertIn('["from zip"]', r.stdout, "the call's arguments, decoded from the member")
        self.assertRegex(r.stdout, r">>\s+7: c\s+GLOBAL\s+'os' 'system'")
        self.assertNotIn("extract", r.stdout)

    def test_explains_a_member_of_a_gzipped_tar_and_narrows_to_one(self):
        path = self.write("m.tar.gz", tar_gz([("a.pkl", pickles.os_system("first")),
                                              ("b.pkl", pickles.builtins_eval("2+2"))]))
        r = run("explain", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('["first"]', r.stdout)
        self.assertIn('["2+2"]', r.stdout)
        self.assertEqual(r.stdout.count("disassembly:"), r.stdout.count("(GLOBAL)\n"))
        r = run("explain", "--member", "gzip > b.pkl", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("member 'gzip > b.pkl'", r.stdout)
        self.assertIn('["2+2"]', r.stdout)
        self.assertNotIn("first", r.stdout)

    def test_a_real_npz_under_a_policy_that_refuses_numpy(self):
        r = run("explain", "--policy", "python", NPZ_COMPRESSED)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("in objects.npy > object array  at offset 2 (GLOBAL)", r.stdout)
        self.assertRegex(r.stdout, r">>\s+2: c\s+GLOBAL\s+'numpy.core.multiarray' '_reconstruct'")


if __name__ == "__main__":
    cli_common.main(sys.modules[__name__])
