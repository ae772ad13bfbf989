#!/usr/bin/python3
"""Byte-built pickles that make an allowed call allocate what they name
(the policy audit's cost findings, policies/audit/native.toml), and their
verdicts under the shipped policies.

    cost_attacks_test.py --pickleguard build/tools/pickleguard [--write DIR]

Each must be unsafe (ctest policy_cost_attacks fails otherwise), also when
an allowed callable makes the call (invokes: torch's _rebuild_from_type_v2,
numpy's __generator_ctor). Each row names the policy line that bounds it:
the test also scans with a copy of that policy file without the line and
requires "safe", so a row whose pickle is refused for some other reason
fails too. Nothing here is ever loaded: the costs were measured by calling
the trusted library directly (docs/policies.md, "Auditing the shipped
entries").
"""
import pathlib
import re
import resource
import struct
import subprocess
import sys
import time
import tempfile
from harness import POLICIES, arguments, glob, report, scan_verdicts, text

PROTO, STOP, MARK, TUPLE, REDUCE, EMPTY_DICT, SETITEMS = b"\x80\x02", b".", b"(", b"t", b"R", b"}", b"u"
TUPLE1, TUPLE2, TUPLE3 = b"\x85", b"\x86", b"\x87"


def long1(n):
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


def punycode():
    """_codecs.encode(10,000 distinct CJK characters, 'punycode'): 68 s of CPU
    (quadratic: 100,000 characters, a 300 kB pickle, take hours)."""
    s = "".join(chr(0x4E00 + i) for i in range(10000))
    return PROTO + glob("_codecs", "encode") + text(s) + text("punycode") + TUPLE2 + REDUCE + STOP


def numpy_scalar_void():
    """numpy.core.multiarray.scalar(numpy.dtype('V2147483647')): 2 GiB zero-filled per call."""
    dtype = glob("numpy", "dtype") + text("V2147483647") + TUPLE1 + REDUCE
    one = glob("numpy.core.multiarray", "scalar") + dtype + TUPLE1 + REDUCE
    return PROTO + MARK + one * 8 + b"l" + STOP  # a list of eight: 16 GiB


def numpy_reconstruct_shape():
    """_reconstruct(ndarray, (2**31,), dtype('O')): 16 GiB of address space, 21 s to free."""
    dtype = glob("numpy", "dtype") + text("O") + TUPLE1 + REDUCE
    call = glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray") + long1(2 ** 31) + TUPLE1 + \
        dtype + TUPLE3 + REDUCE
    return PROTO + call + STOP


def pandas_rangeindex():
    """Index.__new__(Index, data=RangeIndex(0, 2**31), dtype='float64'): materialises 2**31 floats (16 GiB)."""
    rng = glob("pandas.core.indexes.base", "_new_Index") + glob("pandas.core.indexes.range", "RangeIndex") + \
        EMPTY_DICT + MARK + text("start") + b"K\x00" + text("stop") + long1(2 ** 31) + text("step") + b"K\x01" + \
        SETITEMS + TUPLE2 + REDUCE
    idx = glob("pandas.core.indexes.base", "_new_Index") + glob("pandas.core.indexes.base", "Index") + \
        EMPTY_DICT + MARK + text("data") + rng + text("dtype") + text("float64") + SETITEMS + TUPLE2 + REDUCE
    return PROTO + idx + STOP


def punycode_bytes():
    """bytes(10,000 distinct CJK characters, 'punycode'): str.encode runs the same codec."""
    s = "".join(chr(0x4E00 + i) for i in range(10000))
    return PROTO + glob("builtins", "bytes") + text(s) + text("punycode") + TUPLE2 + REDUCE + STOP


def punycode_bytearray():
    """bytearray(10,000 distinct CJK characters, 'punycode'), as bytes."""
    s = "".join(chr(0x4E00 + i) for i in range(10000))
    return PROTO + glob("builtins", "bytearray") + text(s) + text("punycode") + TUPLE2 + REDUCE + STOP


