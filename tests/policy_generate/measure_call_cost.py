#!/usr/bin/python3
"""What one allowed call costs the loader, against the bytes it takes in a
pickle: the measurement behind the `cost` of policy entries and [limits]
max_call_cost (docs/policies.md, "A budget over all the calls of a pickle").

    /usr/bin/python3 measure_call_cost.py [--repeat N]

Every callable is called directly, on values built here, as the loader would
call it (REDUCE: f(*args); BUILD: obj.__setstate__(state)); nothing crafted
is ever unpickled. The only pickle.loads is of pickles this script makes with
pickle.dumps from the libraries' own objects (the baseline, and a real
repeated call for comparison).

"bytes/call" is the least a stream needs to repeat the call once its global
and arguments are memoised: BINGET callable, BINGET args, REDUCE (5 bytes),
LONG_BINGET past 256 memo entries (11 bytes), plus BINGET state and BUILD for
a BUILD. The amplification is the call's time over what loading that many
bytes of ordinary data costs (the baseline, per byte).
"""
import argparse
import datetime
import pickle
import re
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def per_call(fn, repeat):
    """Median microseconds of one fn() over `repeat` calls, in 5 rounds."""
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(repeat):
            fn()
        rounds.append((time.perf_counter() - t) / repeat * 1e6)
    return sorted(rounds)[2]


def baseline_ns_per_byte():
    """pickle.loads of ordinary data (ints, floats, short str in lists and dicts), per byte."""
    data = [{"id": i, "name": f"item{i}", "score": i * 0.5, "tags": ["a", "b"]} for i in range(20000)]
    blob = pickle.dumps(data, protocol=4)
    t = time.perf_counter()
    for _ in range(5):
        pickle.loads(blob)
    return (time.perf_counter() - t) / 5 / len(blob) * 1e9, len(blob)


