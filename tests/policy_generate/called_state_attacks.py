#!/usr/bin/python3
"""Byte-built attacks on the stored values a generated nn.Module entry calls
(called_state_keys, called_state_values, attribute_tables, callable_instances;
docs/policies.md, "Generated policies").

    called_state_attacks.py --pickleguard build/tools/pickleguard

torchvision's BasicBlock.forward calls self.conv1(x) ... self.downsample(x),
found in its __dict__ or, through Module.__getattr__, in _parameters,
_buffers or _modules; torch's Sequential.forward calls every value of
self._modules. After loading, those calls get the caller's tensor or image. Each row stores
there something that is not an instance NEWOBJ made of a class whose entry
sets callable_instances (a function, a class, a call's result, an instance
of an untagged class or one made by copyreg, ...), or hides what is stored
from the judge (a computed key or table, an item added after the BUILD, a
missing _modules): all must be unsafe under policies/torchvision.toml. (A
state key computed while loading is refused by empty_state_keys already.)

Each row must also be safe under a copy of the policy whose entry for the
row's class lacks the row's key (so the row tests that key, not another
refusal), and the benign neighbours (ReLU instances and None stored) safe.

Never unpickled: the bytes are written here and only scanned.
"""
import argparse
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def t(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b  # SHORT_BINUNICODE


def g(module, name):
    return t(module) + t(name) + b"\x93"  # STACK_GLOBAL


def odict(items=()):
    """collections.OrderedDict() then SETITEMS of items, as torch pickles one."""
    out = g("collections", "OrderedDict") + b")R"
    if items:
        out += b"(" + b"".join(k + v for k, v in items) + b"u"
    return out


EMPTY = odict()
HOOKS = [("_backward_hooks", EMPTY), ("_forward_hooks", EMPTY), ("_forward_pre_hooks", EMPTY)]
NN = "torch.nn.modules"
RESNET = "torchvision.models.resnet"


def state(items):
    return b"}(" + b"".join(t(k) + v for k, v in items) + b"u"


def module(module_name, cls, items):
    """NEWOBJ cls, BUILD with the hook tables and items."""
    return g(module_name, cls) + b")\x81" + state(HOOKS + items) + b"b"


RELU = module(NN + ".activation", "ReLU", [("inplace", b"\x89")])
FUNCTION = g("torchvision._utils", "sequence_to_str")  # an allowed reference: a function
CLASS = g(NN + ".activation", "ReLU")  # the class itself, not an instance
CALL_RESULT = g("collections", "OrderedDict") + b")R"  # an allowed call's result
UNTAGGED = g("torchvision.datasets._optical_flow", "FlyingChairs") + b")\x81"  # new/build, not callable_instances
RECONSTRUCTED = g("copyreg", "_reconstructor") + CLASS + g("builtins", "object") + b"N\x87R"  # object.__new__(ReLU)
# A key computed while loading (an allowed call's result): Decimal("1") here, a
# str equal to a called name under a policy that allows a call returning one;
# the judge does not tell them apart.
COMPUTED_KEY = g("decimal", "Decimal") + t("1") + b"\x85R"


def pickle(body):
    return b"\x80\x04" + body + b"."


def sequential(modules):
    return pickle(module(NN + ".container", "Sequential", [("_modules", modules)]))


BLOCK_CALLS = ["conv1", "bn1", "relu", "conv2", "bn2"]


def basic_block(items=None, modules=None):
    """BasicBlock with every called submodule a ReLU, downsample None."""
    mods = [(t(n), RELU) for n in BLOCK_CALLS] if modules is None else modules
    return pickle(module(RESNET, "BasicBlock", [("_parameters", EMPTY), ("_buffers", EMPTY),
                                                ("_modules", odict(mods)), ("downsample", b"N")] + (items or [])))


SEQ = (NN + ".container", "Sequential")
BLOCK = (RESNET, "BasicBlock")
# name -> (bytes, the entry the row attacks, the key whose removal makes it safe)
CASES = {
    "Sequential: a function in _modules": (sequential(odict([(t("0"), FUNCTION)])), SEQ, "called_state_values"),
    "Sequential: a class in _modules": (sequential(odict([(t("0"), CLASS)])), SEQ, "called_state_values"),
    "Sequential: a call's result in _modules": (sequential(odict([(t("0"), CALL_RESULT)])), SEQ,
                                                "called_state_values"),
    "Sequential: an instance of an untagged class": (sequential(odict([(t("0"), UNTAGGED)])), SEQ,
                                                     "called_state_values"),
    "Sequential: a tagged class instantiated by copyreg._reconstructor": (
        sequential(odict([(t("0"), RECONSTRUCTED)])), SEQ, "called_state_values"),
    "Sequential: _modules a plain dict holding a function": (sequential(b"}(" + t("0") + FUNCTION + b"u"), SEQ,
                                                             "called_state_values"),
    # OrderedDict([('0', f)]): items given as an argument, not SETITEMS.
    "Sequential: _modules made by OrderedDict(items)": (
        sequential(g("collections", "OrderedDict") + b"](" + t("0") + FUNCTION + b"la\x85R"), SEQ,
        "called_state_values"),
    # The benign table memoised, the BUILD done, then SETITEMS through the memo.
    "Sequential: a function added to _modules after BUILD": (
        pickle(g(NN + ".container", "Sequential") + b")\x81" + b"}(" + b"".join(t(k) + v for k, v in HOOKS) +
               t("_modules") + odict([(t("0"), RELU)]) + b"\x94" + b"ub" + b"h\x00(" + t("1") + FUNCTION + b"u0"),
        SEQ, "called_state_values"),
    # Without _modules in __dict__, self._modules is Module.__getattr__('_modules'): _parameters['_modules'].
    "Sequential: _modules absent, found in _parameters": (
        pickle(module(NN + ".container", "Sequential",
                      [("_parameters", odict([(t("_modules"), odict([(t("0"), FUNCTION)]))]))])),
        SEQ, "called_state_values"),
    "BasicBlock: conv1 in __dict__ a function": (basic_block([("conv1", FUNCTION)]), BLOCK, "called_state_keys"),
    "BasicBlock: downsample a function": (basic_block([("downsample", FUNCTION)]), BLOCK, "called_state_keys"),
    "BasicBlock: _modules['conv1'] a class": (
        basic_block(modules=[(t("conv1"), CLASS)] + [(t(n), RELU) for n in BLOCK_CALLS[1:]]), BLOCK,
        "called_state_keys"),
    # Module.__getattr__ reads _parameters before _modules.
    "BasicBlock: _parameters['conv1'] a function": (
        basic_block([("_parameters", odict([(t("conv1"), FUNCTION)]))]), BLOCK, "attribute_tables"),
    "BasicBlock: _buffers['relu'] a function": (
        basic_block([("_buffers", odict([(t("relu"), FUNCTION)]))]), BLOCK, "attribute_tables"),
    "BasicBlock: a key computed while loading in _modules": (
        basic_block(modules=[(COMPUTED_KEY, FUNCTION)] + [(t(n), RELU) for n in BLOCK_CALLS]), BLOCK,
        "called_state_keys"),
    "BasicBlock: a table made by OrderedDict(items)": (
        basic_block([("_buffers", g("collections", "OrderedDict") + b"](" + t("relu") + FUNCTION + b"la\x85R")]),
        BLOCK, "attribute_tables"),
}
BENIGN = {
    "Sequential of ReLUs": sequential(odict([(t("0"), RELU), (t("1"), RELU)])),
    "BasicBlock of ReLUs, downsample None": basic_block(),
}


def without_key(policy_text, entry, key):
    """The policy with `key` dropped from the [[allow]] entry for entry (module, name)
    (with called_state_keys, attribute_tables too: the policy refuses tables without keys)."""
    module, name = entry
    keys = [key] + (["attribute_tables"] if key == "called_state_keys" else [])  # the tables need the keys
    head = f'\n[[allow]]\nmodule = "{module}"\nname = "{name}"\n'
    at = policy_text.index(head)
    end = policy_text.find("\n[[allow]]", at + 1)
    end = len(policy_text) if end < 0 else end
    block = re.sub(rf"^({'|'.join(keys)}) = .*\n", "", policy_text[at:end], flags=re.M)
    assert block != policy_text[at:end], f"{module}.{name} has no {key}"
    return policy_text[:at] + block + policy_text[end:]


def verdict(pickleguard, policy, path):
    r = subprocess.run([pickleguard, "scan", "--policy", str(policy), str(path)], capture_output=True, text=True)
    return r.stdout.split()[0] if r.stdout.split() else f"error {r.returncode}: {r.stderr[:200]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    args = ap.parse_args()
    policy = ROOT / "policies" / "torchvision.toml"
    text = policy.read_text()
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for i, (name, (data, entry, key)) in enumerate(CASES.items()):
            f = tmp / f"case{i}.pkl"
            f.write_bytes(data)
            v = verdict(args.pickleguard, policy, f)
            loose = tmp / f"without{i}.toml"
            loose.write_text(without_key(text, entry, key))
            w = verdict(args.pickleguard, loose, f)
            print(f"{name:70s} {v:8s} (without {entry[1]}'s {key}: {w})")
            if v != "unsafe":
                errors.append(f"{name}: {v}, expected unsafe")
            if w != "safe":
                errors.append(f"{name}: {w} without {entry[1]}'s {key}, expected safe (the row must test that key)")
        for i, (name, data) in enumerate(BENIGN.items()):
            f = tmp / f"benign{i}.pkl"
            f.write_bytes(data)
            v = verdict(args.pickleguard, policy, f)
            print(f"{name:70s} {v}")
            if v != "safe":
                errors.append(f"{name}: {v}, expected safe")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