def punycode_through_rebuild_from_type():
    """torch's _rebuild_from_type_v2(_codecs.encode, Tensor, (text, 'punycode'), {}) calls
    _codecs.encode(text, 'punycode') itself (invokes, star_args)."""
    s = "".join(chr(0x4E00 + i) for i in range(10000))
    call = glob("torch._tensor", "_rebuild_from_type_v2") + MARK + glob("_codecs", "encode") + \
        glob("torch", "Tensor") + text(s) + text("punycode") + TUPLE2 + EMPTY_DICT + TUPLE + REDUCE
    return PROTO + call + STOP


def numpy_scalar_void_through_generator_ctor():
    """numpy's __generator_ctor(dtype('V2147483647'), scalar) calls scalar(dtype) itself (invokes, pass_arg)."""
    dtype = glob("numpy", "dtype") + text("V2147483647") + TUPLE1 + REDUCE
    call = glob("numpy.random._pickle", "__generator_ctor") + dtype + glob("numpy.core.multiarray", "scalar") + \
        TUPLE2 + REDUCE
    return PROTO + call + STOP


def numpy_reconstruct_nested_shape():
    """_reconstruct(ndarray, [2**16, 2**15], 'O'): the shape as a list, its integers one level down (2**31 slots)."""
    dtype = glob("numpy", "dtype") + text("O") + TUPLE1 + REDUCE
    shape = b"]" + MARK + b"J" + struct.pack("<i", 2 ** 16) + b"J" + struct.pack("<i", 2 ** 15) + b"e"
    call = glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray") + shape + dtype + TUPLE3 + REDUCE
    return PROTO + call + STOP


def numpy_reconstruct_shape_through_rebuild_from_type():
    """_rebuild_from_type_v2(_reconstruct, Tensor, (ndarray, (2**31,), dtype('O')), {}) (invokes, star_args)."""
    dtype = glob("numpy", "dtype") + text("O") + TUPLE1 + REDUCE
    args = glob("numpy", "ndarray") + long1(2 ** 31) + TUPLE1 + dtype + TUPLE3
    call = glob("torch._tensor", "_rebuild_from_type_v2") + MARK + glob("numpy.core.multiarray", "_reconstruct") + \
        glob("torch", "Tensor") + args + EMPTY_DICT + TUPLE + REDUCE
    return PROTO + call + STOP


def numpy2_scalar_void():
    """numpy._core.multiarray.scalar(dtype('V2147483647')): numpy 2's spelling."""
    return numpy_scalar_void().replace(b"numpy.core.multiarray", b"numpy._core.multiarray")


def numpy2_reconstruct_shape():
    """numpy._core.multiarray._reconstruct(ndarray, (2**31,), dtype('O')): numpy 2's spelling."""
    return numpy_reconstruct_shape().replace(b"numpy.core.multiarray", b"numpy._core.multiarray")


def numpy_mareconstruct_shape():
    """numpy.ma's _mareconstruct(MaskedArray, ndarray, (2**31,), dtype('O')) runs ndarray.__new__(ndarray,
    (2**31,), 'O') and a mask of that shape: as _reconstruct."""
    dtype = glob("numpy", "dtype") + text("O") + TUPLE1 + REDUCE
    call = glob("numpy.ma.core", "_mareconstruct") + MARK + glob("numpy.ma.core", "MaskedArray") + \
        glob("numpy", "ndarray") + long1(2 ** 31) + TUPLE1 + dtype + TUPLE + REDUCE
    return PROTO + call + STOP


BININT1, BINPUT, BINGET, EMPTY_LIST, APPENDS, BUILD, SHORT_BINBYTES = b"K", b"q", b"h", b"]", b"e", b"b", b"C"


