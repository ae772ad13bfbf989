#!/usr/bin/python3
"""Byte-built BUILD states that numpy's native __setstate__ methods would trust.

    ndarray_state_attacks.py --pickleguard build/tools/pickleguard

numpy 1.24's ndarray.__setstate__ reads prod(shape) items from an object
array's list without checking its length, assigns the state's dtype to the
array before it validates the rest (an error leaves an object dtype over the
old int8 buffer, freed as object pointers), and dtype.__setstate__ takes
flags, item size and fields from the stream. The entries that reach them say
so with `state = "numpy-..."` (docs/policies.md, "State that native code
trusts"), and the judge's checkers refuse any state they cannot read whole.
Each technique below is a pickle built byte by byte (never loaded); every one
must be unsafe under each policy that includes numpy. Those marked (crash)
were checked to segfault numpy 1.24.2 by calling __setstate__ directly on
the same state (/usr/bin/python3, in a subprocess). The controls, states as
numpy writes them, must stay safe.
"""
import argparse
import json
import pathlib
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
MA = "numpy.core.multiarray"


def text(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b  # BINUNICODE


def raw(b):
    return b"B" + struct.pack("<I", len(b)) + b  # BINBYTES


def i(n):
    return b"J" + struct.pack("<i", n)  # BININT


def g(module, name):
    return text(module) + text(name) + b"\x93"  # STACK_GLOBAL


def p4(body):
    return b"\x80\x04" + body + b"."


def tup(*items):
    return b"(" + b"".join(items) + b"t"


def lst(*items):
    return b"]" + (b"(" + b"".join(items) + b"e" if items else b"")


def dct(*pairs):
    return b"}" + (b"(" + b"".join(k + v for k, v in pairs) + b"u" if pairs else b"")


NONE, TRUE, FALSE = b"N", b"\x88", b"\x89"
MEMO = b"\x94"


def get(n):
    return b"h" + bytes([n])  # BINGET


def dtype_call(type_string, copy=TRUE):
    return g("numpy", "dtype") + tup(text(type_string), FALSE, copy) + b"R"


def dstate(order, flags, names=NONE, fields=NONE, elsize=-1, align=-1, subarray=NONE):
    return tup(i(3), text(order), subarray, names, fields, i(elsize), i(align), i(flags))


def dtype(type_string, state):
    return dtype_call(type_string) + state + b"b"


F8 = dtype("f8", dstate("<", 0))
I1 = dtype("i1", dstate("|", 0))
I8 = dtype("i8", dstate("<", 0))
O8 = dtype("O8", dstate("|", 63))


def reconstruct(shape=tup(i(0))):
    return g(MA, "_reconstruct") + tup(g("numpy", "ndarray"), shape, b"C\x01b") + b"R"


def array(state, shape=tup(i(0))):
    return reconstruct(shape) + state + b"b"


def mareconstruct():
    return g("numpy.ma.core", "_mareconstruct") + tup(g("numpy.ma.core", "MaskedArray"), g("numpy", "ndarray"),
                                                       tup(i(0)), text("b")) + b"R"


ZERO_D = tup()  # _reconstruct(ndarray, (), b'b'): one int8 item, 1 byte
# a structured dtype of two object fields, memoized at 0, as numpy writes np.void of [('a', 'O'), ('b', 'O')]
V16_OBJECTS = dtype("V16", dstate("|", 27, tup(text("a"), text("b")),
                                  dct((text("a"), tup(O8, i(0))), (text("b"), tup(O8, i(8)))), 16, 1)) + MEMO + b"0"


def scalar_of_array(shape, items):
    return V16_OBJECTS + g(MA, "scalar") + tup(get(0), array(tup(i(1), shape, get(0), FALSE, lst(*items)),
                                                            shape=shape)) + b"R"

# (technique, body)
ATTACKS = [
    # (crash) _setlist_pkl reads 4 items from an empty list
    ("object_list_shorter_than_shape", array(tup(i(1), tup(i(4)), O8, FALSE, lst()))),
    # the same through the version-0 layout PyArg_ParseTuple falls back to
    ("object_list_shorter_than_shape_version_0", array(tup(tup(i(4)), O8, FALSE, lst()))),
    # the list is empty at the BUILD and filled through the memo after it: the graph holds it full
    ("object_list_appended_after_build",
     array(tup(i(1), tup(i(2)), O8, FALSE, lst() + MEMO)) + get(0) + b"(" + i(1) + i(2) + b"e" + b"0"),
    # (crash) 0-d int8 array, BUILD with bytes for an object dtype: numpy raises after assigning the dtype
    ("zero_d_object_dtype_with_bytes", array(tup(i(1), tup(), O8, FALSE, b"C\x00"), shape=ZERO_D)),
    # the same error window through a size that overflows npy_intp (the probe read 8 bytes of a 1-byte
    # buffer as an object pointer without crashing: undefined, not reproducible)
    ("zero_d_shape_overflow",
     array(tup(i(1), tup(i(2**30), i(2**30), i(2**30), i(0)), O8, FALSE, lst()), shape=ZERO_D)),
    # (crash) a valid BUILD of 4096 int8, then one that fails on a negative dimension: object dtype over bytes
    # ((-1, -1) has one item, as many as the list)
    ("second_build_negative_dimension",
     array(tup(i(1), tup(i(4096)), I1, FALSE, raw(b"A" * 4096))) + tup(i(1), tup(i(-1), i(-1)), O8, FALSE, lst(NONE))
     + b"b"),
    # a subtype whose entry names no ndarray state checker: which __setstate__ reads the state is unknown
    ("subtype_without_state_checker",
     g(MA, "_reconstruct") + tup(g("numpy", "float64"), tup(i(0)), b"C\x01b") + b"R"
     + tup(i(1), tup(i(1)), F8, FALSE, raw(b"\x00" * 8)) + b"b"),
    # (crash) an 'O' dtype whose flags lack NPY_LIST_PICKLE: 8 bytes 0x41 become an object pointer
    ("object_dtype_flags_without_list_pickle",
     array(tup(i(1), tup(i(1)), dtype("O8", dstate("|", 0)), FALSE, raw(b"A" * 8)))),
    # the same forged dtype handed to numpy.core.multiarray.scalar
    ("scalar_of_object_dtype_without_object_flags",
     g(MA, "scalar") + tup(dtype("O8", dstate("|", 0)), raw(b"A" * 8)) + b"R"),
    # a structured dtype whose object field lies past its item size
    ("void_dtype_object_field_past_itemsize",
     array(tup(i(1), tup(i(1)), dtype("V8", dstate("|", 27, tup(text("a")), dct((text("a"), tup(O8, i(16)))), 8, 1)),
               FALSE, lst(tup(NONE))))),
    # (crash) an object field and an int64 field at the same offset: items write an integer over a pointer
    ("void_dtype_overlapping_object_field",
     array(tup(i(1), tup(i(1)), dtype("V8", dstate("|", 27, tup(text("a"), text("b")),
                                                   dct((text("a"), tup(O8, i(0))), (text("b"), tup(I8, i(0)))), 8, 1)),
               FALSE, lst(tup(NONE, i(12345)))))),
    # a void dtype whose state's elsize is not its type string's
    ("void_dtype_elsize_forged", array(tup(i(1), tup(i(1)), dtype("V8", dstate("|", 0, elsize=4096, align=1)), FALSE,
                                           raw(b"\x00" * 4096)))),
    # names ('a', 'b') but only 'a' in fields at the BUILD; 'b' (an object field) added through the memo after
    ("dtype_fields_dict_filled_after_build",
     O8 + MEMO + b"0"
     + dtype_call("V16") + dstate("|", 27, tup(text("a"), text("b")), dct((text("a"), tup(I8, i(0)))) + MEMO, 16, 1)
     + b"b" + get(1) + text("b") + get(0) + i(8) + b"\x86" + b"s" + b"0"),
    # BUILD on one dtype twice: arrays made with it in between see it change
    ("dtype_built_twice", dtype("f8", dstate("<", 0)) + dstate(">", 0) + b"b"),
    # (crash) a V8 dtype without fields makes an array of raw bytes; its BUILD, after the array's, gives it an
    # object field over those bytes
    ("dtype_given_object_field_after_array_built",
     dtype_call("V8") + MEMO + b"0"
     + array(tup(i(1), tup(i(1)), get(0), FALSE, raw(b"A" * 8)))
     + get(0) + dstate("|", 27, tup(text("a")), dct((text("a"), tup(O8, i(0)))), 8, 8) + b"b" + b"0"),
    # dtype('O8', False, False) is numpy's own object dtype: BUILD would change it for the whole process
    ("dtype_build_on_shared_descriptor", dtype_call("O8", copy=FALSE) + dstate("|", 63) + b"b"),
    # a subarray dtype whose elsize is not its base x shape
    ("subarray_dtype_elsize_forged",
     array(tup(i(1), tup(i(1)), dtype("V64", dstate("|", 63, subarray=tup(O8, tup(i(2))), elsize=64, align=8)),
               FALSE, lst(NONE)))),
    # (crash) MaskedArray.__setstate__ hands the short list on to ndarray.__setstate__
    ("masked_object_list_shorter_than_shape",
     mareconstruct() + tup(i(1), tup(i(4)), O8, FALSE, lst(), raw(b"\x00" * 4), NONE) + b"b"),
    # the mask's bytes do not match the shape
    ("masked_mask_shorter_than_shape",
     mareconstruct() + tup(i(1), tup(i(4)), F8, FALSE, raw(b"\x00" * 32), raw(b""), NONE) + b"b"),
    # an array state computed while loading: nothing in it can be read before loading
    ("ndarray_state_computed_while_loading",
     reconstruct() + g("builtins", "tuple") + tup(lst(i(1), tup(i(4)), O8, FALSE, lst())) + b"R" + b"b"),
    # a dtype computed by another call than numpy.dtype(str, False, True)
    ("ndarray_dtype_not_made_by_numpy_dtype",
     array(tup(i(1), tup(i(4)), g("builtins", "getattr") + tup(O8, text("base")) + b"R", FALSE, lst()))),
    # (crash) scalar() of a structured object array, then a second valid BUILD of the array: the scalar reads the freed buffer (use after free) (found by a red-team pass)
    ("scalar_of_array_then_second_build_frees_its_buffer", bytes.fromhex(
        "58050000006e756d7079580500000064747970659328580300000056313689887452284a0300000058010000007c4e28"
        "580100000061580100000062747d285801000000612858050000006e756d707958050000006474797065932858020000"
        "004f3889887452284a0300000058010000007c4e4e4e4affffffff4affffffff4a3f00000074624a0000000074580100"
        "0000622858050000006e756d707958050000006474797065932858020000004f3889887452284a030000005801000000"
        "7c4e4e4e4affffffff4affffffff4a3f00000074624a0800000074754a100000004a010000004a1b0000007462943058"
        "150000006e756d70792e636f72652e6d756c74696172726179580c0000005f7265636f6e737472756374932858050000"
        "006e756d707958070000006e64617272617993284a00000000744301627452284a01000000284a01000000746800895d"
        "28284e4e7465746294302858150000006e756d70792e636f72652e6d756c7469617272617958060000007363616c6172"
        "93286800680174526801284a01000000284a100000007458050000006e756d7079580500000064747970659328580200"
        "0000693189887452284a0300000058010000007c4e4e4e4affffffff4affffffff4a0000000074628942100000004141"
        "4141414141414141414141414141746274"
    )),
    # (crash) scalar(d, b'A'*8) on an unbuilt V8 dtype, then d's BUILD adds an object field at offset 0: the scalar's field is the pointer 0x4141... (found by a red-team pass)
    ("scalar_before_its_dtype_build_gives_an_object_field", bytes.fromhex(
        "58050000006e756d7079580500000064747970659328580200000056388988745294302858150000006e756d70792e63"
        "6f72652e6d756c7469617272617958060000007363616c6172932868004208000000414141414141414174526800284a"
        "0300000058010000007c4e28580100000061747d285801000000612858050000006e756d707958050000006474797065"
        "932858020000004f3889887452284a0300000058010000007c4e4e4e4affffffff4affffffff4a3f00000074624a0000"
        "000074754a080000004a080000004a1b000000746274"
    )),
    # (crash) _frombuffer(b'A'*8, d, ...) on an unbuilt V8 dtype, then the same object-field BUILD of d (found by a red-team pass)
    ("frombuffer_before_its_dtype_build_gives_an_object_field", bytes.fromhex(
        "58050000006e756d7079580500000064747970659328580200000056388988745294302858120000006e756d70792e63"
        "6f72652e6e756d65726963580b0000005f66726f6d6275666665729328420800000041414141414141416800284a0100"
        "00007458010000004374526800284a0300000058010000007c4e28580100000061747d28580100000061285805000000"
        "6e756d707958050000006474797065932858020000004f3889887452284a0300000058010000007c4e4e4e4affffffff"
        "4affffffff4a3f00000074624a0000000074754a080000004a080000004a1b000000746274"
    )),
    # (crash) scalar() of a structured object array of shape (0,): numpy reads one item from its empty buffer
    # (found by a red-team pass)
    ("scalar_of_zero_size_structured_object_array", scalar_of_array(tup(i(0)), [])),
]
CONTROLS = [
    ("scalar_of_structured_object_array_as_numpy_writes_it", scalar_of_array(ZERO_D, [tup(NONE, NONE)])),
    ("object_list_as_numpy_writes_it", array(tup(i(1), tup(i(2)), O8, FALSE, lst(i(1), i(2))))),
    ("float64_bytes_as_numpy_writes_them", array(tup(i(1), tup(i(2), i(2)), F8, TRUE, raw(b"\x00" * 32)))),
    ("version_0_layout", array(tup(tup(i(2)), I1, FALSE, raw(b"ab")))),
    ("object_list_filled_before_build",
     lst() + MEMO + b"0" + get(0) + b"(" + i(1) + i(2) + b"e" + b"0" + array(tup(i(1), tup(i(2)), O8, FALSE, get(0)))),
    ("masked_array_as_numpy_writes_it",
     mareconstruct() + tup(i(1), tup(i(4)), F8, FALSE, raw(b"\x00" * 32), raw(b"\x00" * 4), NONE) + b"b"),
]
POLICIES = ["numpy", "default", "pandas", "sklearn"]


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
        cases = [(n, b, "unsafe") for n, b in ATTACKS] + [(n, b, "safe") for n, b in CONTROLS]
        for name, body, _ in cases:
            (tmp / f"{name}.pkl").write_bytes(p4(body))
        for policy in POLICIES:
            path = ROOT / "policies" / f"{policy}.toml"
            v = verdicts(args.pickleguard, str(path), [tmp / f"{n}.pkl" for n, _, _ in cases])
            for n, _, want in cases:
                got, rules = v[f"{n}.pkl"]
                if args.verbose and policy == "numpy":
                    print(f"{n}: {got} {sorted(set(rules))}")
                if (got == "safe") != (want == "safe"):
                    errors.append(f"{n} under {policy}: {got}, expected {want}")
                # each attack must be refused by the state checkers, not only by something else in it
                if want == "unsafe" and "unsafe-native-state" not in rules and "argument-not-allowed" not in rules:
                    errors.append(f"{n} under {policy}: no unsafe-native-state finding ({sorted(set(rules))})")
        print(f"{len(ATTACKS)} attacks and {len(CONTROLS)} controls on numpy's native __setstate__ states, "
              f"under {len(POLICIES)} policies")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