def cases():
    """(policy, entry, what, bytes per call, fn) for the expensive allowed entries."""
    out = []

    # re._compile under nltk: the costliest pattern within the entry's bounds
    # (its note: (?i)(k) 21 times), and an ordinary one. re's cache (512
    # entries) is bypassed by calling the uncached compile, as a stream cycling
    # more than 512 distinct argument tuples does.
    import re._compiler as rc
    import re._parser as rp

    def uncached(p, flags):
        return lambda: rc.compile(p, flags)
    out.append(("nltk", "re._compile", "(k) x21, IGNORECASE (costliest in bounds)", 11,
                uncached("(k)" * 21, re.IGNORECASE)))
    out.append(("nltk", "re._compile", "^-?[0-9]+(\\.[0-9]+)?$", 11, uncached(r"^-?[0-9]+(\.[0-9]+)?$", 0)))
    out.append(("nltk", "re._compile", ".*ed$", 11, uncached(r".*ed$", 0)))
    del rp

    import numpy as np
    from numpy.core import multiarray as ma

    def reconstruct_build(dt, data):
        state = (1, (len(data) // dt.itemsize,), dt, False, data)

        def run():
            a = ma._reconstruct(np.ndarray, (0,), b"b")
            a.__setstate__(state)
        return run
    out.append(("numpy", "numpy.core.multiarray._reconstruct + BUILD", "empty float64 array", 8,
                reconstruct_build(np.dtype("f8"), b"")))
    out.append(("numpy", "numpy.core.multiarray._reconstruct + BUILD", "8 float64 (64 bytes of data)", 8 + 64,
                reconstruct_build(np.dtype("f8"), bytes(64))))
    obj_state = (1, (0,), np.dtype("O"), False, [])

    def reconstruct_obj():
        a = ma._reconstruct(np.ndarray, (0,), b"b")
        a.__setstate__(obj_state)
    out.append(("numpy", "numpy.core.multiarray._reconstruct + BUILD", "empty object array", 8, reconstruct_obj))
    f8 = np.dtype("f8")
    out.append(("numpy", "numpy.core.multiarray.scalar", "float64 from 8 bytes", 5, lambda: ma.scalar(f8, b"\0" * 8)))
    dstate = (3, "<", None, None, None, -1, -1, 0)

    def dtype_build():
        d = np.dtype("f8", False, True)
        d.__setstate__(dstate)
    out.append(("numpy", "numpy.dtype + BUILD", "('f8', False, True), version-3 state", 8, dtype_build))
    rec_fields = {f"f{i}": (np.dtype("f8"), 8 * i) for i in range(16)}
    rstate = (3, "|", None, tuple(rec_fields), rec_fields, 128, 1, 16)

    def record_build():
        d = np.dtype(np.record, False, True)
        d.__setstate__(rstate)
    out.append(("numpy", "numpy.dtype + BUILD", "record of 16 fields", 8, record_build))
    out.append(("numpy", "numpy.core.numeric._frombuffer", "8 float64", 5,
                lambda: np.core.numeric._frombuffer(bytes(64), f8, (8,), "C")))

    import pandas as pd
    from pandas.core.indexes.base import _new_Index
    idx_data = np.arange(8, dtype="i8")
    out.append(("pandas", "pandas.core.indexes.base._new_Index", "Index of 8 int64", 5,
                lambda: _new_Index(pd.Index, {"data": idx_data, "name": None})))
    from pandas.core.indexes.range import RangeIndex
    out.append(("pandas", "pandas.core.indexes.base._new_Index", "RangeIndex(0, 8)", 5,
                lambda: _new_Index(RangeIndex, {"start": 0, "stop": 8, "step": 1, "name": None})))
    from pandas._libs.tslibs.timestamps import _unpickle_timestamp
    out.append(("pandas", "pandas._libs.tslibs.timestamps._unpickle_timestamp", "a Timestamp", 5,
                lambda: _unpickle_timestamp(1_600_000_000_000_000_000, None, None, 10)))
    from pandas.core.internals.managers import BlockManager
    df = pd.DataFrame({"a": np.arange(4), "b": np.arange(4.0)})
    bm_cls, bm_args = df._mgr.__reduce__()[:2]
    assert bm_cls is BlockManager
    out.append(("pandas", "pandas.core.internals.managers.BlockManager", "two columns of 4 (its __reduce__)", 5,
                lambda: bm_cls(*bm_args)))

    from sklearn.linear_model import LinearRegression
    from sklearn.tree import DecisionTreeClassifier
    lr_state = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]).__getstate__()

    def estimator_build():
        o = LinearRegression.__new__(LinearRegression)
        o.__setstate__(lr_state)
    out.append(("sklearn", "sklearn estimator (LinearRegression) NEWOBJ + BUILD",
                "BaseEstimator.__setstate__ of a fitted one", 8, estimator_build))
    tree = DecisionTreeClassifier(max_depth=3).fit(np.arange(20.0).reshape(10, 2), [0, 1] * 5).tree_
    from sklearn.tree._tree import Tree
    t_reduce = tree.__reduce__()
    t_state = tree.__getstate__()

    def tree_build():
        t = Tree(*t_reduce[1])
        t.__setstate__(t_state)
    out.append(("sklearn", "sklearn.tree._tree.Tree + BUILD", "a tree of %d nodes" % tree.node_count, 8, tree_build))

    import _codecs
    s64 = "x" * 64
    out.append(("python", "_codecs.encode", "64 characters, latin1", 5, lambda: _codecs.encode(s64, "latin1")))
    out.append(("python", "builtins.bytes", "bytes(1048576) (max_int_arg)", 5, lambda: bytes(1048576)))
    out.append(("python", "builtins.bytearray", "bytearray(1048576) (max_int_arg)", 5, lambda: bytearray(1048576)))
    out.append(("python", "builtins.bytes", "bytes(64)", 5, lambda: bytes(64)))
    import collections
    out.append(("python", "collections.OrderedDict", "OrderedDict() (a cheap call, for scale)", 5,
                collections.OrderedDict))
    out.append(("python", "datetime.datetime", "from its 10-byte state", 5,
                lambda: datetime.datetime(b"\x07\xe4\x01\x02\x03\x04\x05\x00\x00\x00")))
    import copyreg
    class Plain:
        pass
    out.append(("python", "copyreg._reconstructor", "an instance of a plain class", 5,
                lambda: copyreg._reconstructor(Plain, object, None)))

    import sympy
    from sympy import Symbol, Integer, Add, Mul
    x, y = Symbol("x"), Symbol("y")
    out.append(("sympy", "sympy.core.symbol.Symbol", "Symbol('x')", 5, lambda: Symbol("x")))
    out.append(("sympy", "sympy.core.numbers.Integer", "Integer(12345)", 5, lambda: Integer(12345)))
    out.append(("sympy", "sympy.core.add.Add", "Add(x, y, 3)", 5, lambda: Add(x, y, Integer(3))))
    out.append(("sympy", "sympy.core.mul.Mul", "Mul(x, y, 3)", 5, lambda: Mul(x, y, Integer(3))))
    del sympy

    import statsmodels.api as sm
    exog = np.column_stack([np.ones(8), np.arange(8.0)])
    # Not what loading runs: a model is pickled as NEWOBJ and a BUILD of dict state (a few us),
    # never as a call of its constructor. For scale against the generated entries' default cost.
    out.append(("statsmodels", "statsmodels.regression.linear_model.OLS", "OLS(y, X) of 8 x 2, for scale: "
                "loading makes a model with NEWOBJ + BUILD, not this", 5, lambda: sm.OLS(np.arange(8.0), exog)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    ns, size = baseline_ns_per_byte()
    print(f"baseline: pickle.loads of ordinary data, {ns:.1f} ns per byte ({size} bytes); Python {sys.version.split()[0]}")
    # A real repeated call: 2,000 distinct compiled patterns, pickled by pickle.dumps
    # (re._compile per item, each over re's 512-entry cache).
    pats = [re.compile(rf"^w{i}[0-9]+(\.[0-9]+)?$") for i in range(2000)]
    blob = pickle.dumps(pats, protocol=4)
    re.purge()
    t = time.perf_counter()
    pickle.loads(blob)
    us = (time.perf_counter() - t) * 1e6 / len(pats)
    print(f"pickle.loads of {len(pats)} real re.Pattern ({len(blob)} bytes): {us:.0f} us per pattern, "
          f"{us * 1e3 / (len(blob) / len(pats)) / ns:.0f}x the baseline per byte")
    print()
    print("| policy | entry | call | us/call | bytes/call | x baseline |")
    print("|---|---|---|---:|---:|---:|")
    for policy, entry, what, nbytes, fn in cases():
        us = per_call(fn, args.repeat)
        print(f"| {policy} | {entry} | {what} | {us:.1f} | {nbytes} | {us * 1e3 / nbytes / ns:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