def re_compile_calls(n, first=0):
    """n calls of re._compile(pattern, 0), each pattern distinct and within the nltk entry's bounds, in a list:
    the callable memoised, each call its own pattern (about 35 bytes a call)."""
    out = glob("re", "_compile") + BINPUT + b"\x00" + b"0" + EMPTY_LIST + MARK  # memoised, POPped
    for i in range(first, first + n):
        out += BINGET + b"\x00" + text(rf"^w{i}[0-9]+(\.[0-9]+)?$") + BININT1 + b"\x00" + TUPLE2 + REDUCE
        if (i - first) % 1000 == 999:
            out += APPENDS + MARK
    return PROTO + out + APPENDS + STOP


def re_compile_repeated():
    """10,000 re._compile calls of distinct patterns its entry allows (each at most 64 characters): 3.4 s of
    compiling for a 350 kB pickle; the entry's cost (500 units each) is past [limits] max_call_cost (2**21)."""
    return re_compile_calls(10000)


def re_compile_spread_over_streams():
    """The same calls spread over three pickles, 4,000 each (each alone within the budget): a reader calling
    pickle.load three times compiles them all, and the streams of one load share the budget."""
    return b"".join(re_compile_calls(4000, k * 4000) for k in range(3))


def re_compile_one_stream_of_spread():
    """One of the three pickles above: 4,000 calls (2,000,000 units) are within the budget."""
    return re_compile_calls(4000)


def numpy_reconstruct_repeated():
    """1,100,000 empty arrays, each _reconstruct(ndarray, (0,), b'b') and its BUILD (cost 1 each, about a
    microsecond together), everything memoised: 8 bytes an array, 2.2 million units (past 2**21)."""
    dtype = glob("numpy", "dtype") + text("f8") + b"\x89\x88" + TUPLE3 + REDUCE  # dtype('f8', False, True)
    # the state tuple (1, (0,), dtype, False, b'') built with MARK ... TUPLE
    head = glob("numpy.core.multiarray", "_reconstruct") + BINPUT + b"\x00" + \
        glob("numpy", "ndarray") + b"K\x00" + TUPLE1 + SHORT_BINBYTES + b"\x01b" + TUPLE3 + BINPUT + b"\x01" + \
        MARK + b"K\x01" + b"K\x00" + TUPLE1 + dtype + b"\x89" + SHORT_BINBYTES + b"\x00" + b"t" + BINPUT + b"\x02" + \
        b"0"  # POP the state: it is fetched by BINGET for each BUILD
    one = BINGET + b"\x00" + BINGET + b"\x01" + REDUCE + BINGET + b"\x02" + BUILD
    body = (one * 1000 + APPENDS + MARK) * 1100
    return b"\x80\x03" + head + EMPTY_LIST + MARK + body + APPENDS + STOP


def pandas_new_index_calls(n):
    """n calls of _new_Index(Index, {'data': [1, 2, 3], 'name': None}), the callable and its argument tuple
    memoised: 5 bytes a call."""
    args = glob("pandas.core.indexes.base", "Index") + EMPTY_DICT + MARK + text("data") + b"]" + MARK + \
        b"K\x01K\x02K\x03" + APPENDS + text("name") + b"N" + SETITEMS + TUPLE2
    head = glob("pandas.core.indexes.base", "_new_Index") + BINPUT + b"\x00" + b"0" + args + BINPUT + b"\x01" + b"0"
    one = BINGET + b"\x00" + BINGET + b"\x01" + REDUCE
    body = b"".join(one * min(1000, n - k) + APPENDS + MARK for k in range(0, n, 1000))
    return PROTO + head + EMPTY_LIST + MARK + body + APPENDS + STOP


def pandas_new_index_repeated():
    """70,000 Index constructions through _new_Index (15 to 40 us each, 5 bytes each: about 2 s from 350 kB);
    cost 30 each, and the Index instantiated 1: 2.17 million units, past 2**21."""
    return pandas_new_index_calls(70000)


