#!/usr/bin/python3
"""Every malicious test input stays unsafe under every shipped policy.

    attacks_all_policies.py --pickleguard build/tools/pickleguard

Policies: every policies/*.toml (a glob, so a new policy file is checked the
day it is added), scanned by path. Inputs:

  * examples/attacks/* (made by make_attacks.py, byte by byte);
  * byte-built here, for every knowledge-base global with an exact name of
    severity medium or above: a call through REDUCE (protocol 4
    STACK_GLOBAL, protocol 0 GLOBAL), INST, OBJ, NEWOBJ and NEWOBJ_EX; and
    a bare reference of it as the loaded value;
  * byte-built bypasses of each policy's own entries: for the first allowed
    classes of each policy, dotted names that reach code through them
    (`Cls.__init__.__globals__`, `Cls.__reduce_ex__`, `Cls.mro`), the class
    instantiated and then BUILD with a dict setting `__setstate__`, and
    `builtins.getattr(Cls, '__init__')` called;
  * for a generated policy, a call and a reference of every class and
    function it refused (its "# refused" comments).

None may be "safe": a safe verdict is a failure naming the policy and input.
A policy file that does not load fails the test too.
"""
import pathlib
import sys
import tempfile
import tomllib
from harness import ROOT, arguments, report, scan_verdicts, stack_global, text

REFUSE_FROM = {"medium", "high", "critical"}


def call_p4(module, name):
    return b"\x80\x04" + stack_global(module, name) + text("x") + b"\x85R."


def call_p0(module, name):
    return f"c{module}\n{name}\n(S'x'\ntR.".encode()


def inst_p0(module, name):
    return f"(S'x'\ni{module}\n{name}\n.".encode()


def obj_p1(module, name):
    return f"(c{module}\n{name}\nS'x'\no.".encode()


def newobj_p2(module, name):
    return b"\x80\x02" + f"c{module}\n{name}\nS'x'\n".encode() + b"\x85\x81."


def newobj_ex_p4(module, name):
    return b"\x80\x04" + stack_global(module, name) + text("x") + b"\x85}\x92."


def reference_p4(module, name):
    return b"\x80\x04" + stack_global(module, name) + b"."


def build_setstate(module, name):
    """NEWOBJ Cls(), then BUILD {'__setstate__': builtins.eval}: a stored callable the loader would call."""
    return (b"\x80\x04" + stack_global(module, name) + b")\x81}" + text("__setstate__") +
            stack_global("builtins", "eval") + b"s" + b"b.")


def getattr_call(module, name):
    """builtins.getattr(Cls, '__init__')(x): a call of a value computed while loading."""
    return (b"\x80\x04" + stack_global("builtins", "getattr") + stack_global(module, name) + text("__init__") +
            b"\x86R" + text("x") + b"\x85R.")


def kb_inputs():
    kb = tomllib.loads((ROOT / "policies" / "knowledge" / "dangerous.toml").read_text())["global"]
    out = []
    for i, g in enumerate(kb):
        if "name" not in g or g.get("severity") not in REFUSE_FROM:
            continue
        m, n = g["module"], g["name"]
        out += [(f"kb{i}_call_p4", call_p4(m, n)), (f"kb{i}_newobj_ex", newobj_ex_p4(m, n)),
                (f"kb{i}_ref", reference_p4(m, n))]
        if "." not in n and "\n" not in m + n:  # text opcodes: one line each, no attribute path
            out += [(f"kb{i}_call_p0", call_p0(m, n)), (f"kb{i}_inst", inst_p0(m, n)),
                    (f"kb{i}_obj", obj_p1(m, n)), (f"kb{i}_newobj", newobj_p2(m, n))]
    return out


def allowed_classes(doc, limit=25):
    names = []
    for e in doc.get("allow", []):
        if "module" in e and "name" in e and "." not in e["name"] and e["name"][:1].isupper():
            names.append((e["module"], e["name"]))
    return names[:limit]


def policy_inputs(path):
    text_ = path.read_text()
    doc = tomllib.loads(text_)
    out = []
    for j, (m, n) in enumerate(allowed_classes(doc)):
        for k, dotted in enumerate((f"{n}.__init__.__globals__", f"{n}.__reduce_ex__", f"{n}.mro")):
            out += [(f"own{j}_{k}_call", call_p4(m, dotted)), (f"own{j}_{k}_ref", reference_p4(m, dotted))]
        out += [(f"own{j}_setstate", build_setstate(m, n)), (f"own{j}_getattr", getattr_call(m, n))]
    for j, line in enumerate(l for l in text_.splitlines() if l.startswith("# ") and ": " in l
                             and text_.find("# --- refused") < text_.find(l)):
        dotted = line[2:].split(": ", 1)[0]
        module, _, name = dotted.rpartition(".")
        if module:
            out += [(f"refused{j}_call", call_p4(module, name)), (f"refused{j}_ref", reference_p4(module, name))]
    return out


def main():
    args = arguments()
    policies = sorted((ROOT / "policies").glob("*.toml"))
    if len(policies) < 16:
        sys.exit(f"only {len(policies)} policies in policies/: the glob lost them")
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)

        def write(folder, items):
            folder.mkdir(parents=True, exist_ok=True)
            paths = []
            for name, data in items:
                (folder / f"{name}.pkl").write_bytes(data)
                paths.append(folder / f"{name}.pkl")
            return paths

        shared = sorted(p for p in (ROOT / "examples" / "attacks").iterdir()
                        if p.is_file() and p.suffix not in (".py", ".md"))
        shared += write(tmp / "kb", kb_inputs())
        total = 0
        for policy in policies:
            own = write(tmp / policy.stem, policy_inputs(policy))
            paths = shared + own
            v = scan_verdicts(args.pickleguard, policy, paths)
            # An "error" is not "safe", but it judges nothing: a worker the
            # machine's load timed out is read again, alone, before the
            # input is called broken.
            again = [pathlib.Path(p) for p, x in v.items() if x == "error"]
            if again:
                v.update(scan_verdicts(args.pickleguard, policy, again))
            missing = [p for p in paths if str(p) not in v]
            if missing:
                failures.append(f"{policy.name}: {len(missing)} inputs not in the report")
            through = sorted(p for p, x in v.items() if x == "safe")
            errs = sum(x == "error" for x in v.values())
            if errs:  # an input the reader refuses tests no policy: the input is broken
                failures.append(f"{policy.name}: {errs} inputs are errors, not judged, e.g. "
                                f"{next(pathlib.Path(p).name for p, x in v.items() if x == 'error')}")
            total += len(paths)
            print(f"{policy.name}: {len(paths) - len(through)}/{len(paths)} malicious inputs unsafe or refused"
                  f" ({len(own)} against its own entries, {errs} errors)")
            for p in through:
                failures.append(f"{policy.name} lets through {pathlib.Path(p).name}: "
                                f"{pathlib.Path(p).read_bytes()[:120]!r}")
        print(f"{total} scans of malicious inputs under {len(policies)} policies")
    return report(failures)


if __name__ == "__main__":
    sys.exit(main())
