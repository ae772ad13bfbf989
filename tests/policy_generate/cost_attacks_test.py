#!/usr/bin/python3
"""Byte-built pickles that make an allowed call allocate what they name
(the policy audit's cost findings, policies/audit/native.toml), and their
verdicts under the shipped policies.

    cost_attacks_test.py --pickleguard build/tools/pickleguard [--write DIR]

FIXED: each must be unsafe (ctest policy_cost_attacks fails otherwise).
OPEN: the rows with `open` in the table, printed with their verdict ("safe"
today, which is the bug) and not failing: the policy format cannot express
their fix yet. Nothing here is ever loaded: the costs were measured by
calling the trusted library directly (docs/policies.md, "Auditing the
shipped entries").
"""
import argparse
import json
import pathlib
import struct
import subprocess
import sys
import tempfile

PROTO, STOP, MARK, TUPLE, REDUCE, EMPTY_DICT, SETITEMS = b"\x80\x02", b".", b"(", b"t", b"R", b"}", b"u"
TUPLE1, TUPLE2, TUPLE3 = b"\x85", b"\x86", b"\x87"


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text(s):
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def long1(n):
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


def punycode():
    """_codecs.encode(10,000 distinct CJK characters, 'punycode'): 68 s of CPU
    (quadratic: 100,000 characters, a 300 kB pickle, take hours)."""
    s = "".join(chr(0x4E00 + i) for i in range(10000))
    return PROTO + glob("_codecs", "encode") + text(s) + text("punycode") + TUPLE2 + REDUCE + STOP


def numpy_scalar_void():
    """numpy.core.multiarray.scalar(numpy.dtype('V2147483647')): 2 GiB zero-filled per call."""
    dtype = glob("numpy", "dtype") + text("V2147483647") + TUPLE1 + REDUCE
    one = glob("numpy.core.multiarray", "scalar") + dtype + TUPLE1 + REDUCE
    return PROTO + MARK + one * 8 + b"l" + STOP  # a list of eight: 16 GiB


def numpy_reconstruct_shape():
    """_reconstruct(ndarray, (2**31,), dtype('O')): 16 GiB of address space, 21 s to free."""
    dtype = glob("numpy", "dtype") + text("O") + TUPLE1 + REDUCE
    call = glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray") + long1(2 ** 31) + TUPLE1 + \
        dtype + TUPLE3 + REDUCE
    return PROTO + call + STOP


def pandas_rangeindex():
    """Index.__new__(Index, data=RangeIndex(0, 2**31), dtype='float64'): materialises 2**31 floats (16 GiB)."""
    rng = glob("pandas.core.indexes.base", "_new_Index") + glob("pandas.core.indexes.range", "RangeIndex") + \
        EMPTY_DICT + MARK + text("start") + b"K\x00" + text("stop") + long1(2 ** 31) + text("step") + b"K\x01" + \
        SETITEMS + TUPLE2 + REDUCE
    idx = glob("pandas.core.indexes.base", "_new_Index") + glob("pandas.core.indexes.base", "Index") + \
        EMPTY_DICT + MARK + text("data") + rng + text("dtype") + text("float64") + SETITEMS + TUPLE2 + REDUCE
    return PROTO + idx + STOP


# (policy, attack): every policy that includes the one fixed must refuse it too.
FIXED = [("pandas", pandas_rangeindex), ("statsmodels", pandas_rangeindex)]
OPEN = [("python", punycode), ("numpy", numpy_scalar_void), ("numpy", numpy_reconstruct_shape)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--write", type=pathlib.Path, help="also keep the pickles in this folder")
    args = ap.parse_args()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.write or pathlib.Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for kind, rows in (("FIXED", FIXED), ("OPEN", OPEN)):
            for policy, make in rows:
                path = out / f"{make.__name__}.pkl"
                path.write_bytes(make())
                r = subprocess.run([args.pickleguard, "scan", "--policy", policy, "--format", "json", str(path)],
                                   capture_output=True, text=True)
                verdict = json.loads(r.stdout)["files"][0]["verdict"] if r.stdout.strip() else f"error {r.returncode}"
                print(f"{kind} {make.__name__} under {policy}: {verdict} ({path.stat().st_size} bytes) -- "
                      f"{' '.join(make.__doc__.split())}")
                if kind == "FIXED" and verdict != "unsafe":
                    failures.append(f"{make.__name__} is {verdict} under {policy}, must be unsafe")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
