#!/usr/bin/python3
"""SELF-TEST ONLY: a stand-in for ``pickleguard decode --lines`` in Python.

It exists to exercise the harness plumbing (files, batching, output parsing,
comparison) before or without the real C++ binary:

    /usr/bin/python3 run_differential.py --pickleguard ./selftest_fake_pickleguard.py

It judges with the same stub unpickler the harness uses as its reference, so
agreement proves nothing about pickleguard.  Error offsets are always 0.
It folds the constructor forms the stdlib pickler uses for set/frozenset/
bytes/bytearray/complex into their data forms (pgjson.fold_call), as the
contract asks of the decoder.  Known, expected disagreements: positive EXT codes (the fake has no
extension registry and rejects; the contract accepts).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import opscan  # noqa: E402
import pgjson  # noqa: E402
from edge_cases import MAX_SAFE_MEMO_INDEX  # noqa: E402
from stub_unpickler import stub_load  # noqa: E402

def decode(path):
    with open(path, "rb") as f:
        data = f.read()
    sc = opscan.scan(data)
    if sc.max_put_index is not None and sc.max_put_index > MAX_SAFE_MEMO_INDEX:
        return {"error": {"offset": 0, "opcode": None, "reason": "limit: memo index"}}
    if sc.end in ("overlong", "negative"):
        return {"error": {"offset": 0, "opcode": None, "reason": "declared length"}}
    result = stub_load(data)
    if not result.ok:
        return {"error": {"offset": 0, "opcode": None, "reason": result.reason}}
    try:
        alias = not any(op.name == "PROTO" and op.arg and op.arg[0] >= 3 for op in sc.ops)
        return {"value": pgjson.to_json(result.value, fold=True, builtin_alias=alias)}
    except pgjson.Unconvertible as exc:
        return {"error": {"offset": 0, "opcode": None, "reason": f"fake: {exc}"}}
    except RecursionError:
        return {"error": {"offset": 0, "opcode": None, "reason": "limit: nesting too deep for the fake"}}


def main():
    # --raw: the bytes themselves, containers too, as run_differential.py asks
    files = sys.argv[4:] if sys.argv[3:4] == ["--raw"] else sys.argv[3:]
    if not files or sys.argv[1:3] != ["decode", "--lines"]:
        print("usage: selftest_fake_pickleguard.py decode --lines [--raw] FILE...", file=sys.stderr)
        sys.exit(2)
    any_error = False
    out = sys.stdout
    for path in files:
        try:
            res = decode(path)
        except OSError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            sys.exit(2)
        any_error |= "error" in res
        out.write(pgjson.dumps({"file": path, **res}) + "\n")
    out.flush()
    sys.exit(1 if any_error else 0)


if __name__ == "__main__":
    main()
