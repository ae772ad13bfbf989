#!/usr/bin/python3
"""ctest policy_audit: policies/audit_policies.py --check on every shipped
policy, and on a policy made to fail each check (so that a check that stops
working fails this test).

    audit_test.py

1. Every entry of every policies/*.toml: a note, no knowledge-base global
   of severity medium or above, resolves in the installed library (or its
   note says it is absent from this version), and what loading it runs
   allocates only by bounded sizes or is reviewed (policies/audit/native.toml).
   Entries of a library that is not installed are skipped and named; the
   known open findings of the table are printed.
2. A policy over tests/policy_generate/fakelib and the standard library with
   one entry per check, each of which must be reported.
"""
import json
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
AUDIT = ROOT / "policies" / "audit_policies.py"

# One bad entry per check, and the text its failure must contain.
BAD = '''
name = "audit-self-test"
include = []

[[allow]]
module = "fakelib"
name = "AllocatesFromState"
uses = ["new", "build"]

[[allow]]
module = "fakelib"
name = "RepeatsFromArgument"
uses = ["call"]
note = "__init__ repeats a list by its argument, no bound declared."

[[allow]]
module = "fakelib"
name = "NoSuchClass"
uses = ["reference"]
note = "A name the installed fakelib does not define."

[[allow]]
module = "builtins"
name = "eval"
uses = ["reference"]
note = "A knowledge-base global."

[[allow]]
module = "builtins"
name = "bytearray"
uses = ["call"]
note = "bytearray(n) without max_int_arg."

[[allow]]
module = "operator"
name = "attrgetter"
uses = ["call"]
note = "Native code the review table does not list."

[[allow]]
module = "fakelib"
name = "ConstantBuffer"
uses = ["new", "build"]
note = "Constant sizes and len(state): must not be reported."

[[allow]]
module = "notinstalledlib"
name = "Anything"
uses = ["reference"]
note = "A library that is not installed: skipped, not failed."
'''
EXPECTED = [
    "fakelib:AllocatesFromState: no note",
    "fakelib:AllocatesFromState: build runs fakelib:AllocatesFromState.__setstate__, which at "
    "fakelib:AllocatesFromState.__setstate__ calls bytearray sized by state['size']",
    "fakelib:RepeatsFromArgument: call runs fakelib:RepeatsFromArgument.__init__, which at "
    "fakelib:RepeatsFromArgument.__init__ repeats a sequence sized by n",
    "fakelib:NoSuchClass: resolves to nothing",
    "builtins:eval: builtins.eval is a knowledge-base global",
    "builtins:bytearray: call runs builtins:bytearray.__new__: needs one of ['max_int_arg']",
    "operator:attrgetter: call of operator.attrgetter runs native operator:attrgetter.__new__, not in",
]


def run(*args):
    r = subprocess.run([sys.executable, "-B", str(AUDIT), "--format", "json", "--check", *args],
                       capture_output=True, text=True)
    try:
        return r.returncode, json.loads(r.stdout)
    except json.JSONDecodeError:
        sys.exit(f"audit_policies.py wrote no JSON (exit {r.returncode}): {r.stderr[-2000:]}")


def main():
    failures = []
    code, doc = run()
    for s in doc["skipped"]:
        print("skipped (library not installed):", s)
    for o in doc["open"]:
        print("OPEN:", o)
    for e in doc["errors"]:
        failures.append(f"shipped policies: {e}")
    if code != (1 if doc["errors"] else 0):
        failures.append(f"shipped policies: exit {code} with {len(doc['errors'])} errors")
    print(f"shipped policies: {len(doc['records'])} records, {len(doc['skipped'])} skipped, "
          f"{len(doc['open'])} open findings, {len(doc['errors'])} failures")
    again = run()[1]
    if again != doc:
        failures.append("two runs of the audit gave different output")

    with tempfile.TemporaryDirectory() as tmp:
        bad = pathlib.Path(tmp) / "bad.toml"
        bad.write_text(BAD)
        code, doc = run("--path", str(HERE), "--policy-file", str(bad))
    errors = doc["errors"]
    if code != 1:
        failures.append(f"self-test policy: exit {code}, expected 1")
    for want in EXPECTED:
        if not any(want in e for e in errors):
            failures.append(f"self-test policy: no failure containing {want!r}")
    for e in errors:
        if "ConstantBuffer" in e or "notinstalledlib" in e:
            failures.append(f"self-test policy: reported {e!r}")
    if not any("notinstalledlib" in s for s in doc["skipped"]):
        failures.append("self-test policy: the entry of a library not installed was not skipped")
    print(f"self-test policy: {len(errors)} failures reported, {len(EXPECTED)} expected kinds checked")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
