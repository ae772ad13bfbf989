#!/usr/bin/python3
"""Every global CPython would resolve must be in pickleguard's report.

For each test pickle, a recorder unpickler runs the stream and notes each
(module, name) that find_class is asked for, both as the stream spells it and
as find_class resolves it (fix_imports below protocol 3). Nothing is imported
or called: find_class returns inert stubs. `pickleguard scan --format json`
must list exactly those globals (top-level pickle, member null), with the
same resolved and raw names. With --corpus, the files of fuzzing corpora are
compared too (the "set must match" half of the differential fuzz target).

The recorder is pickle.py's Unpickler, because it exposes the protocol in
force (`self.proto`), which find_class needs for fix_imports and which the C
unpickler keeps private. Only streams the C unpickler also accepts (through
the stub loader) are compared, so the two loaders' differences on malformed
input do not matter here.

    globals_differential.py --pickleguard build/tools/pickleguard
"""
from __future__ import annotations

import _compat_pickle
import argparse
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import edge_cases  # noqa: E402
import gen_random  # noqa: E402
import opscan  # noqa: E402
from edge_cases import MAX_SAFE_MEMO_INDEX  # noqa: E402
from stub_unpickler import StubObject, _signature, stub_load  # noqa: E402

# Byte-built attack shapes (the same techniques as tests/unit/scan_test.cpp).
TECHNIQUES = {
    "global_reduce": b"cos\nsystem\n(S'id'\ntR.",
    "builtin_eval_p2": b"\x80\x02c__builtin__\neval\nX\x04\x00\x00\x001+1\x85R.",
    "commands_getoutput_p2": b"\x80\x02ccommands\ngetoutput\nX\x02\x00\x00\x00id\x85R.",
    "builtin_set_p4_unmapped": b"\x80\x02c__builtin__\nset\n)\x80\x04c__builtin__\nset\n\x86.",
    "dotted_shutil": b"\x80\x04\x8c\x06shutil\x8c\tos.system\x93\x8c\x02id\x85R.",
    "stack_global_memo": b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x8c\x02id\x85R.",
    "inst": b"(S'id'\nios\nsystem\n.",
    "obj": b"(cos\nsystem\nS'id'\no.",
    "newobj_ex": b"\x80\x04\x8c\x04evil\x8c\x05Class\x93)}\x92.",
    "proto_flip_flop": b"\x80\x04\x80\x01c__builtin__\nopen\n\x80\x03c__builtin__\nopen\n\x86.",
    "copy_reg_p1": b"ccopy_reg\n_reconstructor\n(c__main__\nA\nc__builtin__\nobject\nNtR.",
    "urllib2_p0": b"curllib2\nurlopen\n.",
}


class Recorder(pickle._Unpickler):
    """pickle.py's loader, recording find_class and returning inert stubs."""

    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data))
        self.seen: list[tuple[str, str, str, str]] = []

    def find_class(self, module, name):
        raw = (module, name)
        if self.proto < 3 and self.fix_imports:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        self.seen.append((module, name) + raw)
        return type("Stub", (StubObject,), {"_pg_module": module, "_pg_name": name, "_pg_events": []})

    def persistent_load(self, pid):
        return StubObject.__new__(StubObject)


def recorded_globals(data: bytes) -> set | None:
    """The globals a full load resolves, or None if either loader rejects it."""
    c = stub_load(data)
    if not c.ok:
        return None
    r = Recorder(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = r.load()
        except Exception:  # noqa: BLE001 - the pure-Python loader differs on odd input
            return None
    a, b = _signature(c.value), _signature(value)
    if a is not None and b is not None and a != b:
        # The two loaders build different values ("I+1" is True to one and 1
        # to the other): pickleguard rejects those (run_differential.py's
        # three readers check that), so there are no globals to compare.
        return None
    return set(r.seen)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--corpus", action="append", default=[], metavar="DIR",
                    help="also compare every file of this fuzzing corpus (repeatable)")
    args = ap.parse_args()
    gen_random.ensure_fixed_hash_seed()

    cases: dict[str, bytes] = dict(TECHNIQUES)
    for c in edge_cases.build():
        cases[c.name] = c.data
    for c in gen_random.generate(1, args.count):
        cases[c.name] = c.data
    for d in args.corpus:
        if not os.path.isdir(d):
            print(f"corpus folder {d} does not exist: skipped")  # regression folders appear with their first input
            continue
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if os.path.isfile(path) and os.path.getsize(path) <= 1 << 16:
                with open(path, "rb") as f:
                    data = f.read()
                # As for mutants: a memo index near 2**32 makes the C
                # unpickler allocate gigabytes, and a declared length past
                # the end is rejected before anything is resolved.
                sc = opscan.scan(data)
                if (sc.max_put_index or 0) > MAX_SAFE_MEMO_INDEX or sc.end in ("overlong", "negative"):
                    continue
                cases[f"corpus:{path}"] = data

    expected: dict[str, set] = {}
    for name, data in cases.items():
        seen = recorded_globals(data)
        if seen is not None:
            expected[name] = seen

    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name in expected:
            path = os.path.join(tmp, f"{len(paths):05d}.pkl")
            with open(path, "wb") as f:
                f.write(cases[name])
            paths[path] = name
        names = list(paths)
        for start in range(0, len(names), 400):
            batch = names[start:start + 400]
            out = subprocess.run([args.pickleguard, "scan", "--format", "json", "--policy", "python", *batch],
                                 capture_output=True)
            if out.returncode not in (0, 1):
                print(f"pickleguard failed (exit {out.returncode}): {out.stderr.decode(errors='replace')}")
                return 1
            for f in json.loads(out.stdout)["files"]:
                name = paths[f["path"]]
                # Attributes fetched with getattr (opcode REDUCE) are judged as
                # dotted globals but are no find_class call.
                got = {(g["module"], g["name"], g["raw_module"], g["raw_name"])
                       for g in f["globals"] if g["member"] is None and g["opcode"] != "REDUCE"}
                want = {tuple(x) for x in expected[name]}
                if got == want:
                    passed += 1
                else:
                    failed += 1
                    print(f"MISMATCH {name}: {cases[name][:120]!r}")
                    print(f"   CPython resolves: {sorted(want)}")
                    print(f"   pickleguard says: {sorted(got)}")
    with_globals = sum(1 for v in expected.values() if v)
    print(f"globals compared on {len(expected)} pickles ({with_globals} with globals), "
          f"{len(cases) - len(expected)} rejected by a loader and skipped")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
