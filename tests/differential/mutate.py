"""Deterministic mutants of random pickles, judged by the stub unpickler.

From a subset of the random pickles we derive every truncation (short
pickles; a sample for longer ones), single-byte replacements, insertions and
deletions.  Only accept/reject is compared (never values, never offsets), and
pickleguard may reject a CPython-accepted mutant with a "limit:" reason.

Mutants whose CPython verdict depends on the environment rather than on the
bytes are skipped, with a count per reason:
  * NEXT_BUFFER (depends on the out-of-band buffers passed to loads),
  * EXT1/2/4 (depends on copyreg's extension registry),
  * READONLY_BUFFER applied where a symbolic object may be on the stack
    (depends on whether the real class supports the buffer protocol),
  * NEWOBJ/NEWOBJ_EX on a symbolic object other than a global (is it a
    class? depends on the real callable),
  * memo indices large enough that _pickle.c would allocate gigabytes,
  * MemoryError / RecursionError raised by CPython.
A declared length running past the end of the input (or a negative one) is a
certain rejection: such mutants are judged "reject" without running CPython,
because _pickle.c allocates BINBYTES/BYTEARRAY8 buffers before reading them.
"""

from __future__ import annotations

import collections
import random
import re

import opscan
from cases import Case, safe_name
from edge_cases import MAX_SAFE_MEMO_INDEX
from stub_unpickler import stub_load

# Bytes worth inserting: structural opcodes that shift stack/mark/memo state.
INTERESTING = b"(0.12aestu\x85\x86\x87\x94hqgp]})N\x88K\x8c\x93R\x81b\x95\x80"

PER_BASE = 80
PER_EDGE_BASE = 30

ENV_DEPENDENT_OPS = frozenset({"NEXT_BUFFER"}) | opscan.EXT_OPS


def _mutants_of(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    n = len(data)
    out = []
    cut_points = range(n) if n <= 120 else sorted(rng.sample(range(n), 40))
    for i in cut_points:
        out.append((f"trunc{i}", data[:i]))
    positions = range(n) if n <= 60 else sorted(rng.sample(range(n), 60))
    for i in positions:
        b = rng.randrange(256)
        if b == data[i]:
            b ^= 0xFF
        out.append((f"set{i}_{b:02x}", data[:i] + bytes([b]) + data[i + 1:]))
        if rng.random() < 0.3:
            b2 = data[i] ^ 0x80
            out.append((f"set{i}_{b2:02x}", data[:i] + bytes([b2]) + data[i + 1:]))
    for _ in range(min(20, n + 1)):
        i = rng.randrange(n + 1)
        b = rng.choice(INTERESTING) if rng.random() < 0.7 else rng.randrange(256)
        out.append((f"ins{i}_{b:02x}", data[:i] + bytes([b]) + data[i:]))
    for _ in range(min(20, n)):
        i = rng.randrange(n)
        out.append((f"del{i}", data[:i] + data[i + 1:]))
    return out


def judge(name: str, data: bytes, skipped: collections.Counter) -> Case | None:
    """CPython's verdict on one mutant, or None (and a skip reason) if it has none."""
    sc = opscan.scan(data)
    names = sc.names
    if names & ENV_DEPENDENT_OPS:
        skipped["NEXT_BUFFER/EXT opcode"] += 1
        return None
    if "READONLY_BUFFER" in names and names & opscan.SYMBOLIC_OPS:
        skipped["READONLY_BUFFER with symbolic objects"] += 1
        return None
    if sc.max_put_index is not None and sc.max_put_index > MAX_SAFE_MEMO_INDEX:
        skipped["huge memo index"] += 1
        return None
    case = Case(name, data, "mutant", None, False, allow_limit=True)
    if sc.end in ("overlong", "negative"):
        case.cpython_reason = f"(not run: declared length {sc.end})"
        return case
    result = stub_load(data)
    if isinstance(result.exc, (MemoryError, RecursionError)):
        skipped[type(result.exc).__name__] += 1
        return None
    if not result.ok and _ARGS_NOT_TUPLE.search(result.reason) and names & opscan.SYMBOLIC_OPS:
        # REDUCE whose argument list is what a stubbed call returned: a real
        # callable might have returned a tuple, so CPython's verdict depends
        # on the environment (pickleguard keeps such arguments symbolic).
        skipped["REDUCE arguments made by a call"] += 1
        return None
    if not result.ok and _NEWOBJ_ARGS_FROM_GLOBAL.search(result.reason):
        # NEWOBJ(_EX) whose args (or kwargs) are a stub: a real global or
        # call result may be a tuple (or dict) subclass, so CPython's verdict
        # depends on the environment (pickleguard keeps them symbolic).
        skipped["NEWOBJ arguments that are a global or a call result"] += 1
        return None
    if not result.ok and _NOT_A_TYPE.search(result.reason):
        # NEWOBJ on a symbolic object that is not a GLOBAL: whether it is a
        # class depends on what the real callable returns.
        skipped["NEWOBJ on a symbolic non-class"] += 1
        return None
    case.expect_ok = result.ok
    case.cpython_reason = result.reason
    return case


_ARGS_NOT_TUPLE = re.compile(r"argument list must be a tuple")
_NEWOBJ_ARGS_FROM_GLOBAL = re.compile(r"NEWOBJ(_EX)? (args|kwargs) argument must be a (tuple|dict), not Stub")
_NOT_A_TYPE = re.compile(r"NEWOBJ(_EX)? class argument must be a type, not Stub")


def generate(random_cases: list[Case], seed: int, max_mutants: int,
             edge: list[Case] = ()) -> tuple[list[Case], collections.Counter]:
    """Mutants of the random pickles (up to ``max_mutants``), plus a few per
    edge case: those sit next to decision boundaries, so a byte away from
    them is where verdicts flip."""
    rng = random.Random(seed * 7919 + 17)
    bases = [c for c in random_cases if len(c.data) <= 300]
    # Spread the budget over many bases; short ones yield the most mutants.
    rng.shuffle(bases)
    seen = {c.data for c in random_cases} | {c.data for c in edge}
    cases: list[Case] = []
    skipped: collections.Counter = collections.Counter()
    budget = max_mutants
    for base in list(bases) + [c for c in edge if len(c.data) <= 300]:
        per_base = PER_EDGE_BASE if base.origin == "edge" else PER_BASE
        if base.origin != "edge" and len(cases) >= budget:
            continue
        variants = _mutants_of(base.data, rng)
        if len(variants) > per_base:
            # Keep each base's share small so the budget covers many shapes.
            variants = [variants[i] for i in sorted(rng.sample(range(len(variants)), per_base))]
        for tag, data in variants:
            if data in seen:
                continue
            seen.add(data)
            case = judge(safe_name(f"mut_{base.name}_{tag}"), data, skipped)
            if case is not None:
                case.protocol = base.protocol
                case.note = f"mutant of {base.name}"
                cases.append(case)
    return cases, skipped


if __name__ == "__main__":
    import time

    import gen_random
    gen_random.ensure_fixed_hash_seed()
    t0 = time.time()
    import edge_cases
    rand = gen_random.generate(1, 400)
    muts, skipped = generate(rand, 1, 10000, edge_cases.build())
    acc = sum(c.expect_ok for c in muts)
    print(f"{len(muts)} mutants ({acc} accepted by CPython) in {time.time() - t0:.1f}s; skipped: {dict(skipped)}")
