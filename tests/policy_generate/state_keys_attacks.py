#!/usr/bin/python3
"""Byte-built attacks on the state constraints policy generate writes for
nn.Module classes (empty_state_keys, required_state_keys; docs/policies.md,
"Generated policies": Module.__call__ is read as running only forward when
the hook tables are empty).

    state_keys_attacks.py --pickleguard build/tools/pickleguard

Each pickle makes torchvision's Resize (an nn.Module the generated
torchvision policy allows with new and build) and BUILDs it with state that
breaks a constraint: all must be unsafe under policies/torchvision.toml. The
benign neighbour (every hook table present and empty) must be safe.

Never unpickled: the bytes are written here and only scanned.
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def t(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b  # SHORT_BINUNICODE


def g(module, name):
    return t(module) + t(name) + b"\x93"  # STACK_GLOBAL


EMPTY = g("collections", "OrderedDict") + b")R"  # OrderedDict()
HEAD = b"\x80\x04" + g("torchvision.transforms.transforms", "Resize") + b")\x81"  # NEWOBJ


def state(items):
    return b"}(" + b"".join(t(k) + v for k, v in items) + b"u"


def build(items):
    return HEAD + state(items) + b"b."


HOOKS = [("_backward_hooks", EMPTY), ("_forward_hooks", EMPTY), ("_forward_pre_hooks", EMPTY)]
HOOK = g("builtins", "int")  # stands for any callable the policy allows
CASES = {
    "forward hook set": build([("_backward_hooks", EMPTY),
                               ("_forward_hooks", EMPTY + b"(K\x00" + HOOK + b"u"),
                               ("_forward_pre_hooks", EMPTY)]),
    "forward pre-hook set": build([("_backward_hooks", EMPTY), ("_forward_hooks", EMPTY),
                                   ("_forward_pre_hooks", EMPTY + b"(K\x00" + HOOK + b"u")]),
    "forward hooks absent (Module.__getattr__ reads _modules)": build(
        [("_backward_hooks", EMPTY), ("_forward_pre_hooks", EMPTY),
         ("_modules", EMPTY + b"(" + t("_forward_hooks") + EMPTY + b"(K\x00" + HOOK + b"uu")]),
    "backward hooks absent": build([("_forward_hooks", EMPTY), ("_forward_pre_hooks", EMPTY)]),
    "forward shadowed": build(HOOKS + [("forward", HOOK)]),
    # The empty table filled after BUILD, through the memo (never-mutated).
    "hook table filled after BUILD": HEAD + b"}(" + t("_backward_hooks") + EMPTY + t("_forward_hooks") + EMPTY +
    b"\x94" + t("_forward_pre_hooks") + EMPTY + b"ub" + b"h\x00(K\x00" + HOOK + b"u0.",
    # Module.__setstate__ runs self.__dict__.update(state): a list of pairs works as well as a dict.
    "state as a list of pairs": HEAD + b"](" + b"(" + t("_forward_hooks") + EMPTY + b"(K\x00" + HOOK + b"ut" +
    b"(" + t("_backward_hooks") + EMPTY + b"te" + b"b.",
}
BENIGN = build(HOOKS + [("size", b"K\x20")])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    args = ap.parse_args()
    policy = ROOT / "policies" / "torchvision.toml"
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for i, (name, data) in enumerate(list(CASES.items()) + [("benign", BENIGN)]):
            f = pathlib.Path(tmp) / f"case{i}.pkl"
            f.write_bytes(data)
            files[name] = f
        for name, f in files.items():
            r = subprocess.run([args.pickleguard, "scan", "--policy", str(policy), str(f)], capture_output=True, text=True)
            verdict = r.stdout.split()[0] if r.stdout.split() else f"error {r.returncode}"
            want = "safe" if name == "benign" else "unsafe"
            print(f"{name:60s} {verdict}")
            if (verdict == "safe") != (want == "safe"):
                errors.append(f"{name}: {verdict}, expected {want}")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
