#!/usr/bin/python3
"""Byte-built SingleBlockManager states whose block does not match its index.

    pandas_block_state_attacks.py --pickleguard build/tools/pickleguard

pandas 1.5.3's BaseBlockManager.__setstate__ (pandas/core/internals/managers.py)
takes state[3]['0.14.1']'s 'axes' and 'blocks' and wraps each block's values
(new_block) without checking them against the index: a Series whose 2 float64
values sit under RangeIndex(0, 2**24) segfaults on reindex() or sort_index(),
and under an index of 10**6 returns heap contents (a red-team pass; checked by
calling SingleBlockManager.__setstate__ directly on a fresh manager in a
subprocess, never by loading). The SingleBlockManager entry names the judge's
checker (state = "pandas-single-block-manager", docs/policies.md, "State that
native code trusts"). Each technique below is a Series pickle built byte by
byte (never loaded) and must be unsafe, with an unsafe-native-state finding,
under each policy that includes pandas. The controls are what pandas itself
writes for a few Series and DataFrames (pickle.dumps of real objects with the
system pandas) and byte-built states that match, and must stay safe.
"""
import argparse
import json
import pathlib
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def text(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b  # BINUNICODE


def i(n):
    return b"J" + struct.pack("<i", n)  # BININT


def g(module, name):
    return text(module) + text(name) + b"\x93"  # STACK_GLOBAL


def tup(*items):
    return b"(" + b"".join(items) + b"t"


def lst(*items):
    return b"]" + (b"(" + b"".join(items) + b"e" if items else b"")


def dct(*pairs):
    return b"}" + (b"(" + b"".join(k + v for k, v in pairs) + b"u" if pairs else b"")


NONE, TRUE, FALSE = b"N", b"\x88", b"\x89"


def put(n):
    return b"q" + bytes([n])  # BINPUT


def get(n):
    return b"h" + bytes([n])  # BINGET


def dtype(type_string, order):
    return (g("numpy", "dtype") + tup(text(type_string), FALSE, TRUE) + b"R"
            + tup(i(3), text(order), NONE, NONE, NONE, i(-1), i(-1), i(0)) + b"b")


def reconstruct():
    return g("numpy.core.multiarray", "_reconstruct") + tup(g("numpy", "ndarray"), tup(i(0)), b"C\x01b") + b"R"


def array_state(n, shape=None):
    shape = shape if shape is not None else tup(i(n))
    return tup(i(1), shape, dtype("f8", "<"), FALSE, b"B" + struct.pack("<I", 8 * n) + b"\x00" * (8 * n))


def floats(n, shape=None):
    return reconstruct() + array_state(n, shape) + b"b"


def range_index(start, stop, step=1, attrs=None):
    attrs = attrs if attrs is not None else dct((text("name"), NONE), (text("start"), i(start)),
                                                (text("stop"), i(stop)), (text("step"), i(step)))
    return g("pandas.core.indexes.base", "_new_Index") + tup(g("pandas.core.indexes.range", "RangeIndex"), attrs) + b"R"


def data_index(data, cls=("pandas.core.indexes.base", "Index")):
    return (g("pandas.core.indexes.base", "_new_Index")
            + tup(g(*cls), dct((text("data"), data), (text("name"), NONE))) + b"R")


def datetime_array(n, extra=None):
    """DatetimeArray as pandas writes it: __pyx_unpickle_NDArrayBacked, then BUILD (dtype, ndarray, dict)."""
    return (g("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked")
            + tup(g("pandas.core.arrays.datetimes", "DatetimeArray"), i(223698104), NONE) + b"R"
            + tup(dtype("f8", "<"), floats(n),
                  dct((text("_freq"), NONE), *(extra or []))) + b"b")


def block(values):
    return dct((text("values"), values), (text("mgr_locs"), g("builtins", "slice") + tup(i(0), i(2), i(1)) + b"R"))


def manager_state(index, values, v14=None, axes=None, blocks=None):
    """(axes, values, items, {'0.14.1': {'axes': [index], 'blocks': [block]}}) as pandas writes it."""
    if v14 is None:
        axes = axes if axes is not None else lst(index)
        blocks = blocks if blocks is not None else lst(block(values))
        v14 = dct((text("axes"), axes), (text("blocks"), blocks))
    return tup(lst(), lst(), lst(), dct((text("0.14.1"), v14)))


def manager(state):
    return g("pandas.core.internals.managers", "SingleBlockManager") + b")\x81" + state + b"b"


def series(mgr, tail=b""):
    return (g("pandas.core.series", "Series") + b")\x81"
            + dct((text("_mgr"), mgr), (text("_typ"), text("series")), (text("_metadata"), lst(text("name"))),
                  (text("attrs"), dct()), (text("_flags"), dct((text("allows_duplicate_labels"), TRUE))),
                  (text("name"), NONE)) + b"b" + tail)


def early(value):
    """A value made before the Series, kept in memo 8 for a SETITEM after the manager's BUILD."""
    return value + put(8) + b"0"


def p4(body):
    return b"\x80\x04" + body + b"."


# (technique, body)
ATTACKS = [
    # (crash) 2 values under RangeIndex(0, 2**24): reindex()/sort_index() segfault (the red team's pickle)
    ("values_shorter_than_rangeindex", series(manager(manager_state(range_index(0, 2**24), floats(2))))),
    ("values_longer_than_rangeindex", series(manager(manager_state(range_index(0, 2), floats(4))))),
    # range(0, 6, 2) has 3 items, not 2 (len computed like range)
    ("rangeindex_step_counted", series(manager(manager_state(range_index(0, 6, 2), floats(2))))),
    ("rangeindex_negative_step_counted", series(manager(manager_state(range_index(4, 0, -1), floats(2))))),
    ("index_data_shorter_than_values", series(manager(manager_state(data_index(floats(1)), floats(2))))),
    ("datetime_index_data_shorter", series(manager(manager_state(
        g("pandas.core.indexes.datetimes", "_new_DatetimeIndex")
        + tup(g("pandas.core.indexes.datetimes", "DatetimeIndex"), dct((text("data"), datetime_array(1)))) + b"R",
        floats(2))))),
    ("datetime_values_longer_than_index", series(manager(manager_state(range_index(0, 2), datetime_array(3))))),
    # DatetimeArray's state dict setattr()s _ndarray after the ndarray the judge read
    ("datetime_values_dict_sets_ndarray", series(manager(manager_state(
        range_index(0, 2), datetime_array(2, [(text("_ndarray"), floats(1))]))))),
    # a 2-D block of 2 x 1 under an index of 2: a Series' block is 1-D
    ("two_d_values", series(manager(manager_state(range_index(0, 2), floats(2, tup(i(2), i(1))))))),
    ("multiindex_axis", series(manager(manager_state(
        g("pandas.core.indexes.base", "_new_Index") + tup(g("pandas.core.indexes.multi", "MultiIndex"),
                                                         dct((text("names"), lst(NONE)))) + b"R", floats(2))))),
    ("two_axes", series(manager(manager_state(None, floats(2), axes=lst(range_index(0, 2), range_index(0, 2)))))),
    ("two_blocks", series(manager(manager_state(range_index(0, 2), None,
                                                blocks=lst(block(floats(2)), block(floats(2))))))),
    ("values_not_an_array", series(manager(manager_state(range_index(0, 2), lst(i(1), i(2)))))),
    # the values' BUILD comes after the manager's: at the manager's BUILD their length is unknown
    ("values_built_after_manager", series(manager(manager_state(range_index(0, 2), reconstruct() + put(9))),
                                          get(9) + array_state(4) + b"b" + b"0")),
    # each container below holds a state that does not match at the BUILD, and one that does after it (SETITEM
    # through the memo of a value made before the BUILD): the value graph holds containers as they end
    ("axes_replaced_after_build", early(range_index(0, 2)) + series(
        manager(manager_state(None, floats(2), axes=lst(range_index(0, 2**24)) + put(9))),
        get(9) + i(0) + get(8) + b"s" + b"0")),
    ("blocks_replaced_after_build", early(block(floats(3))) + series(
        manager(manager_state(range_index(0, 3), None, blocks=lst(block(floats(2))) + put(9))),
        get(9) + i(0) + get(8) + b"s" + b"0")),
    ("block_values_replaced_after_build", early(floats(3)) + series(
        manager(manager_state(range_index(0, 3), None, blocks=lst(block(floats(2)) + put(9)))),
        get(9) + text("values") + get(8) + b"s" + b"0")),
    ("state_dict_replaced_after_build", early(lst(range_index(0, 2))) + series(
        manager(manager_state(None, None, v14=dct((text("axes"), lst(range_index(0, 3))),
                                                  (text("blocks"), lst(block(floats(2))))) + put(9))),
        get(9) + text("axes") + get(8) + b"s" + b"0")),
    # the RangeIndex's attributes made it with stop 2**24; a SETITEM after the manager's BUILD says 2
    ("rangeindex_attrs_changed_after_call", series(manager(manager_state(
        range_index(0, 0, attrs=dct((text("start"), i(0)), (text("stop"), i(2**24)), (text("step"), i(1))) + put(9)),
        floats(2))), get(9) + text("stop") + i(2) + b"s" + b"0")),
    # a second BUILD on the manager replaces the blocks of the one the Series holds (each state matching: the
    # judge reads one state per manager)
    ("second_manager_build", series(manager(manager_state(range_index(0, 2), floats(2))) + put(9),
                                    get(9) + manager_state(range_index(0, 2), floats(2)) + b"b" + b"0")),
]
BYTE_CONTROLS = [
    ("control_rangeindex_2", series(manager(manager_state(range_index(0, 2), floats(2))))),
    ("control_rangeindex_step", series(manager(manager_state(range_index(0, 2**24, 2**23), floats(2))))),
    ("control_rangeindex_empty", series(manager(manager_state(range_index(5, 0), floats(0))))),
    ("control_index_data", series(manager(manager_state(data_index(floats(2)), floats(2))))),
    ("control_datetime_values", series(manager(manager_state(range_index(0, 3), datetime_array(3))))),
]
# What pandas writes (pickle.dumps of real objects; nothing is loaded)
REAL = r"""
import pickle, sys, pathlib, numpy as np, pandas as pd
out = pathlib.Path(sys.argv[1])
objs = {
    "real_series_float": pd.Series([1.0, 2.0, 3.0]),
    "real_series_empty": pd.Series([], dtype="float64"),
    "real_series_str_index": pd.Series([1, 2], index=["a", "b"], name="x"),
    "real_series_int_index": pd.Series([1.5, 2.5], index=[10, 20]),
    "real_series_object": pd.Series(["a", None, "c"]),
    "real_series_datetime_index": pd.Series([1.0, 2.0], index=pd.date_range("2020-01-01", periods=2)),
    "real_series_tz_values": pd.Series(pd.date_range("2020-01-01", periods=3, tz="UTC")),
    "real_series_range_step": pd.Series([1, 2], index=pd.RangeIndex(0, 4, 2)),
    "real_dataframe": pd.DataFrame({"a": [1, 2], "b": [1.0, 2.0], "c": ["x", "y"]}),
}
for name, obj in objs.items():
    for proto in (2, 4):
        (out / f"{name}_p{proto}.pkl").write_bytes(pickle.dumps(obj, proto))
"""
POLICIES = ["pandas", "statsmodels"]


def verdicts(pickleguard, policy, paths):
    r = subprocess.run([pickleguard, "scan", "--policy", policy, "--format", "json", *map(str, paths)],
                       capture_output=True, text=True)
    if r.returncode not in (0, 1) or not r.stdout.strip():
        sys.exit(f"scan under {policy} failed ({r.returncode}): {r.stderr[:500]}")
    return {pathlib.Path(f["path"]).name: (f["verdict"], [x["rule"] for x in f.get("findings", [])])
            for f in json.loads(r.stdout)["files"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        subprocess.run([sys.executable, "-c", REAL, str(tmp)], check=True)
        real = sorted(p.name[:-4] for p in tmp.glob("real_*.pkl"))
        cases = [(n, b, "unsafe") for n, b in ATTACKS] + [(n, b, "safe") for n, b in BYTE_CONTROLS]
        for name, body, _ in cases:
            (tmp / f"{name}.pkl").write_bytes(p4(body))
        cases += [(n, None, "safe") for n in real]
        for policy in POLICIES:
            path = ROOT / "policies" / f"{policy}.toml"
            v = verdicts(args.pickleguard, str(path), [tmp / f"{n}.pkl" for n, _, _ in cases])
            for n, _, want in cases:
                got, rules = v[f"{n}.pkl"]
                if args.verbose and policy == "pandas":
                    print(f"{n}: {got} {sorted(set(rules))}")
                if (got == "safe") != (want == "safe"):
                    errors.append(f"{n} under {policy}: {got}, expected {want} ({sorted(set(rules))})")
                # each attack must be refused by the state checker, not only by something else in it
                if want == "unsafe" and "unsafe-native-state" not in rules:
                    errors.append(f"{n} under {policy}: no unsafe-native-state finding ({sorted(set(rules))})")
        print(f"{len(ATTACKS)} attacks, {len(BYTE_CONTROLS)} byte-built and {len(real)} real controls on pandas' "
              f"SingleBlockManager state, under {len(POLICIES)} policies")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
