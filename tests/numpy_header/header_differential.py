#!/usr/bin/python3
"""The .npy header differential: pickleguard's reading against numpy's own.

For thousands of headers — written by numpy.lib.format for real arrays of many
dtypes (scalars, strings, datetimes, structures with titles, padding, aligned
offsets, nesting, subarrays, objects anywhere), then rewritten by hand with
the liberties a Python literal allows (escapes, prefixes, implicit
concatenation, comments, odd spacing, trailing commas, Python 2 'L'
suffixes, repeated keys) — numpy's header parser
(numpy.lib.format._read_array_header, which ends in descr_to_dtype and
numpy.dtype; dtype construction never unpickles) is the reference:

  * where numpy accepts a header, pickleguard's hasobject, itemsize, shape and
    fortran_order must equal numpy's; a refusal ("unsupported") is allowed only
    for the constructs pickleguard refuses by design (REFUSED below) and is
    counted;
  * where numpy rejects a header, pickleguard must never read it as an array
    without objects (that would be "safe").

Run: header_differential.py --probe build/tests/npy_header_probe
"""
import argparse
import io
import random
import struct
import subprocess
import sys
import warnings

import numpy as np
from numpy.lib import format as F

warnings.simplefilter("ignore")

# Constructs pickleguard refuses on purpose (fail closed, reported as
# npy-header-unreadable): a refusal of a header numpy accepts must name one.
REFUSED = (
    "\\N{...} escapes",
    "not plain digits",             # strtol's spaces and signs: 'f 8', 'U-1'
    "a union with another dtype",
    "is not an int or a tuple of ints",
    "a bool as a shape or size",
    "complex numbers",
    "dict or set",
    "negative or huge itemsize",
    "carriage returns",
    "datetime unit",
    "a field title that is not",
    "octal escape above",
)

SCALARS = ["?", "b", "B", "<i2", ">i2", "<u4", ">i8", "<u8", "<f2", "<f4", ">f8", "<f16", "<c8", ">c16", "<c32",
           "O", "S0", "S1", "S7", "<U1", ">U5", "V0", "V3", "V16", "<M8[ns]", ">M8[D]", "<m8[us]", "<M8", "<m8[15s]"]


def random_dtype(rng, depth=0):
    """A random numpy dtype: scalar, subarray, or structure (nested, titled, padded, aligned)."""
    r = rng.random()
    if depth > 2 or r < 0.45:
        return np.dtype(rng.choice(SCALARS))
    if r < 0.6:
        shape = rng.choice([(2,), (3, 2), (1,), (0,), (2, 1, 2)])
        try:
            return np.dtype((random_dtype(rng, depth + 1), shape))
        except Exception:  # ('S0', (2,)) and friends
            return np.dtype(rng.choice(SCALARS))
    n = rng.randint(1, 4)
    names, formats, titles = [], [], []
    for i in range(n):
        names.append(rng.choice(["a", "b", "x%d" % i, "f%d" % i, "ünï", "名前", "sp ace", "q'uote", 'dq"', "back\\slash"]) + str(i))
        formats.append(random_dtype(rng, depth + 1))
        titles.append(rng.choice([None, None, "t%d" % i, "τ%d" % i]))
    spec = {"names": names, "formats": formats}
    if any(t is not None for t in titles):
        spec["titles"] = titles
    style = rng.random()
    if style < 0.3:
        # explicit offsets with gaps: descr gets ('', '|Vn') padding fields
        off, offsets = 0, []
        for f in formats:
            off += rng.choice([0, 1, 3, 8])
            offsets.append(off)
            off += f.itemsize
        spec["offsets"] = offsets
        spec["itemsize"] = off + rng.choice([0, 0, 5])
        try:
            return np.dtype(spec)
        except Exception:
            spec.pop("offsets"), spec.pop("itemsize")
    try:
        return np.dtype(spec, align=style > 0.7)
    except Exception:
        return np.dtype(rng.choice(SCALARS))


def header_bytes(text, version):
    """The first bytes of an .npy file whose header is `text` (padding as given)."""
    enc = text.encode("latin1" if version < (3, 0) else "utf8")
    fmt = "<H" if version == (1, 0) else "<I"
    return F.magic(*version) + struct.pack(fmt, len(enc)) + enc


