#!/usr/bin/python3
"""`pickleguard policy infer`, `explain` and `scan --skip-unknown`, end to end.

A policy inferred from trusted files must pass those files, pass other files
made the same way, refuse anything else (an extra global, an extra use, an
unseen storage type), and never allow what the knowledge base calls dangerous
unless --allow-dangerous is given. Benign inputs come from pickle.dumps of
plain values; hostile ones are built byte by byte (pickles.py). Nothing is
ever unpickled.

    infer_explain_test.py --pickleguard build/tools/pickleguard
"""

import codecs
import collections
import datetime
import decimal
import json
import os
import pickle
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "containers"))
import cli_common  # noqa: E402
import make_readings  # noqa: E402  (tar headers, by struct.pack)
import pickles  # noqa: E402

PICKLEGUARD = None


def run(*args, stdin=None):
    return subprocess.run([PICKLEGUARD, *args], capture_output=True, text=True, input=stdin, timeout=120)


class Base(cli_common.TempDirTest):
    def infer(self, *files, extra=(), expect=0):
        out = os.path.join(self.dir, "inferred.toml")
        if os.path.exists(out):
            os.remove(out)
        r = run("policy", "infer", *files, "-o", out, *extra)
        self.assertEqual(r.returncode, expect, r.stderr + r.stdout)
        if expect != 0:
            self.assertFalse(os.path.exists(out), "a refused inference must write nothing")
            return r, None
        with open(out) as f:
            return r, f.read()

    def scan(self, policy_text, *files):
        pol = self.write("check.toml", policy_text.encode())
        return run("scan", "--policy", pol, "--format", "json", *files)


def records(n: int, seed: int):
    """What a trusted program writes: standard-library values, made the same way each time."""
    return {
        "rows": [collections.OrderedDict(id=i + seed, score=float(i) / 3) for i in range(n)],
        "when": datetime.datetime(2024, 1, 1 + seed % 28, 12, 0),
        "total": decimal.Decimal(f"{seed}.25"),
    }


