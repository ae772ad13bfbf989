#!/usr/bin/python3
"""Byte-built numpy.random BUILD states that numpy's Cython state setters would trust.

    random_state_attacks.py --pickleguard build/tools/pickleguard

numpy 1.24's bit generator `state` setters store what the dict holds without
checking it: MT19937 keeps `pos`, the index of its next key word, and Philox
keeps `buffer_pos`, the index into its 4-word buffer, so 2**30 or a negative
one is read and written out of bounds on the first draw (crash, checked by a
red-team pass calling __setstate__ directly on a fresh object in a
subprocess). Generator.__setstate__ and RandomState.set_state hand the state
to them. SeedSequence's Cython state sets pool_size, and spawn() then mixes
pool_size words into each other (10**8: minutes). The entries say so with
`state = "numpy-bit-generator"`, "numpy-random-state" and
"numpy-seed-sequence" (docs/policies.md, "State that native code trusts").
Each attack is built byte by byte and never loaded; every one must be unsafe
under each policy that includes numpy. The controls are what numpy itself
writes (pickle.dumps of real objects by /usr/bin/python3; nothing is loaded).
"""
import argparse
import pathlib
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from ndarray_state_attacks import (FALSE, MEMO, NONE, ROOT, TRUE, dct, dstate, dtype, g, get, i, lst, p4, raw,
                                   reconstruct, text, tup, verdicts)

RP = "numpy.random._pickle"


def long(n):
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b  # LONG1


def words(n, code="u4"):
    """An ndarray of n uint32 (or uint64) words, as numpy writes it."""
    size = 4 if code == "u4" else 8
    return reconstruct() + tup(i(1), tup(i(n)), dtype(code, dstate("<", 0)), FALSE, raw(b"\x00" * (n * size))) + b"b"


def gen(name=text("MT19937")):
    return g(RP, "__generator_ctor") + tup(name, g(RP, "__bit_generator_ctor")) + b"R"


def rstate():
    return g(RP, "__randomstate_ctor") + tup(text("MT19937"), g(RP, "__bit_generator_ctor")) + b"R"


def mt(pos=i(0), key=None, extra=()):
    return dct((text("bit_generator"), text("MT19937")),
               (text("state"), dct((text("key"), words(624) if key is None else key), (text("pos"), pos))), *extra)


def philox(buffer_pos=i(4)):
    return dct((text("bit_generator"), text("Philox")),
               (text("state"), dct((text("counter"), words(4, "u8")), (text("key"), words(2, "u8")))),
               (text("buffer"), words(4, "u8")), (text("buffer_pos"), buffer_pos),
               (text("has_uint32"), i(0)), (text("uinteger"), i(0)))


def pcg(state=i(1), inc=i(1)):
    return dct((text("bit_generator"), text("PCG64")), (text("state"), dct((text("state"), state), (text("inc"), inc))),
               (text("has_uint32"), i(0)), (text("uinteger"), i(0)))


def seedseq(pool_size=4, pool_words=4, arg_state=NONE, build=True):
    state = tup(i(9), i(0), words(pool_words), i(pool_size), tup())
    call = g("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence") + tup(
        g("numpy.random.bit_generator", "SeedSequence"), i(260583498), state if arg_state is None else arg_state) + b"R"
    return call + (state + b"b" if build else b"")