def written_headers(rng, count):
    """Headers numpy writes for real (empty) arrays of random dtypes and shapes."""
    out = []
    for i in range(count):
        dt = random_dtype(rng)
        shape = rng.choice([(), (0,), (3,), (2, 5), (1, 1, 7), (4, 0, 2), (2**40,)])
        order = rng.choice(["C", "F"])
        if int(np.prod(shape)) * max(dt.itemsize, 1) < 1 << 20:
            d = F.header_data_from_array_1_0(np.empty(shape, dt, order=order))  # what np.save writes
        else:
            d = {"descr": F.dtype_to_descr(dt), "fortran_order": order == "F" and len(shape) > 1, "shape": shape}
        for version in [(1, 0), (2, 0), (3, 0)]:
            buf = io.BytesIO()
            try:
                F._write_array_header(buf, d, version)
            except Exception:
                continue
            out.append(("written", buf.getvalue()))
    return out


def escape_variants(s, rng):
    """Spellings of the str literal `s` that Python reads as `s`."""
    forms = [repr(s), '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"']
    if s and all(ord(c) < 128 for c in s):
        forms.append("'" + "".join("\\x%02x" % ord(c) for c in s) + "'")
        forms.append("'" + "".join("\\%o" % ord(c) for c in s) + "'")
        forms.append("b" + repr(s) if False else "u" + repr(s))
        forms.append("'" + "".join("\\u%04x" % ord(c) for c in s) + "'")
        forms.append("'" + "".join("\\U%08x" % ord(c) for c in s) + "'")
        forms.append("'''" + s.replace("\\", "\\\\").replace("'", "\\'") + "'''")
        if len(s) > 1:
            k = rng.randint(1, len(s) - 1)
            forms.append(repr(s[:k]) + " " + repr(s[k:]))
            forms.append(repr(s[:k]) + repr(s[k:]))
            forms.append("(" + repr(s[:k]) + "\n  " + repr(s[k:]) + ")")
        if "\\" not in s and "'" not in s:
            forms.append("r'" + s + "'")
            forms.append("R'" + s + "'")
    return forms


def literal(v, rng, style):
    """Python source for value v, in a random but equivalent spelling."""
    sp = lambda: rng.choice(["", " ", "  ", "\t", " \n ", " # c\n "]) if style else ""
    if isinstance(v, str):
        return rng.choice(escape_variants(v, rng)) if style else repr(v)
    if isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        if not style:
            return repr(v)
        return rng.choice([repr(v), hex(v) if v >= 0 else repr(v), "0o%o" % v if v >= 0 else repr(v),
                           "0b{:b}".format(v) if v >= 0 else repr(v), "(%r)" % v, "+%d" % v if v >= 0 else repr(v),
                           "{:_}".format(v)])
    if isinstance(v, tuple):
        items = [literal(x, rng, style) for x in v]
        if len(items) == 1:
            return "(" + sp() + items[0] + sp() + "," + sp() + ")"
        tail = rng.choice(["", ","]) if style else ""
        return "(" + sp() + ("," + sp()).join(items) + tail + sp() + ")"
    if isinstance(v, list):
        tail = rng.choice(["", ","]) if style else ""
        return "[" + sp() + ("," + sp()).join(literal(x, rng, style) for x in v) + tail + sp() + "]"
    if isinstance(v, dict):
        items = list(v.items())
        if style:
            rng.shuffle(items)
        tail = rng.choice(["", ","]) if style else ""
        return "{" + sp() + ("," + sp()).join(literal(k, rng, style) + sp() + ":" + sp() + literal(x, rng, style)
                                              for k, x in items) + tail + sp() + "}"
    return repr(v)