class InferTest(Base):
    def test_passes_sources_and_files_made_the_same_way(self):
        a = self.write("a.pkl", pickle.dumps(records(3, 1), protocol=4))
        b = self.write("b.pkl", pickle.dumps(records(5, 2), protocol=2))
        _, text = self.infer(a, b, extra=("--name", "team"))
        self.assertIn('name = "team"', text)
        self.assertIn("a.pkl offset", text, "entries say where they came from")
        for module, name in (("collections", "OrderedDict"), ("datetime", "datetime"), ("decimal", "Decimal")):
            self.assertIn(f'module = "{module}"\nname = "{name}"', text)
        self.assertEqual(self.scan(text, a, b).returncode, 0)
        # made the same way, by the same library, with other values and protocols
        for proto in (2, 3, 4, 5):
            c = self.write(f"c{proto}.pkl", pickle.dumps(records(7, 11 + proto), protocol=proto))
            r = self.scan(text, c)
            self.assertEqual(r.returncode, 0, r.stdout)

    def test_refuses_an_extra_global(self):
        a = self.write("a.pkl", pickle.dumps(records(3, 1), protocol=4))
        _, text = self.infer(a)
        extra = dict(records(3, 1), z=complex(1, 2))
        d = self.write("d.pkl", pickle.dumps(extra, protocol=4))
        r = self.scan(text, d)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("builtins.complex", r.stdout)
        self.assertEqual(self.scan(text, self.write("x.pkl", pickles.os_system())).returncode, 1)

    def test_refuses_an_extra_use(self):
        a = self.write("a.pkl", pickle.dumps(collections.OrderedDict(a=1), protocol=2))
        _, text = self.infer(a)
        self.assertIn('uses = ["call", "setitem"]', text)
        r = self.scan(text, self.write("b.pkl", pickles.ordered_dict_built()))
        self.assertEqual(r.returncode, 1)
        self.assertIn("use-not-allowed", r.stdout)

    def test_include_lists_only_what_is_missing(self):
        a = self.write("a.pkl", pickle.dumps(records(2, 1), protocol=4))
        t = self.write("t.pkl", pickles.torch_state_dict())
        _, text = self.infer(a, t, extra=("--include", "python"))
        self.assertIn('include = ["python"]', text)
        self.assertNotIn('name = "OrderedDict"', text)   # python.toml has it
        self.assertNotIn('name = "Decimal"', text)
        self.assertIn('name = "_rebuild_tensor_v2"', text)
        self.assertEqual(self.scan(text, a, t).returncode, 0)

    def test_an_entry_widening_an_included_one_keeps_its_bounds(self):
        # python.toml allows _codecs.encode to be called with the encoding
        # pinned to latin1; a file that also holds it as a value needs an
        # entry, and the union with python's would drop the pin.
        a = self.write("a.pkl", pickle.dumps({"f": codecs.encode}, protocol=2))
        _, text = self.infer(a, extra=("--include", "python"))
        self.assertIn('name = "encode"', text)
        self.assertIn('args = [{ pos = 1, pattern = "latin1|latin-1" }]', text)
        self.assertIn("max_args = 2", text)
        self.assertEqual(self.scan(text, a).returncode, 0)
        puny = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x08\x00\x00\x00punycode\x86R."
        r = self.scan(text, self.write("puny.pkl", puny))
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("argument-not-allowed", r.stdout)

    def test_torch_persistent_ids(self):
        t1 = self.write("t1.pkl", pickles.torch_state_dict())
        _, text = self.infer(t1)
        self.assertIn('[[persistent_id]]\nshape = "torch-storage"\n', text)
        self.assertIn('storage_types = ["torch.FloatStorage"]', text)
        self.assertNotIn('name = "FloatStorage"', text, "storage types need no [[allow]] entry")
        t2 = self.write("t2.pkl", pickles.torch_state_dict(key="9", numel=12, names=("w", "b", "c")))
        self.assertEqual(self.scan(text, t1, t2).returncode, 0)
        t3 = self.write("t3.pkl", pickles.torch_state_dict(storage="torch.DoubleStorage"))
        self.assertEqual(self.scan(text, t3).returncode, 1, "a storage type not seen is refused")
        legacy = self.write("l.pkl", pickles.torch_state_dict(legacy=True))
        self.assertEqual(self.scan(text, legacy).returncode, 1, "the legacy shape was not seen")
        _, text2 = self.infer(legacy)
        self.assertIn('shape = "torch-storage-legacy"', text2)
        self.assertNotIn('shape = "torch-storage"\n', text2)
        self.assertEqual(self.scan(text2, legacy).returncode, 0)

    def test_refuses_dangerous_without_the_flag(self):
        a = self.write("a.pkl", pickle.dumps(records(2, 1), protocol=4))
        cases = {
            "eval.pkl": pickles.builtins_eval(),
            "system.pkl": pickles.os_system(),
            "code.pkl": pickles.call1("types", "CodeType", "x"),
            "dill.pkl": pickles.call1("dill._dill", "_create_code", "x"),
            # a function-pickling module the knowledge base does not list by name
            "cloud.pkl": pickles.call1("cloudpickle.cloudpickle_fast", "_function_setstate", "x"),
            "dotted.pkl": pickles.stack_global_call("shutil", "os.system", "id"),
        }
        for name, data in cases.items():
            with self.subTest(name):
                bad = self.write(name, data)
                r, _ = self.infer(a, bad, expect=1)
                self.assertIn("refused", r.stderr)
                self.assertIn("--allow-dangerous", r.stderr)

    def test_zoneinfo_needs_the_attribute_not_getattr(self):
        # ZoneInfo pickles as getattr(zoneinfo.ZoneInfo, '_unpickle')(key, 1):
        # the policy needs the attribute; getattr, only called that way, not.
        zone = (b"\x80\x04" + pickles.short_unicode("builtins") + pickles.short_unicode("getattr") + b"\x93" +
                pickles.short_unicode("zoneinfo") + pickles.short_unicode("ZoneInfo") + b"\x93" +
                pickles.short_unicode("_unpickle") + b"\x86R" + pickles.short_unicode("Europe/Paris") + b"K\x01\x86R.")
        a = self.write("zone.pkl", zone)
        r, text = self.infer(a)
        self.assertIn('name = "ZoneInfo._unpickle"', text)
        self.assertNotIn("getattr", text.split("\n[[allow]]", 1)[1])
        self.assertNotIn("DANGEROUS", text)
        self.assertEqual(self.scan(text, a).returncode, 0)

    def test_allow_dangerous_marks_entries(self):
        bad = self.write("eval.pkl", pickles.builtins_eval())
        r, text = self.infer(bad, extra=("--allow-dangerous",))
        self.assertIn("WARNING", r.stderr)
        self.assertIn("# WARNING: 1 entry is marked DANGEROUS", text)
        self.assertIn("# DANGEROUS: builtins.eval", text)
        self.assertIn('note = "DANGEROUS', text)
        self.assertEqual(self.scan(text, bad).returncode, 0)
        self.assertEqual(self.scan(text, self.write("x.pkl", pickles.os_system())).returncode, 1)

    def test_what_no_policy_can_allow_is_refused_even_when_forced(self):
        bad = self.write("coc.pkl", pickles.call_of_call())
        r, _ = self.infer(bad, extra=("--allow-dangerous",), expect=1)
        self.assertIn("call-of-computed-value", r.stderr)
        broken = self.write("broken.pkl", b"\x80\x04K\x01")
        r, _ = self.infer(broken, extra=("--allow-dangerous",), expect=1)
        self.assertIn("malformed-pickle", r.stderr)

    def test_names_cannot_inject_policy_text(self):
        # A name holding a newline and TOML: it must stay one string.
        name = 'x"\n[[allow]]\nmodule = "os"\nname = "system"\nuses = ["call"]\n#'
        data = b"\x80\x04" + pickles.short_unicode("harmless") + pickles.short_unicode(name) + b"\x93."
        src = self.write("weird.pkl", data)
        _, text = self.infer(src)
        self.assertEqual(self.scan(text, src).returncode, 0)
        self.assertEqual(self.scan(text, self.write("x.pkl", pickles.os_system())).returncode, 1)

    def test_usage_errors(self):
        self.assertEqual(run("policy", "infer", os.path.join(self.dir, "missing.pkl")).returncode, 2)
        a = self.write("a.pkl", pickle.dumps([1], protocol=4))
        self.assertEqual(run("policy", "infer", a, "--include", "no-such-policy").returncode, 2)


