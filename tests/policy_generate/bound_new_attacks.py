#!/usr/bin/python3
"""Byte-built attacks on the `C.__new__` entries policy generate writes for
classes with __getnewargs_ex__ (docs/policies.md, "Generated policies"), and
on the functools.partial entry that comes with them.

    bound_new_attacks.py --pickleguard build/tools/pickleguard

Below protocol 4, CPython pickles such an instance as
functools.partial(C.__new__, C, *args, **kwargs)() (reduce_newobj in
typeobject.c): sympy's Symbols with assumptions at protocol 2. The generated
sympy policy allows `sympy.core.symbol.Symbol.__new__` as a call whose
argument 0 must be Symbol itself (args pos 0 module/name), since its reading
(NEWOBJ of Symbol) holds only for that class: `cls._sanitize(...)` in it is
another class's method when cls is another class. Each row below must be
unsafe under policies/sympy.toml; the benign row (the fixture's own shape) safe.
Which check each row needs is in its name. Checked by removing each from the
judge: without the pin the first, second and fourth rows are safe (the third
is refused by invokes too: a keyword may bind the instantiated argument);
without the held check the list row; without the same-func check the
Dummy.__new__ swap row (the sympify swap is refused also because sympify is
no allowed reference, and by the pin).

Never unpickled: the bytes are written here and only scanned.
"""
import argparse
import pathlib
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def x(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b  # BINUNICODE


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"  # GLOBAL (protocol 2)


def stack_glob(module, name):
    return x(module) + x(name) + b"\x93"  # STACK_GLOBAL (protocol 4: a dotted name is walked)


SYMBOL = glob("sympy.core.symbol", "Symbol")
DUMMY = glob("sympy.core.symbol", "Dummy")  # allowed "new" too: not the class Symbol.__new__ was read for
# getattr(Symbol, '__new__'), as the pickler writes a dotted qualname below protocol 4.
SYMBOL_NEW = glob("__builtin__", "getattr") + SYMBOL + x("__new__") + b"\x86R"
ASSUMPTIONS = b"}(" + x("positive") + b"\x88" + b"u"


def tup(*items):
    return b"(" + b"".join(items) + b"t"


def partial_call(func, args, kwargs=ASSUMPTIONS, state_func=None, tail=b")R."):
    """partial(func), BUILD (func, args, kwargs, None), then called with no arguments."""
    return (b"\x80\x02" + glob("functools", "partial") + func + b"q\x01\x85R" +
            b"(" + (state_func if state_func is not None else b"h\x01") + args + kwargs + b"Nt" + b"b" + tail)


CASES = {
    # args pos 0 module/name: the class argument pinned to Symbol.
    "pin: another class allowed new as cls (Dummy)": partial_call(SYMBOL_NEW, tup(DUMMY, x("p"))),
    "pin: cls a str, not the class": partial_call(SYMBOL_NEW, tup(x("sympy.core.symbol.Symbol"), x("p"))),
    "pin: cls left out, given as a keyword": partial_call(
        SYMBOL_NEW, tup(), b"}(" + x("cls") + SYMBOL + x("name") + x("p") + b"u"),
    "pin: direct call with another class": b"\x80\x04" + stack_glob("sympy.core.symbol", "Symbol.__new__") +
    b"(" + stack_glob("sympy.core.symbol", "Dummy") + x("p") + b"tR.",
    # exact-partial: the partial entry admits only partials that are exact.
    "exact-partial: BUILD state swaps func for sympify": partial_call(
        SYMBOL_NEW, tup(x("__import__('os').system('id')")), b"N",
        state_func=glob("sympy.core.sympify", "sympify")),
    # Swapped for another allowed reference, Dummy.__new__, with arguments
    # Symbol.__new__'s pin accepts: Dummy.__new__(Symbol, 'p') is a reading
    # nobody made; only the same-func check refuses it.
    "exact-partial: BUILD state swaps func for Dummy.__new__, arguments fit the pin": partial_call(
        SYMBOL_NEW, tup(SYMBOL, x("p")), state_func=glob("__builtin__", "getattr") + DUMMY + x("__new__") + b"\x86R"),
    "exact-partial: the partial handed on in a list": partial_call(
        SYMBOL_NEW, tup(SYMBOL, x("p")), tail=b"q\x020]h\x02a."),
    "exact-partial: a partial of sympify (not allowed) with a string": partial_call(
        glob("sympy.core.sympify", "sympify"), tup(x("__import__('os').system('id')")), b"N"),
}
BENIGN = partial_call(SYMBOL_NEW, tup(SYMBOL, x("p")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    args = ap.parse_args()
    policy = ROOT / "policies" / "sympy.toml"
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
            print(f"{name:80s} {verdict}")
            if (verdict == "safe") != (want == "safe"):
                errors.append(f"{name}: {verdict}, expected {want}")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