def handmade(rng):
    """Rewritten headers and hand-made descriptors, many of which numpy rejects."""
    out = []
    descrs = ["O", "|O", "O8", "O4", "object", "object_", "f8,O", "(2,)O", "2O", "(2)O", "f8,", "O,", "()f8",
              "(0,)f8", "1f8", "0f8", "i1,(2,3)O", "S1,S2", "V3,O", "O,V3", "f8, i4", " f8", "f8 ", ",f8", "<f8,>i4",
              "<f8,<i4", "2,3f8", "(2,3)<f4", "<(2,)f8", "=f8,|O", "M8[ns],O", "f 8", "f+8", "U-1", "S-1", "i0", "O0",
              "?1", "b2", "b1", "a", "a5", "c", "float64", "<float64", "int", "str", "bytes", "void", "Str", "||f8",
              "<>f8", "datetime64[ns]", "timedelta64", "M8[2ns]", "M8[xs]", "Object0", "\u00d8", "",
              ["aO"], {"aO": 1}, ["aO2"], [("a", "O")], [("a", "f8", 2)], [("a", "f8", (2, 3))], [("a", "f8", 1)],
              [("a", "f8", 0)], [("a", "f8", ())], [("a", "f8", -1)], [("", "V8"), ("a", "O")], [("", "f8"), ("a", "O")],
              [("a", "f8"), ("a", "O")], [(("t", "a"), "f8")], [(("a", "a"), "f8")], [(("b", "a"), "f8"), ("b", "O")],
              [((1, "a"), "f8")], [(1, "f8")], [(b"a", "f8")], [("a", b"f8")], ("f8", 2), ("f8", (2,)), ("O", 3),
              ("O", [("x", "O")]), ("f8", 1), ("f8", ()), ("f8", -1), ("f8", "O"), ("f8", "i8"), [("a", [("b", "O")])],
              [("a", ("f8", 2))], [("a", "f8,O")], [], (), [()], [("a",)], [("a", "f8", 2, 3)], ["a"], 1, None, True,
              b"O", {"O"}, [("", "(2,)O")], [("", "O", 2)], [("", ("O", 2))], [("", "V0")], [("", "O")], ("S", 5),
              ("U", 3), ("V", 8), ("S", (2,)), [("a", "S")], ("f8", True), ("f8", [2]), ("f8", (True,)),
              ("f8", 2, "junk"), [["a", "O"]], [("a", "O", (2,)), ("b", "<f8")], ("f8", (2**31,)), ("O", (1,)),
              [("a", [("b", [("c", [("d", "O")])])])], ("f8,O", 2), ("(2,)f8", 3), [("ä", "O")], [("a", "<U3")]]
    for descr in descrs:
        for shape in [(), (3,)]:
            d = {"descr": descr, "fortran_order": False, "shape": shape}
            for style in [0, 1, 1]:
                out.append(("handmade", header_bytes(literal(d, rng, style) + "\n", (1, 0))))
                out.append(("handmade", header_bytes(literal(d, rng, style) + "\n", (3, 0))))
    base = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"
    texts = [
        base, base.replace("(3,)", "(3L,)"), base.replace("(3,)", "(3 L,)"), base.replace("(3,)", "(0x3L,)"),
        base.replace("(3,)", "(01,)"), base.replace("(3,)", "(00,)"), base.replace("(3,)", "(True, 2)"),
        base.replace("(3,)", "(-1,)"), base.replace("(3,)", "(+3,)"), base.replace("(3,)", "(- 3,)"),
        base.replace("(3,)", "(1_0,)"), base.replace("(3,)", "(1__0,)"), base.replace("(3,)", "(3.0,)"),
        base.replace("(3,)", "[3]"), base.replace("(3,)", "3"), base.replace("(3,)", "(2**70,)"),
        base.replace("(3,)", "(%d,)" % 2**70), base.replace("(3,)", "(3j,)"), base.replace("(3,)", "(1+2j,)"),
        base.replace("False", "0"), base.replace("False", "None"), base.replace("False", "false"),
        "\n" + base, base + "\n  \n", "  \t" + base, base + ", ", base + " # trailing", base + "\n#x\n",
        base.replace(", 'shape'", ", # c\n 'shape'"), base.replace("'<f8'", "'<' 'f8'"), base.replace("'<f8'", "b'<f8'"),
        base.replace("'<f8'", "'<f8' b''"), base.replace("'<f8'", "f'<f8'"), base.replace("'<f8'", "u'<f8'"),
        base.replace("'<f8'", "ur'<f8'"), base.replace("'<f8'", "'\\x4f'"), base.replace("'<f8'", "'\\117'"),
        base.replace("'<f8'", "'\\N{LATIN CAPITAL LETTER O}'"), base.replace("'<f8'", "'\\q'"),
        base.replace("'<f8'", "'\\\nO'"), base.replace("'<f8'", "'O\\\n'"), base.replace("'<f8'", "'''O'''"),
        base.replace("'<f8'", "\"O\""), base.replace("'<f8'", "'<f8', 'descr': 'O'"),
        base.replace("'<f8'", "'O', 'descr': '<f8'"), base.replace("'<f8'", "'<f8', 'x': 1"),
        base.replace("{", "{1: 2, "), base.replace("{", "{[1]: 2, "), "{'descr': '<f8', 'fortran_order': False}",
        base + "\\\n", base.replace("(3,)", "(3,\\\n)"), base.replace("'<f8'", "'\u00d8'"), base.replace("'", '"'),
        base.replace("'<f8'", "('O', 2)"), base.replace("'<f8'", "[('a', 'O')]"), base.replace("'<f8'", "{'aO': 1}"),
        base.replace("'<f8'", "{'aO', 'bf8'}"), base.replace("'<f8'", "set()"), base.replace("'<f8'", "..."),
        base.replace("'<f8'", "r'\\x4f'"), base.replace("'<f8'", "'\\x4'"), base.replace("'<f8'", "'\\U00110000'"),
        base.replace("'<f8'", "'O\x00'"), base.replace("'<f8'", "'O'\x00"), base.replace("'<f8'", "'O'\r"),
        base.replace("'<f8'", "'O'\f"), "(" + base + ")", "((" + base + "),)", "[" + base + "]", "", "   ", "{}",
        base.replace("'<f8'", "-'O'"), base.replace("(3,)", "(--3,)"), base.replace("(3,)", "(-(3),)"),
        base.replace("(3,)", "(3 ,)"), base.replace("(3,)", "( 3 , )"), base.replace("(3,)", "(,)"),
        base.replace("(3,)", "()"), base.replace("(3,)", "(())"), base.replace("(3,)", "((3,),)"),
        base.replace("'<f8'", "'<f8'#'O'"), base.replace("'<f8'", "'O' # '<f8'"),
        base.replace("'<f8'", "'\\u004f'"), base.replace("'<f8'", "'\\U0000004f'"), base.replace("'<f8'", "'\\x4F'"),
        base.replace("'<f8'", "'\\117' ''"), base.replace("'<f8'", "'' '\\117'"),
    ]
    for t in texts:
        for version in [(1, 0), (2, 0), (3, 0)]:
            try:
                out.append(("handmade", header_bytes(t, version)))
            except UnicodeEncodeError:
                pass
    out.append(("handmade", F.magic(1, 1) + header_bytes(base, (1, 0))[8:]))
    out.append(("handmade", F.magic(4, 0) + header_bytes(base, (2, 0))[8:]))
    out.append(("handmade", header_bytes(base, (3, 0))[:-1] + b"\xff"))
    return out


