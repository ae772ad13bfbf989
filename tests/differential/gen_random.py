"""Seeded generator of random nested Python data, pickled with every protocol.

Each generated value is pickled with protocols 0-5 by the C pickler
(``pickle.dumps``), and some values additionally with the pure-Python pickler
and/or passed through ``pickletools.optimize`` (which drops unused PUTs and
re-frames), because those produce differently shaped but equivalent streams.
The expected JSON is rendered from the *original* value, so dict order and
sharing are exactly what the stream records.

Determinism: set iteration order (and so the bytes of every pickle that
contains a set) depends on element hashes.  str/bytes hashes are fixed by
running under PYTHONHASHSEED=0 (``ensure_fixed_hash_seed`` re-executes the
interpreter if needed); hash(None) and hash(nan) are address-based in 3.11,
so None and nan are never put inside sets, frozensets or set-element tuples.

Run directly for a self-check:  /usr/bin/python3 gen_random.py [--seed N] [--count N]
"""

from __future__ import annotations

import argparse
import io
import math
import os
import pickle
import pickletools
import random
import sys
import time

import opscan
import pgjson
from cases import Case

PROTOCOLS = range(0, pickle.HIGHEST_PROTOCOL + 1)
MAX_DEPTH = 4


def ensure_fixed_hash_seed() -> None:
    """Re-exec under PYTHONHASHSEED=0 so set order, hence pickle bytes, is reproducible."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


# --- scalar pools: values chosen to hit opcode and JSON-encoding boundaries --

def _int_pool() -> list[int]:
    base = [0, 1, -1, 2, 127, 128, 255, 256, 257, 65535, 65536, 65537,
            2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, -2**31, -2**31 - 1,
            2**32 - 1, 2**32, 2**53 - 1, 2**53, 2**53 + 1, -2**53, -2**53 - 1,
            2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64 - 1, 2**64, -2**64,
            10**18, -10**18, 2**255, -2**255, 2**2048]
    return base


def _float_pool() -> list[float]:
    return [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1.5e-07, 1e16, 1e22, 1e300, -1e300,
            1.7976931348623157e308, 5e-324, -5e-324, 2.2250738585072014e-308,
            2.225073858507201e-308, 1e-300, 0.1, 1 / 3, 123456789.125,
            float(2**53), float(2**63), math.pi, math.inf, -math.inf, math.nan]


_STR_ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz",
    "ABCXYZ0123456789 _-",
    "'\"\\\n\r\t\x00\x1a",            # quoting, escapes, NUL, Ctrl-Z (Windows EOF)
    "\x7f\x80\xa0\xe9\xff",            # latin-1 range
    "\u0100\u20ac\u4e2d\ufeff\uffff",  # BMP
    "\U0001f600\U0010ffff\U00010000",  # astral
    "\ud800\udbff\udc00\udfff",        # lone surrogates (BINUNICODE uses surrogatepass)
    "\\u0041\\U00000041\\x41",         # text that looks like escapes
]


class ValueGen:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.ints = _int_pool()
        self.floats = _float_pool()
        # Containers already built, reused to create shared references.
        self.shared_mutables: list = []
        self.shared_hashables: list = []

    # -- scalars --
    def int_(self) -> int:
        r = self.rng.random()
        if r < 0.4:
            return self.rng.randint(-5, 300)
        if r < 0.8:
            return self.rng.choice(self.ints)
        if r < 0.9:
            # 200+ digit integers (LONG text / LONG1 / LONG4 territory)
            v = self.rng.randrange(10**200, 10**260)
            return v if self.rng.random() < 0.5 else -v
        return self.rng.randint(-2**70, 2**70)

    def float_(self, for_set=False) -> float:
        r = self.rng.random()
        if r < 0.6:
            f = self.rng.choice(self.floats)
        elif r < 0.8:
            f = self.rng.uniform(-1e6, 1e6)
        else:
            f = math.ldexp(self.rng.random(), self.rng.randint(-1074, 1023))
        if for_set and math.isnan(f):
            f = 0.25
        return f

    def str_(self) -> str:
        n = self.rng.choice([0, 0, 1, 2, 5, 10, 30])
        alpha = self.rng.choice(_STR_ALPHABETS)
        return "".join(self.rng.choice(alpha) for _ in range(n))

    def bytes_(self) -> bytes:
        n = self.rng.choice([0, 1, 3, 10, 40])
        if self.rng.random() < 0.5:
            return bytes(self.rng.randrange(256) for _ in range(n))
        return bytes(self.rng.choice(b"ab\n\\'\"") for _ in range(n))

    def scalar(self, for_set=False, hashable=False):
        kind = self.rng.choice(["none", "bool", "int", "int", "float", "str", "str",
                                "bytes", "bytearray", "complex"])
        if kind == "none":
            return 7 if for_set else None
        if kind == "bool":
            return self.rng.random() < 0.5
        if kind == "int":
            return self.int_()
        if kind == "float":
            return self.float_(for_set)
        if kind == "str":
            return self.str_()
        if kind == "bytes":
            return self.bytes_()
        if kind == "bytearray":
            if for_set or hashable:
                return self.bytes_()
            ba = bytearray(self.bytes_())
            self.shared_mutables.append(ba)
            return ba
        c = complex(self.float_(for_set), self.float_(for_set))
        return c

    # -- hashables (dict keys, set elements) --
    def hashable(self, depth: int, for_set: bool):
        r = self.rng.random()
        if self.shared_hashables and r < 0.08:
            h = self.rng.choice(self.shared_hashables)
            if not for_set or _set_safe(h):
                return h
        if depth >= MAX_DEPTH or r < 0.75:
            return self.scalar(for_set=for_set, hashable=True)
        if r < 0.9:
            t = tuple(self.hashable(depth + 1, for_set) for _ in range(self.rng.randint(0, 4)))
        else:
            t = frozenset(self.hashable(depth + 1, True) for _ in range(self.rng.randint(0, 4)))
        self.shared_hashables.append(t)
        return t

    # -- general values --
    def value(self, depth: int = 0):
        r = self.rng.random()
        if depth >= MAX_DEPTH or (depth > 0 and r < 0.45):
            return self.scalar()
        if self.shared_mutables and r < 0.55:
            # The same container object placed again: a memo GET in the stream.
            return self.rng.choice(self.shared_mutables)
        kind = self.rng.choice(["list", "list", "tuple", "tuple", "dict", "dict",
                                "set", "frozenset", "selfref"])
        n = self.rng.choice([0, 1, 2, 3, 4, 5, 6, 8])
        if kind == "list":
            v = [self.value(depth + 1) for _ in range(n)]
            self.shared_mutables.append(v)
        elif kind == "tuple":
            # sizes 0-3 hit EMPTY_TUPLE/TUPLE1/2/3, larger ones MARK..TUPLE
            v = tuple(self.value(depth + 1) for _ in range(min(n, 5)))
        elif kind == "dict":
            v = {self.hashable(depth + 1, False): self.value(depth + 1) for _ in range(n)}
            self.shared_mutables.append(v)
        elif kind == "set":
            v = {self.hashable(depth + 1, True) for _ in range(n)}
            self.shared_mutables.append(v)
        elif kind == "frozenset":
            v = frozenset(self.hashable(depth + 1, True) for _ in range(n))
        else:
            v = self.selfref(depth)
        return v

    def selfref(self, depth: int):
        """Cyclic structures, including ones the pickler must close with
        POP/POP_MARK + GET (a tuple reachable from inside itself)."""
        choice = self.rng.randrange(4)
        if choice == 0:
            lst = [self.scalar()]
            lst.append(lst)
            self.shared_mutables.append(lst)
            return lst
        if choice == 1:
            d = {"x": self.scalar()}
            d["self"] = d
            self.shared_mutables.append(d)
            return d
        if choice == 2:
            inner: list = []
            t = (inner, self.scalar(), inner)
            inner.append(t)
            return t
        inner2: list = [1]
        t = (inner2,)
        inner2.append(t)
        return [t, inner2, t]


def _set_safe(h) -> bool:
    """True if ``h`` has no address-based hash inside (None, nan)."""
    if h is None:
        return False
    if isinstance(h, float):
        return not math.isnan(h)
    if isinstance(h, complex):
        return not (math.isnan(h.real) or math.isnan(h.imag))
    if isinstance(h, (tuple, frozenset)):
        return all(_set_safe(x) for x in h)
    return True


def _big_values() -> list[tuple[str, object]]:
    """A few fixed large values: batching (>1000 items per APPENDS/SETITEMS/
    ADDITEMS), LONG_BINPUT (>256 memo entries), BINUNICODE/BINBYTES (>255
    bytes) and multiple frames plus out-of-frame payloads (>64 KiB)."""
    many = list(range(1200))
    strs = [f"s{i}" for i in range(300)]
    return [
        ("big_list_1200", many),
        ("big_dict_1200", {i: -i for i in range(1200)}),
        ("big_set_1200", set(range(1200))),
        ("big_frozenset_1200", frozenset(range(1200))),
        ("memo_300_strs", [strs, strs]),
        ("long_str_300", "x" * 300 + "\u20ac"),
        ("long_bytes_300", bytes(range(256)) + b"z" * 44),
        ("frames_70k", [b"a" * 70000, "b" * 70000, bytearray(b"c" * 70000), list(range(20000))]),
    ]


def _pure_python_dumps(value, protocol: int) -> bytes:
    # pickle._Pickler is the pure-Python pickler: different framing/memo
    # choices than the C one, same values.
    buf = io.BytesIO()
    pickle._Pickler(buf, protocol).dump(value)
    return buf.getvalue()


def generate_values(seed: int, count: int) -> list[tuple[str, object]]:
    rng = random.Random(seed)
    gen = ValueGen(rng)
    values = []
    for i in range(count):
        if i % 50 == 0:
            gen.shared_mutables.clear()   # keep shared pools local-ish
            gen.shared_hashables.clear()
        values.append((f"r{seed}_{i:04d}", gen.value(0)))
    values += _big_values()
    return values


def generate(seed: int = 1, count: int = 400, selfcheck: bool = False) -> list[Case]:
    """Return the random cases: every value pickled with every protocol."""
    rng = random.Random(seed ^ 0x5EED)
    cases: list[Case] = []
    for name, value in generate_values(seed, count):
        expected = pgjson.expected_canonical(value)
        variants = [(f"{name}_p{p}", p, pickle.dumps(value, protocol=p)) for p in PROTOCOLS]
        if rng.random() < 0.25:
            p = rng.choice(PROTOCOLS)
            variants.append((f"{name}_p{p}_py", p, _pure_python_dumps(value, p)))
        if rng.random() < 0.25:
            p = rng.choice(PROTOCOLS)
            variants.append((f"{name}_p{p}_opt", p,
                             pickletools.optimize(pickle.dumps(value, protocol=p))))
        for case_name, proto, data in variants:
            if selfcheck:
                _selfcheck(case_name, data, expected)
            cases.append(Case(case_name, data, "random", proto, True, expected))
    return cases


def _selfcheck(name: str, data: bytes, expected: str) -> None:
    """Our own pickle of our own value: loading it with the real pickle.loads
    is allowed, and must round-trip through the converter unchanged.  Also
    checks the opcode scanner against pickletools on valid streams."""
    got = pgjson.expected_canonical(pickle.loads(data))
    if got != expected:
        raise AssertionError(f"{name}: converter round-trip differs\n  {expected[:300]}\n  {got[:300]}")
    sc = opscan.scan(data)
    ref = [(pos, op.name) for op, _arg, pos in pickletools.genops(data)]
    mine = [(op.pos, op.name) for op in sc.ops]
    if sc.end != "stop" or mine != ref:
        raise AssertionError(f"{name}: opscan disagrees with pickletools.genops")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=1000)
    args = ap.parse_args()
    ensure_fixed_hash_seed()
    t0 = time.time()
    cases = generate(args.seed, args.count, selfcheck=True)
    ops = set()
    for c in cases:
        ops |= opscan.scan(c.data).names
    print(f"{len(cases)} random cases, self-check passed in {time.time() - t0:.1f}s")
    print("opcodes covered:", " ".join(sorted(ops)))
    print("opcodes not covered:", " ".join(sorted(opscan.ALL_OPCODE_NAMES - ops)))


if __name__ == "__main__":
    main()
