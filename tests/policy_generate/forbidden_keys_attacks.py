#!/usr/bin/python3
"""Byte-built attacks on forbidden_state_keys (docs/policies.md,
"forbidden_state_keys"): statsmodels' ModelData.__setstate__ hands the
state's formula to patsy.dmatrices, which evaluates it as Python, when the
state has "restore_design_info"; policy generate reads it without that
branch and writes the key as forbidden.

    forbidden_keys_attacks.py --pickleguard build/tools/pickleguard

Each pickle makes statsmodels.base.data.ModelData (NEWOBJ) and BUILDs it
with state that could take that branch, or in which the judge cannot tell:
all must be unsafe, under a minimal policy (python plus the one entry, so
the judge's check is what is tested) and under policies/statsmodels.toml
when its entry has the key. The benign neighbour (a plain state without the
key) must be safe under both.

The wrapper rows (RegressionResultsWrapper, whose __setstate__ runs
self.__dict__.update(state)) are refused only by check_pair_state: each is
safe with it removed (tried).

Rows that only check_forbidden_state_keys refuses (each safe with the
check removed, tried): the key itself, a (dict, None) pair, a dict handed to
a call or to another BUILD first. The OrderedDict state, the numpy.str_ key
and the key added through the memo after BUILD are refused by other checks
too (computed state, global-not-allowed, keyed_state_readable), and stay as
rows so a change there cannot open them.

Never unpickled: the bytes are written here and only scanned.
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULE, NAME, KEY = "statsmodels.base.data", "ModelData", "restore_design_info"


def t(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b  # SHORT_BINUNICODE


def g(module, name):
    return t(module) + t(name) + b"\x93"  # STACK_GLOBAL


HEAD = b"\x80\x04" + g(MODULE, NAME) + b")\x81"  # NEWOBJ


def items(pairs):
    return b"(" + b"".join(k + v for k, v in pairs) + b"u"  # MARK ... SETITEMS


RESTORE = [(t(KEY), b"\x88"), (t("formula"), t("y ~ __import__('os').system('id')"))]  # NEWTRUE
CASES = {
    "the forbidden key in the state": HEAD + b"}" + items(RESTORE) + b"b.",
    # A dict subclass answers `in` and get() itself.
    "state an OrderedDict made by a call": HEAD + g("collections", "OrderedDict") + b")R" + items(RESTORE) + b"b.",
    # __setstate__ gets the pair whole; the guard was not read for it.
    "state a (dict, None) pair": HEAD + b"}" + items(RESTORE) + b"N\x86b.",
    # The dict went to other code first (here a call; a scanned __setstate__
    # that adds keys to its state would do the same), which may have added
    # the key where the stream does not show it.
    "state dict handed to a call before its BUILD": b"\x80\x04" + b"}" + items([(t("k_constant"), b"K\x00")]) +
    b"\x94" + g("collections", "OrderedDict") + b"h\x00\x85R0" + g(MODULE, NAME) + b")\x81h\x00b.",
    "state dict BUILT into another ModelData first": b"\x80\x04" + b"}" + items([(t("k_constant"), b"K\x00")]) +
    b"\x94" + g(MODULE, NAME) + b")\x81h\x00b0" + g(MODULE, NAME) + b")\x81h\x00b.",
    # The key added through the memo after the BUILD: the graph shows the
    # dict as it ends, so the judge cannot tell when; refused.
    "the key added after BUILD through the memo": HEAD + b"}\x94" + items([(t("k_constant"), b"K\x00")]) + b"b" +
    b"h\x00" + items(RESTORE) + b"0.",
    # A str subclass key equal to the forbidden one (numpy.str_), made by a call.
    "the key as a numpy.str_": HEAD + b"}(" + g("numpy", "str_") + t(KEY) + b"\x85R\x88u" + b"b.",
}
# ResultsWrapper.__setstate__ runs self.__dict__.update(state): pairs set
# __setstate__ on the instance, which the next BUILD calls (here int("12");
# any allowed reference, with any argument).
WRAPPER = b"\x80\x04" + g("statsmodels.regression.linear_model", "RegressionResultsWrapper") + b")\x81"
HOOK = g("builtins", "int")
WRAPPER_CASES = {
    "wrapper: list of pairs sets __setstate__": WRAPPER + b"](" + t("__setstate__") + HOOK + b"\x86e" + b"b" + t("12") +
    b"b.",
    "wrapper: tuple of pairs sets __setstate__": WRAPPER + b"(" + t("__setstate__") + HOOK + b"\x86" + t("x") + b"K\x01" +
    b"\x86t" + b"b" + t("12") + b"b.",
    # Three items, so not read as (state, slot state): the dict iterates as
    # the pair of its keys, a 2-character str as the pair of its characters.
    "wrapper: a 2-key dict read as a pair": WRAPPER + b"}(" + t("__setstate__") + b"K\x00" + HOOK + b"K\x00u" + t("ab") +
    t("cd") + b"\x87b" + t("12") + b"b.",
}
WRAPPER_BENIGN = WRAPPER + b"}(" + t("_results") + b"Nu" + b"b."
BENIGN = HEAD + b"}" + items([(t("k_constant"), b"K\x00"), (t("const_idx"), b"N")]) + b"b."

MINIMAL = f'''name = "forbidden-keys-test"
include = ["python"]

[[allow]]
module = "{MODULE}"
name = "{NAME}"
uses = ["new", "build"]
forbidden_state_keys = ["{KEY}"]
note = "test: ModelData without its restore_design_info branch"
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    args = ap.parse_args()
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        minimal = pathlib.Path(tmp) / "minimal.toml"
        minimal.write_text(MINIMAL)
        policies = [minimal]
        shipped = ROOT / "policies" / "statsmodels.toml"
        entry = next((e for e in tomllib.loads(shipped.read_text()).get("allow", [])
                      if e.get("module") == MODULE and e.get("name") == NAME), None)
        if entry and KEY in entry.get("forbidden_state_keys", []):
            policies.append(shipped)
        else:
            print(f"note: {shipped.name} has no {NAME} entry forbidding {KEY}: checked under the minimal policy only")
        files = {}
        for i, (name, data) in enumerate(list(CASES.items()) + [("benign", BENIGN)]):
            f = pathlib.Path(tmp) / f"case{i}.pkl"
            f.write_bytes(data)
            files[name] = f
        wrapper_files = {}
        for i, (name, data) in enumerate(list(WRAPPER_CASES.items()) + [("wrapper benign", WRAPPER_BENIGN)]):
            f = pathlib.Path(tmp) / f"wrapper{i}.pkl"
            f.write_bytes(data)
            wrapper_files[name] = f
        for policy in policies:
            for name, f in list(files.items()) + (list(wrapper_files.items()) if policy == shipped else []):
                r = subprocess.run([args.pickleguard, "scan", "--policy", str(policy), str(f)],
                                   capture_output=True, text=True)
                verdict = r.stdout.split()[0] if r.stdout.split() else f"error {r.returncode}: {r.stderr[:200]}"
                want = "safe" if name.endswith("benign") else "unsafe"
                print(f"{policy.name:22s} {name:50s} {verdict}")
                if verdict != want:
                    errors.append(f"{policy.name}: {name}: {verdict}, expected {want}")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