def pandas_new_index_few():
    """1,000 of the same Index constructions: 31,000 units, within the budget."""
    return pandas_new_index_calls(1000)



LONG_BINPUT, POP_MARK = b"r", b"1"


def memoised_argument_calls(callee, arg, n, keep=True):
    """n calls callee(arg), the callee and its argument memoised (5 bytes a call), the results kept in a list
    (each result alive at once) or popped."""
    head = callee + LONG_BINPUT + struct.pack("<I", 0) + b"0" + arg + LONG_BINPUT + struct.pack("<I", 1) + b"0"
    one = BINGET + b"\x00" + BINGET + b"\x01" + TUPLE1 + REDUCE
    return PROTO + head + (EMPTY_LIST + MARK + one * n + APPENDS if keep else MARK + one * n + POP_MARK + b"N") + STOP


def int_list(n):
    """[0, 1, ..., n - 1] (3 bytes an item, BININT2)."""
    return EMPTY_LIST + MARK + b"".join(b"M" + struct.pack("<H", k % 65536) for k in range(n)) + APPENDS


def counter_of_memoised_list():
    """collections.Counter(L) 1,000 times, L one memoised list of 10,000 items: each call counts L again
    (the red team's 10,000 calls of a 65,536-item list took 34 s of CPU from 257 kB); 10 million units."""
    return memoised_argument_calls(glob("collections", "Counter"), int_list(10000), 1000, keep=False)


def bytearray_size_repeated():
    """bytearray(1048576) 1,200 times, the results kept: each call within max_int_arg, 1.2 GiB from 7 kB;
    1048576 / 64 units each, 19.7 million in all."""
    return memoised_argument_calls(glob("builtins", "bytearray"), b"J" + struct.pack("<i", 1048576), 1200)


def set_of_memoised_list():
    """set(L) 600 times, L one memoised list of 65,536 items, the sets kept: 1.2 GiB from 197 kB."""
    return memoised_argument_calls(glob("builtins", "set"), int_list(65536), 600)


def frozenset_of_memoised_list():
    """frozenset(L) 600 times, as set(L): 1.2 GiB."""
    return memoised_argument_calls(glob("builtins", "frozenset"), int_list(65536), 600)


def deque_of_memoised_list():
    """collections.deque(L) 2,000 times, L 65,536 items, kept: 1.1 GiB."""
    return memoised_argument_calls(glob("collections", "deque"), int_list(65536), 2000)


def set_of_memoised_list_once():
    """set(L) once, L 65,536 items: 65,537 units, within the budget."""
    return memoised_argument_calls(glob("builtins", "set"), int_list(65536), 1)


def bytearray_size_few():
    """bytearray(1048576) 100 times (100 MiB): 1.6 million units, within the budget."""
    return memoised_argument_calls(glob("builtins", "bytearray"), b"J" + struct.pack("<i", 1048576), 100)

