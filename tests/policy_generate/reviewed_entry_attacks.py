#!/usr/bin/python3
"""Byte-built abuses of the entry classes the reviewed numpy, pandas and sklearn entries added.

    reviewed_entry_attacks.py --pickleguard build/tools/pickleguard

policies/reviewed/{numpy,pandas}.toml allow numpy ufuncs as references (so a
FunctionTransformer(func=numpy.log1p) loads) and dateutil's time zones
(tzutc, tzoffset, tzlocal, _ttinfo; tzfile called, whose __init__ opens its
first argument when it is a str and calls its .read otherwise). Each
technique below is a pickle built byte by byte (never loaded) that would
abuse one of them: call a reference, hand it to a helper that calls or
instantiates its argument (invokes), reach its attributes through a dotted
name, store __setstate__ on it with BUILD, or make tzfile open a file of the
attacker's choosing or call .read on an object the pickle made. Every one
must be unsafe under each policy that has the entry (the shipped file, by
path). Two controls, the tzfile calls pandas itself writes, must be safe,
so the bound is not simply "refuse tzfile".
"""
import argparse
import json
import pathlib
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
UMATH = "numpy.core._multiarray_umath"
TZ = "dateutil.tz.tz"


def text(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b  # BINUNICODE


def g(module, name):
    return text(module) + text(name) + b"\x93"  # STACK_GLOBAL


def p4(body):
    return b"\x80\x04" + body + b"."


def tup(*items):
    return b"(" + b"".join(items) + b"t"


NONE = b"N"
EMPTY_DICT = b"}"
PARIS = "/usr/share/zoneinfo/Europe/Paris"

# (technique, body, policies it must be unsafe under)
NUMPY_POLICIES = ["numpy", "pandas", "sklearn", "default", "numpy-data"]
# The policies with the generated numpy (ufuncs as references); default and
# numpy-data hold only the names pickles of numpy values use.
UFUNC_POLICIES = ["numpy", "pandas", "sklearn"]
DATA_POLICIES = ["default", "numpy-data"]
PANDAS_POLICIES = ["pandas"]
ATTACKS = [
    # default's scope: numpy-data, not the generated numpy, so no ufunc at all
    ("ufunc_reference_under_default", g(UMATH, "log1p"), DATA_POLICIES),
    ("ufunc_public_name_under_default", g("numpy", "log1p"), DATA_POLICIES),
    # ufuncs: references only
    ("ufunc_called_by_reduce", g(UMATH, "log1p") + tup(b"K\x01") + b"R", NUMPY_POLICIES),
    ("ufunc_public_name_called", g("numpy", "add") + tup(b"K\x01", b"K\x02") + b"R", NUMPY_POLICIES),
    ("ufunc_instantiated_by_newobj", g(UMATH, "exp") + b")\x81", NUMPY_POLICIES),
    ("ufunc_method_by_dotted_name", g(UMATH, "add.reduce") + tup(tup(b"K\x01")) + b"R", NUMPY_POLICIES),
    ("ufunc_dunder_by_dotted_name", g(UMATH, "log1p.__class__"), NUMPY_POLICIES),
    ("ufunc_build_sets_setstate",
     g(UMATH, "log1p") + EMPTY_DICT + text("__setstate__") + g("builtins", "eval") + b"s" + b"b", NUMPY_POLICIES),
    ("ufunc_called_by_generator_ctor_invokes",
     g("numpy.random._pickle", "__generator_ctor") + tup(text("MT19937"), g(UMATH, "log1p")) + b"R", NUMPY_POLICIES),
    ("ufunc_called_by_reconstructor_invokes",
     g("copyreg", "_reconstructor") + tup(g("numpy", "ndarray"), g(UMATH, "log1p"), b"K\x05") + b"R", NUMPY_POLICIES),
    ("ufunc_instantiated_by_new_index_invokes",
     g("pandas.core.indexes.base", "_new_Index") + tup(g(UMATH, "log1p"), EMPTY_DICT) + b"R", PANDAS_POLICIES),
    # tzfile: its str argument is a file it opens, any other object's .read is called
    ("tzfile_opens_etc_passwd", g(TZ, "tzfile") + tup(text("/etc/passwd")) + b"R", PANDAS_POLICIES),
    ("tzfile_dotdot_out_of_zoneinfo",
     g(TZ, "tzfile") + tup(text("/usr/share/zoneinfo/Europe/../../../../etc/passwd")) + b"R", PANDAS_POLICIES),
    ("tzfile_zoneinfo_localtime_symlink", g(TZ, "tzfile") + tup(text("/usr/share/zoneinfo/localtime")) + b"R",
     PANDAS_POLICIES),
    ("tzfile_device_file", g(TZ, "tzfile") + tup(text("/dev/zero")) + b"R", PANDAS_POLICIES),
    ("tzfile_filename_hides_path", g(TZ, "tzfile") + tup(NONE, text("/etc/shadow")) + b"R", PANDAS_POLICIES),
    ("tzfile_read_of_object_made_by_newobj",
     g(TZ, "tzfile") + tup(g(TZ, "tzoffset") + b")\x81" + EMPTY_DICT + text("read") + g(UMATH, "log1p") + b"sb")
     + b"R", PANDAS_POLICIES),
    ("tzfile_read_of_global", g(TZ, "tzfile") + tup(g("pandas.core.indexes.base", "Index")) + b"R", PANDAS_POLICIES),
    ("tzfile_path_computed_while_loading",
     g(TZ, "tzfile") + tup(g("builtins", "str") + tup(text("/etc/passwd")) + b"R") + b"R", PANDAS_POLICIES),
    ("tzfile_instantiated_by_newobj_ex",
     g(TZ, "tzfile") + b")" + EMPTY_DICT + text("fileobj") + text("/etc/passwd") + b"s" + b"\x92", PANDAS_POLICIES),
    ("tzfile_base_of_reconstructor",
     g("copyreg", "_reconstructor") + tup(g(TZ, "tzfile"), g(TZ, "tzfile"), text("/etc/passwd")) + b"R",
     PANDAS_POLICIES),
    ("tzfile_keyword_through_new_index",
     g("pandas.core.indexes.base", "_new_Index") + tup(g(TZ, "tzfile"), EMPTY_DICT + text("fileobj") +
                                                       text("/etc/passwd") + b"s") + b"R", PANDAS_POLICIES),
    ("tzfile_as_defaultdict_factory", g("collections", "defaultdict") + tup(g(TZ, "tzfile")) + b"R", PANDAS_POLICIES),
    ("tzfile_build_sets_setstate",
     g(TZ, "tzfile") + tup(NONE, text(PARIS)) + b"R" + EMPTY_DICT + text("__setstate__") + g("builtins", "eval")
     + b"sb", PANDAS_POLICIES),
    # the other time zones: new (and build) only
    ("tzutc_called_with_args", g(TZ, "tzutc") + tup(text("x")) + b"R", PANDAS_POLICIES),
    ("tzlocal_called", g(TZ, "tzlocal") + b")R", PANDAS_POLICIES),
    ("tzoffset_build_sets_dunder",
     g(TZ, "tzoffset") + b")\x81" + EMPTY_DICT + text("__reduce__") + g("builtins", "eval") + b"sb", PANDAS_POLICIES),
    ("ttinfo_build_sets_setstate",
     g(TZ, "_ttinfo") + b")\x81" + EMPTY_DICT + text("__setstate__") + g("builtins", "exec") + b"sb", PANDAS_POLICIES),
    ("tzfile_by_dotted_name_init", g(TZ, "tzfile.__init__") + tup(NONE, text("/etc/passwd")) + b"R",
     PANDAS_POLICIES),
]
CONTROLS = [
    ("tzfile_as_pandas_writes_it", g(TZ, "tzfile") + tup(NONE, text(PARIS)) + b"R" + EMPTY_DICT + text("_filename")
     + text(PARIS) + b"sb", PANDAS_POLICIES),
    ("tzfile_opens_a_system_zone", g(TZ, "tzfile") + tup(text("/usr/share/zoneinfo/America/Argentina/Buenos_Aires"))
     + b"R", PANDAS_POLICIES),
    ("ufunc_reference", g(UMATH, "log1p"), UFUNC_POLICIES),
]


def verdicts(pickleguard, policy, paths):
    r = subprocess.run([pickleguard, "scan", "--policy", policy, "--format", "json", *map(str, paths)],
                       capture_output=True, text=True)
    if r.returncode not in (0, 1) or not r.stdout.strip():
        sys.exit(f"scan under {policy} failed ({r.returncode}): {r.stderr[:500]}")
    return {pathlib.Path(f["path"]).name: f["verdict"] for f in json.loads(r.stdout)["files"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    args = ap.parse_args()
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        cases = [(n, b, pols, "unsafe") for n, b, pols in ATTACKS] + [(n, b, pols, "safe") for n, b, pols in CONTROLS]
        for name, body, _, _ in cases:
            (tmp / f"{name}.pkl").write_bytes(p4(body))
        for policy in sorted({p for _, _, pols, _ in cases for p in pols}):
            path = ROOT / "policies" / f"{policy}.toml"
            mine = [(n, want) for n, _, pols, want in cases if policy in pols]
            v = verdicts(args.pickleguard, str(path), [tmp / f"{n}.pkl" for n, _ in mine])
            for n, want in mine:
                got = v[f"{n}.pkl"]
                if (got == "safe") != (want == "safe"):
                    errors.append(f"{n} under {policy}: {got}, expected {want}")
        print(f"{len(ATTACKS)} attacks and {len(CONTROLS)} controls on the reviewed entries' classes")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