# (technique, body)
ATTACKS = [
    # (crash) Generator(MT19937), pos 2**30: the key index the first draw reads and writes
    ("mt19937_pos_2p30", gen() + mt(i(2**30)) + b"b"),
    # (crash) the same, negative
    ("mt19937_pos_negative", gen() + mt(i(-2**30)) + b"b"),
    # one past the 624 numpy's own states hold (624 means "regenerate on the next draw")
    ("mt19937_pos_625", gen() + mt(i(625)) + b"b"),
    # (crash) RandomState.set_state hands the same dict to MT19937's setter
    ("randomstate_mt19937_pos_2p30",
     rstate() + mt(i(2**30), extra=[(text("has_gauss"), i(0)), (text("gauss"), b"G" + struct.pack(">d", 0.0))]) + b"b"),
    # (crash) a bare bit generator's BUILD
    ("bit_generator_mt19937_pos_2p30", g(RP, "__bit_generator_ctor") + tup(text("MT19937")) + b"R" + mt(i(2**30)) + b"b"),
    # (crash) Philox's buffer index, negative
    ("philox_buffer_pos_negative", gen(text("Philox")) + philox(i(-2**31)) + b"b"),
    # the inner state dict has no pos at the BUILD (the setter reads what it holds then) and gets one through
    # the memo after it: the graph holds the dict as the stream ends
    ("mt19937_state_dict_filled_after_build",
     gen() + dct((text("bit_generator"), text("MT19937")),
                 (text("state"), dct((text("key"), words(624))) + MEMO)) + b"b"
     + get(0) + text("pos") + i(0) + b"s" + b"0"),
    # pos set twice in one dict: the setter reads the last, 2**30
    ("mt19937_pos_set_twice", gen() + dct((text("bit_generator"), text("MT19937")),
                                          (text("state"), dct((text("key"), words(624)), (text("pos"), i(0)),
                                                              (text("pos"), i(2**30))))) + b"b"),
    # a key of 4 words: MT19937's setter reads key[0..623]
    ("mt19937_key_too_short", gen() + mt(key=words(4)) + b"b"),
    # a key that is a tuple, not an ndarray the judge read whole
    ("mt19937_key_not_an_ndarray", gen() + mt(key=tup(i(0))) + b"b"),
    # a bit generator whose layout the judge does not know
    ("unknown_bit_generator_name", gen(text("Evil")) + dct((text("bit_generator"), text("Evil")),
                                                           (text("state"), dct())) + b"b"),
    # RandomState's legacy tuple state: numpy writes a dict
    ("randomstate_legacy_tuple_state",
     rstate() + tup(text("MT19937"), words(624), i(2**30), i(0), b"G" + struct.pack(">d", 0.0)) + b"b"),
    # a key numpy never writes next to the others
    ("mt19937_extra_key", gen() + mt(extra=[(text("pos2"), i(0))]) + b"b"),
    # PCG64's state is a 128-bit int
    ("pcg64_state_past_2p128", gen(text("PCG64")) + pcg(state=long(2**130)) + b"b"),
    # (cost) SeedSequence with pool_size 10**8 over a 1-word pool: spawn(1) runs for minutes
    ("seed_sequence_pool_size_1e8", seedseq(10**8, 1)),
    # a pool shorter than pool_size
    ("seed_sequence_pool_shorter_than_pool_size", seedseq(8, 4)),
    # the state in the helper's third argument: set with no BUILD for the checker to read
    ("seed_sequence_state_in_argument", seedseq(arg_state=None, build=False)),
]

REAL = """
import pickle, sys, numpy as np
objs = {
    "default_rng": np.random.default_rng(0),
    "randomstate": np.random.RandomState(0),
    "randomstate_pcg64": np.random.RandomState(np.random.PCG64(5)),
    "philox": np.random.Generator(np.random.Philox(1)),
    "pcg64dxsm": np.random.Generator(np.random.PCG64DXSM(2)),
    "sfc64": np.random.Generator(np.random.SFC64(3)),
    "mt19937": np.random.Generator(np.random.MT19937(4)),
    "bare_pcg64": np.random.PCG64(5),
    "seed_sequence": np.random.SeedSequence(9),
}
used = np.random.default_rng(7); used.random(3); used.bit_generator.random_raw(1)
objs["used_pcg64_has_uint32"] = used
rs = np.random.RandomState(1); rs.standard_normal(); objs["randomstate_has_gauss"] = rs
ph = np.random.Generator(np.random.Philox(1)); ph.integers(0, 10, 3, dtype=np.uint32); objs["philox_used"] = ph
for name, o in objs.items():
    for proto in (2, 4):
        open(f"{sys.argv[1]}/real_{name}_p{proto}.pkl", "wb").write(pickle.dumps(o, protocol=proto))
"""
POLICIES = ["numpy", "numpy-data", "default", "pandas", "sklearn", "statsmodels"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for name, body in ATTACKS:
            (tmp / f"{name}.pkl").write_bytes(p4(body))
        subprocess.run(["/usr/bin/python3", "-c", REAL, str(tmp)], check=True)  # dumps only
        controls = sorted(p.name for p in tmp.glob("real_*.pkl"))
        cases = [(f"{n}.pkl", "unsafe") for n, _ in ATTACKS] + [(n, "safe") for n in controls]
        for policy in POLICIES:
            path = ROOT / "policies" / f"{policy}.toml"
            v = verdicts(args.pickleguard, str(path), [tmp / n for n, _ in cases])
            for n, want in cases:
                got, rules = v[n]
                if args.verbose and policy == "numpy":
                    print(f"{n}: {got} {sorted(set(rules))}")
                if (got == "safe") != (want == "safe"):
                    errors.append(f"{n} under {policy}: {got}, expected {want} ({sorted(set(rules))})")
                # each attack must be refused by the state checkers, not only by something else in it
                if want == "unsafe" and "unsafe-native-state" not in rules and "argument-not-allowed" not in rules:
                    errors.append(f"{n} under {policy}: no unsafe-native-state finding ({sorted(set(rules))})")
        print(f"{len(ATTACKS)} attacks and {len(controls)} controls (pickles numpy writes) on numpy.random states, "
              f"under {len(POLICIES)} policies")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