# (policies, attack, (policy file, the line that bounds it) or None): every
# policy that includes the one fixed must refuse it too. The rows through
# invokes have no line to remove: the shipped entries of these callables do
# not allow "reference", which handing one to another callable is, so they
# are refused twice (tests/unit/judge_cost_test.cpp tests the bounds on that
# path alone, under a policy that allows the reference).
PUNY = ("python.toml", r'args = \[\{ pos = 1, pattern = "latin1\|latin-1" \}\]', 3)  # the third: _codecs.encode
# numpy.toml is generated, sorted by module: numpy._core.* (numpy 2) comes first.
SCALAR = ("numpy.toml", r"min_args = 2", 2)  # the second: numpy.core.multiarray
SHAPE = ("numpy.toml", r'args = \[\{ pos = 1, max_int = 0 \}, \{ pos = 2, pattern = "b" \}\]', 2)
ATTACKS = [
    (["pandas"], pandas_rangeindex, None),
    (["statsmodels"], pandas_rangeindex, None),
    (["python"], punycode, PUNY),
    (["default"], punycode, None),
    (["sklearn"], punycode, None),
    (["python", "pytorch"], punycode_through_rebuild_from_type, None),
    (["python"], punycode_bytes, ("python.toml", PUNY[1], 2)),
    (["default"], punycode_bytes, None),
    (["python"], punycode_bytearray, ("python.toml", PUNY[1], 1)),
    (["numpy"], numpy_scalar_void, SCALAR),
    (["default"], numpy_scalar_void, None),
    (["pandas"], numpy_scalar_void, None),
    (["numpy"], numpy_scalar_void_through_generator_ctor, None),
    (["numpy"], numpy_reconstruct_shape, SHAPE),
    (["default"], numpy_reconstruct_shape, None),
    (["sklearn"], numpy_reconstruct_shape, None),
    (["numpy"], numpy_reconstruct_nested_shape, SHAPE),
    (["numpy", "pytorch"], numpy_reconstruct_shape_through_rebuild_from_type, None),
    (["numpy"], numpy2_scalar_void, ("numpy.toml", SCALAR[1], 1)),
    (["numpy"], numpy2_reconstruct_shape, ("numpy.toml", SHAPE[1], 1)),
    (["numpy"], numpy_mareconstruct_shape, ("numpy.toml", r'args = \[\{ pos = 2, max_int = 0 \}, \{ pos = 3, pattern = "b" \}\]')),
    (["pandas"], numpy_mareconstruct_shape, None),
    # default's numpy part is numpy-data: the same bounds, each tested on its own line there
    (["numpy-data"], numpy_scalar_void, ("numpy-data.toml", SCALAR[1], 1)),
    (["numpy-data"], numpy_reconstruct_shape, ("numpy-data.toml", SHAPE[1], 1)),
    (["numpy-data"], numpy_mareconstruct_shape,
     ("numpy-data.toml", r'args = \[\{ pos = 2, max_int = 0 \}, \{ pos = 3, pattern = "b" \}\]')),
    (["default"], numpy_mareconstruct_shape, None),
    # [limits] max_call_cost: a budget over all the calls of one load, each charging its entry's cost
    (["nltk"], re_compile_repeated, ("nltk.toml", r"cost = 500")),
    (["nltk"], re_compile_spread_over_streams, ("nltk.toml", r"cost = 500")),
    (["pandas"], pandas_new_index_repeated, ("pandas.toml", r"cost = 30")),
    (["numpy"], numpy_reconstruct_repeated, None),
    (["default"], numpy_reconstruct_repeated, None),
    # what each call is handed is charged too (call_cost_budget::handed): the memo hands one argument to many calls.
    # No policy line bounds these: with the judge's handed_units returning 0 every row here is safe.
    (["python"], counter_of_memoised_list, None),
    (["default"], counter_of_memoised_list, None),
    (["python"], bytearray_size_repeated, None),
    (["python"], set_of_memoised_list, None),
    (["python"], frozenset_of_memoised_list, None),
    (["python"], deque_of_memoised_list, None),
    (["sklearn"], deque_of_memoised_list, None),
]
# Benign pickles of the same calls, fewer: safe (each row's calls within the budget, and bounded otherwise).
SAFE = [
    (["nltk"], re_compile_one_stream_of_spread),
    (["pandas"], pandas_new_index_few),
    (["python"], set_of_memoised_list_once),
    (["python"], bytearray_size_few),
]