class ExplainTest(Base):
    def test_shows_the_call_and_the_opcodes_around_it(self):
        bad = self.write("x.pkl", pickles.os_system("echo pwned"))
        r = run("explain", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("global-not-allowed", r.stdout)
        self.assertIn("os.system", r.stdout)
        self.assertIn('["echo pwned"]', r.stdout, "the arguments of the call")
        self.assertIn(">>", r.stdout)
        self.assertIn("REDUCE", r.stdout)

    def test_a_pickle_after_stop_and_a_nested_pickle(self):
        tail = self.write("tail.pkl", b"\x80\x04K\x2a." + pickles.os_system())
        r = run("explain", tail)
        self.assertEqual(r.returncode, 1)
        self.assertIn("(pickle 2 at offset 5)", r.stdout)
        self.assertRegex(r.stdout, r">>\s+7: c\s+GLOBAL")
        inner = pickles.os_system("nested")
        nested = b"\x80\x02" + pickles.global_op("pickle", "loads") + b"C" + bytes([len(inner)]) + inner + b"\x85R."
        r = run("explain", self.write("nested.pkl", nested))
        self.assertEqual(r.returncode, 1)
        self.assertIn('["nested"]', r.stdout, "the nested pickle is disassembled and its call shown")

    def test_a_member_named_like_a_nested_loader_argument_is_not_read_as_one(self):
        # A tar whose offset 0 is also a pickle (make_readings.tar_pickle_polyglot's
        # layout): BINBYTES swallows the tar, then POP and pickle.loads(inner),
        # whose REDUCE is at offset `call`. The tar holds a member named
        # "argument 0 of pickle.loads at offset <call>" with a decoy pickle of
        # the same layout. Both streams' findings read the same as text; each
        # must be shown with its own opcodes and values, never the other's.
        inner = pickles.os_system("nested")
        decoy = pickles.os_system("decoy!")
        assert len(decoy) == len(inner)
        content = b"just some notes\n"
        blocks = [make_readings.tar_header(b"notes.txt", len(content)), content.ljust(512, b"\0")]
        tail_head = b"0" + pickles.global_op("pickle", "loads") + b"C" + bytes([len(inner)]) + inner + b"\x85"
        total = 512 * 4 + 1024  # two headers, two content blocks, the end blocks
        call = total + len(tail_head)
        name = b"argument 0 of pickle.loads at offset %d" % call
        blocks += [make_readings.tar_header(name, len(decoy)), decoy.ljust(512, b"\0"), b"\0" * 1024]
        prefix = b"\x80\x02B" + struct.pack("<I", total - 7)
        blocks[0] = make_readings.tar_header(prefix + b"notes.txt", len(content))
        tar = b"".join(bytes(b) for b in blocks)
        self.assertEqual(len(tar), total)
        path = self.write("polyglot.tar", tar + tail_head + b"R.")

        report = json.loads(run("scan", "--format", "json", path).stdout)["files"][0]
        members = {f["member"] for f in report["findings"] if f["rule"] == "global-not-allowed"}
        self.assertIn(name.decode(), members, "the tar member's own finding")
        self.assertIn("pickle reading > " + name.decode(), members, "the nested loader's bytes, in the pickle reading")

        # The first member's name holds the pickle's opcodes, not UTF-8; explain prints names as bytes.
        r = subprocess.run([PICKLEGUARD, "explain", path], capture_output=True, text=True, errors="replace", timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        blocks_out = r.stdout.split("\n  [")
        in_member = [b for b in blocks_out if b.startswith(tuple("0123456789")) and "in " + name.decode() + "  at" in b
                     and "global-not-allowed" in b]
        self.assertTrue(in_member, r.stdout)
        for b in in_member:
            self.assertIn('["decoy!"]', b, "the member's own values")
            self.assertNotIn('["nested"]', b, "the nested stream's values shown for the member's finding")
        nested = [b for b in blocks_out if b.startswith(tuple("0123456789")) and "in pickle reading > " + name.decode() in b
                  and "global-not-allowed" in b and "os.system" in b]
        self.assertTrue(nested, r.stdout)
        for b in nested:
            self.assertIn('["nested"]', b, "the nested stream's own values")
            self.assertNotIn('["decoy!"]', b)

    def test_safe_file(self):
        ok = self.write("ok.pkl", pickle.dumps({"a": [1.0, 2.0]}, protocol=4))
        r = run("explain", ok)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("no findings", r.stdout)

    def test_truncates_values(self):
        bad = self.write("x.pkl", pickles.os_system("A" * 5000))
        r = run("explain", "--max-value-chars", "100", bad)
        self.assertIn("(truncated)", r.stdout)
        self.assertLess(len(r.stdout), 4000)


class SkipUnknownTest(Base):
    def test_named_files_that_are_not_pickles(self):
        text = self.write("README.txt", b"just text\n")
        ok = self.write("ok.pkl", pickle.dumps([1, 2], protocol=4))
        self.assertEqual(run("scan", text, ok).returncode, 2)
        r = run("scan", "--skip-unknown", "--verbose", text, ok)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("skipped", r.stdout)
        bad = self.write("bad.pkl", pickles.os_system())
        self.assertEqual(run("scan", "--skip-unknown", text, bad).returncode, 1)


if __name__ == "__main__":
    cli_common.main(sys.modules[__name__])