def numpy_reading(blob):
    """numpy.lib.format's reading of the header: (shape, fortran_order, dtype) or None when it raises."""
    fp = io.BytesIO(blob)
    try:
        version = F.read_magic(fp)
        F._check_version(version)
        shape, fortran, dtype = F._read_array_header(fp, version, max_header_size=2**64)
        return shape, fortran, dtype, fp.tell()
    except Exception:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", required=True)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--arrays", type=int, default=1500)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    cases = written_headers(rng, args.arrays)
    # Rewrite some written headers in other spellings.
    for _, blob in list(cases[:: 7]):
        got = numpy_reading(blob)
        if got is None:
            continue
        shape, fortran, dtype, _ = got
        d = {"descr": F.dtype_to_descr(dtype), "fortran_order": fortran, "shape": shape}
        try:
            cases.append(("rewritten", header_bytes(literal(d, rng, 1) + "\n", (3, 0))))
        except Exception:
            pass
    cases += handmade(rng)
    proc = subprocess.run([args.probe], input="".join(b.hex() + "\n" for _, b in cases), capture_output=True,
                          text=True, check=True)
    lines = proc.stdout.splitlines()
    assert len(lines) == len(cases), (len(lines), len(cases))
    stats = {"accepted": 0, "rejected": 0, "equal": 0, "refused": 0, "objects": 0}
    failures = []
    for (origin, blob), line in zip(cases, lines):
        ref = numpy_reading(blob)
        ours = line.split(" ", 6)
        if ref is None:
            stats["rejected"] += 1
            if ours[0] == "ok" and ours[1] == "0":
                failures.append(("numpy rejects, pickleguard reads an array without objects", origin, blob, line))
            continue
        stats["accepted"] += 1
        shape, fortran, dtype, data_at = ref
        stats["objects"] += bool(dtype.hasobject)
        if ours[0] != "ok":
            if ours[1] == "unsupported" and any(r in line for r in REFUSED):
                stats["refused"] += 1
                continue
            failures.append(("numpy accepts, pickleguard refuses", origin, blob, line))
            continue
        want = "ok %d %d %d %d %s" % (dtype.hasobject, dtype.itemsize, fortran, data_at,
                                        ",".join(str(int(x)) for x in shape))
        if line != want:
            failures.append(("different reading (numpy: %s)" % want, origin, blob, line))
        else:
            stats["equal"] += 1
    print("%d headers: %d accepted by numpy (%d with objects), %d equal, %d refused by design; %d rejected by numpy"
          % (len(cases), stats["accepted"], stats["objects"], stats["equal"], stats["refused"], stats["rejected"]))
    for why, origin, blob, line in failures[:40]:
        print("FAIL %s [%s]\n  header: %r\n  pickleguard: %s" % (why, origin, blob[8:][:300], line))
    if failures:
        print("%d failures" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