def scanner_cost_of_many_handings(pickleguard, tmp, failures):
    """The judge itself must not walk a memoised argument again per call: set(L) 10,000 times, L 65,536 items
    (316 kB), drove the scanner to its 8 GB memory limit before. Judged unsafe within 10 s and 512 MiB."""
    path = pathlib.Path(tmp) / "scanner_set_of_memoised_list_10000.pkl"
    path.write_bytes(memoised_argument_calls(glob("builtins", "set"), int_list(65536), 10000, keep=False))
    start = time.monotonic()
    r = subprocess.run([pickleguard, "scan", "--format", "json", "--policy", "python", str(path)],
                       capture_output=True, text=True)
    seconds = time.monotonic() - start
    rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far
    verdict = '"verdict": "unsafe"' in r.stdout or '"verdict":"unsafe"' in r.stdout
    print(f"{path.name} ({path.stat().st_size} bytes) under python: {'unsafe' if verdict else r.stdout[:200]}, "
          f"{seconds:.1f} s, max RSS of the scans so far {rss_mib:.0f} MiB")
    if not verdict:
        failures.append(f"{path.name} is not unsafe under python")
    # Sanitizer builds (the asan and fuzz presets) are slower and bigger, as
    # hostile_resource_sweep's caps say.
    sanitized = any(part in str(pickleguard) for part in ("build-asan", "build-fuzz"))
    max_s, max_mib = (60, 3072) if sanitized else (10, 512)
    if seconds > max_s or rss_mib > max_mib:
        failures.append(f"{path.name}: the scan took {seconds:.1f} s and up to {rss_mib:.0f} MiB "
                        f"(bound {max_s} s, {max_mib} MiB)")
    path.unlink()


def scan(pickleguard, policies, path):
    return scan_verdicts(pickleguard, policies, [path])[str(path)]


def without(tmp, policies, bound):
    """The policies with the bounding line removed from a copy of its file."""
    file, line, nth = (*bound, None)[:3]
    src = (POLICIES / file).read_text()
    hits = list(re.finditer(r"(?m)^" + line + r"\n", src))
    if not hits:
        sys.exit(f"{file} has no line matching {line!r}: update this test")
    if nth is None and len(hits) > 1:
        sys.exit(f"{file} has {len(hits)} lines matching {line!r}: say which (a third item, 1-based)")
    cut_one = hits[(nth or 1) - 1]
    cut = src[:cut_one.start()] + src[cut_one.end():]
    copy = pathlib.Path(tmp) / f"without-{file}"
    copy.write_text(cut)
    stem = file.removesuffix(".toml")
    return [copy if p == stem else p for p in policies] if stem in policies else [copy] + policies


def main():
    args = arguments((["--write"], {"type": pathlib.Path, "help": "also keep the pickles in this folder"}))
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.write or pathlib.Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        scanner_cost_of_many_handings(args.pickleguard, tmp, failures)  # first: RUSAGE_CHILDREN is a maximum so far
        for policies, make, bound in ATTACKS:
            path = out / f"{make.__name__}.pkl"
            path.write_bytes(make())
            verdict = scan(args.pickleguard, policies, path)
            name = "+".join(policies)
            line = f"{make.__name__} under {name}: {verdict} ({path.stat().st_size} bytes)"
            if verdict != "unsafe":
                failures.append(f"{make.__name__} is {verdict} under {name}, must be unsafe")
            if bound:
                ablated = scan(args.pickleguard, without(tmp, policies, bound), path)
                line += f"; without {bound[0]}'s {bound[1]!r}: {ablated}"
                if ablated != "safe":
                    failures.append(f"{make.__name__} is {ablated} under {name} without {bound[0]}'s bound, "
                                    "must be safe: something else refuses it, so the row does not test the bound")
            print(f"{line} -- {' '.join(make.__doc__.split())}")
        for policies, make in SAFE:
            path = out / f"{make.__name__}.pkl"
            path.write_bytes(make())
            verdict = scan(args.pickleguard, policies, path)
            if verdict != "safe":
                failures.append(f"{make.__name__} is {verdict} under {'+'.join(policies)}, must be safe")
            print(f"{make.__name__} under {'+'.join(policies)}: {verdict} ({path.stat().st_size} bytes) -- "
                  f"{' '.join(make.__doc__.split())}")
    return report(failures)


if __name__ == "__main__":
    sys.exit(main())
