#!/usr/bin/python3
"""Issue 12 classes 1 and 2: one test per technique, built byte by byte.

Each technique builds a file that numpy.load(allow_pickle=True) or
joblib.load would turn into a call of os.system, proves it with the loader's
own reading code and a recording stand-in that never runs anything
(numpy.lib.format._read_array_header + dtype.hasobject, then a stub
find_class; joblib's NumpyUnpickler with NumpyArrayWrapper.read_array
replaced by a recorder), then checks that `pickleguard scan` finds the
payload where the loader reaches it.

Run: bypass_test.py --pickleguard build/tools/pickleguard TECHNIQUE  (or --list)
"""
import argparse
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile

from numpy.lib import format as F
import numpy as np

# cos\nsystem\n + 'id' + TUPLE1 + REDUCE + STOP: os.system('id'), protocol 2.
PAYLOAD = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."


class Recorder(pickle._Unpickler):
    """pickle.load's reading, where find_class records and returns inert stand-ins."""

    def __init__(self, f, seen):
        super().__init__(f)
        self.seen = seen

    def find_class(self, module, name):
        self.seen.append((module, name))
        return lambda *a, **k: ("called", module, name, a)


def npy(header_text, data, version=(1, 0)):
    """An .npy file, byte by byte: magic, version, length, header text, data."""
    enc = header_text.encode("latin1" if version < (3, 0) else "utf8")
    fmt = "<H" if version == (1, 0) else "<I"
    return F.magic(*version) + struct.pack(fmt, len(enc)) + enc + data


def padded(data, unit=8):
    """The payload and zeros up to a multiple of `unit`: a header whose dtype
    was read as unit-byte items without objects would cover it exactly."""
    return data + b"\0" * (-len(data) % unit)


def npy_header_case(descr_source, version=(1, 0), items=None):
    data = padded(PAYLOAD)
    count = len(data) // 8 if items is None else items
    text = "{'descr': %s, 'fortran_order': False, 'shape': (%d,), }\n" % (descr_source, count)
    return npy(text, data, version)


def prove_npy(blob):
    """numpy's own header parser: the dtype holds objects, so read_array
    would pickle.load at data_at; the recorder shows what that load calls."""
    fp = io.BytesIO(blob)
    version = F.read_magic(fp)
    shape, fortran, dtype = F._read_array_header(fp, version, max_header_size=2**64)
    assert dtype.hasobject, "numpy would not unpickle this: %r" % (dtype,)
    seen = []
    Recorder(fp, seen).load()
    assert ("os", "system") in seen, seen
    return "numpy: dtype %r holds objects; pickle.load at offset %d reaches os.system" % (dtype, len(blob) - len(padded(PAYLOAD)))


def prove_npz(blob):
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        for name in z.namelist():
            return prove_npy(z.read(name))


# ---- joblib ---------------------------------------------------------------------------------

def sbu(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def dtype_call(type_string, state=None):
    """numpy.dtype(type_string, False, True), with a BUILD state when given (protocol 4 opcodes)."""
    out = sbu("numpy") + sbu("dtype") + b"\x93" + sbu(type_string) + b"\x89\x88\x87R"
    if state is not None:
        out += state + b"b"
    return out


def wrapper(dict_items, slot_items=None):
    """NumpyArrayWrapper.__new__ via NEWOBJ, then BUILD with a dict state
    (and a slot state): as joblib's pickler writes it, by hand."""
    out = sbu("joblib.numpy_pickle") + sbu("NumpyArrayWrapper") + b"\x93)\x81"

    def dict_of(items):
        d = b"}("
        for k, v in items:
            d += sbu(k) + v
        return d + b"u"

    state = dict_of(dict_items)
    if slot_items is not None:
        state += dict_of(slot_items) + b"\x86"
    return out + state + b"b"


def common_fields(dtype_bytes, shape=b"K\x01\x85", alignment=b"N"):
    return [("subclass", sbu("numpy") + sbu("ndarray") + b"\x93"), ("shape", shape), ("order", sbu("C")),
            ("dtype", dtype_bytes), ("allow_mmap", b"\x89"), ("numpy_array_alignment_bytes", alignment)]


def joblib_stream(body, after=b"."):
    return b"\x80\x04" + body + after


def prove_joblib(blob, expect_frame_end=None):
    """joblib's NumpyUnpickler, with read_array replaced by a recorder that
    reads what joblib reads and runs the nested pickle.load through Recorder."""
    from joblib import numpy_pickle as jnp

    seen, reads = [], []

    class RecordingWrapper(jnp.NumpyArrayWrapper):
        def read_array(self, unpickler):
            fh = unpickler.file_handle
            reads.append((fh.tell(), bool(self.dtype.hasobject)))
            if self.dtype.hasobject:
                Recorder(fh, seen).load()  # joblib: pickle.load(unpickler.file_handle)
                return "object array"
            align = self.safe_get_numpy_array_alignment_bytes()
            if align is not None:
                pad = fh.read(1)
                fh.read(int.from_bytes(pad, "little"))
            count = int(np.multiply.reduce([np.int64(x) for x in self.shape])) if len(self.shape) else 1
            fh.read(count * self.dtype.itemsize)
            return "raw array"

    class Stub(jnp.NumpyUnpickler):
        def find_class(self, module, name):
            seen.append((module, name))
            if (module, name) == ("joblib.numpy_pickle", "NumpyArrayWrapper"):
                return RecordingWrapper
            if (module, name) in {("numpy", "dtype"), ("numpy", "ndarray")}:
                return getattr(np, name)  # building a dtype never unpickles
            return lambda *a, **k: ("called", module, name, a)

    fh = io.BytesIO(blob)
    Stub("x.joblib", fh).load()
    assert ("os", "system") in seen, (seen, reads)
    if expect_frame_end is not None:
        assert reads and reads[0][0] == expect_frame_end, reads
    return "joblib: array reads at %r; os.system reached" % (reads,)


def case_joblib_nested(dtype_bytes, slot_items=None, dict_dtype=None):
    fields = common_fields(dict_dtype if dict_dtype is not None else dtype_bytes)
    slots = None if slot_items is None else slot_items
    if slot_items is not None and dict_dtype is not None:
        slots = [("dtype", dtype_bytes)]
    body = wrapper(fields, slots)
    return joblib_stream(body, PAYLOAD + b".")


def frame_case():
    """A wrapper BUILD inside a frame that goes on (a POP after it): joblib
    reads the 8 array bytes from the frame's end, then the POP, then the
    payload after the array."""
    inner = wrapper(common_fields(dtype_call("<f8")))
    framed = inner + b"0" + b"N"  # POP the array, push None
    frame = b"\x95" + struct.pack("<Q", len(framed)) + framed
    blob = b"\x80\x04" + frame + b"\0" * 8 + b"0" + PAYLOAD[2:]
    return blob, 2 + 9 + len(framed)


TECHNIQUES = {}


def technique(name, policy, want_rule, want_member):
    def deco(fn):
        TECHNIQUES[name] = (fn, policy, want_rule, want_member)
        return fn
    return deco


@technique("npy_structured_comma_string", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("'f8,O'")
    return b, prove_npy(b)


@technique("npy_structured_list_descr", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("[('a', '<f8'), ('b', '|O')]")
    return b, prove_npy(b)


@technique("npy_subarray_string", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("'(2,)O'")
    return b, prove_npy(b)


@technique("npy_subarray_repeat_prefix", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("'2O'")
    return b, prove_npy(b)


@technique("npy_nested_structure", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("[('a', [('b', [('c', '|O')])])]")
    return b, prove_npy(b)


@technique("npy_aligned_structure_with_padding", "numpy", "global-not-allowed", "object array")
def _():
    descr = F.dtype_to_descr(np.dtype({"names": ["a", "b"], "formats": ["i1", "O"]}, align=True))
    b = npy_header_case(repr(descr))
    return b, prove_npy(b)


@technique("npy_subarray_field", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("[('a', '<f8'), ('b', '|O', (2,))]")
    return b, prove_npy(b)


@technique("npy_descr_hex_escape", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("'\\x4f'")
    return b, prove_npy(b)


@technique("npy_descr_octal_escape", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("'\\117'")
    return b, prove_npy(b)


@technique("npy_descr_unicode_escape_v3", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("'\\u004f'", version=(3, 0))
    return b, prove_npy(b)


@technique("npy_descr_implicit_concatenation", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("'|' \"O\"")
    return b, prove_npy(b)


@technique("npy_descr_type_name", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("'object_'")
    return b, prove_npy(b)


@technique("npy_two_character_field_string", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("['aO']")
    return b, prove_npy(b)


@technique("npy_dict_descr_keys", "numpy", "global-not-allowed", "object array")
def _():
    b = npy_header_case("{'aO': 1}")
    return b, prove_npy(b)


@technique("npy_repeated_descr_key", "numpy", "global-not-allowed", "object array")
def _():
    data = padded(PAYLOAD)
    text = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), 'descr': 'O'}\n" % (len(data) // 8)
    b = npy(text, data)
    return b, prove_npy(b)


@technique("npy_named_escape_fails_closed", "numpy", "global-not-allowed", "after an unreadable header")
def _():
    b = npy_header_case("'\\N{LATIN CAPITAL LETTER O}'")
    return b, prove_npy(b)


@technique("npz_member_structured_object", "numpy", "global-not-allowed", "arr_0.npy > object array")
def _():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("arr_0.npy", npy_header_case("'<f8,|O'"))
    b = buf.getvalue()
    return b, prove_npz(b)


@technique("joblib_dtype_comma_string_object", "sklearn", "global-not-allowed", "object array at offset")
def _():
    b = case_joblib_nested(dtype_call("f8,O"))
    return b, prove_joblib(b)


@technique("joblib_dtype_subarray_object", "sklearn", "global-not-allowed", "object array at offset")
def _():
    b = case_joblib_nested(dtype_call("(2,)O"))
    return b, prove_joblib(b)


@technique("joblib_dtype_state_flags_hold_objects", "sklearn", "global-not-allowed", "object array at offset")
def _():
    # numpy.dtype('V8') whose __setstate__ flags say it holds objects (flags & 1).
    state = b"(K\x03" + sbu("|") + b"NNNK\x08K\x01K\x01t"
    b = case_joblib_nested(dtype_call("V8", state))
    return b, prove_joblib(b)


@technique("joblib_slot_state_overrides_dtype", "sklearn", "global-not-allowed", "object array at offset")
def _():
    # The dict state says float64, the slot state (setattr, applied after it) says object.
    b = case_joblib_nested(dtype_call("O"), slot_items=True, dict_dtype=dtype_call("<f8"))
    return b, prove_joblib(b)


@technique("joblib_array_build_inside_frame", "sklearn", "joblib-array-in-frame", "")
def _():
    b, frame_end = frame_case()
    return b, prove_joblib(b, expect_frame_end=frame_end)


def scan(pickleguard, blob, policy, name):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(blob)
        out = subprocess.run([pickleguard, "scan", "--format", "json", "--policy", policy, path],
                             capture_output=True, text=True)
        return out.returncode, json.loads(out.stdout)["files"][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("technique", nargs="?")
    args = ap.parse_args()
    if args.list:
        print("\n".join(TECHNIQUES))
        return 0
    fn, policy, rule, member = TECHNIQUES[args.technique]
    blob, proof = fn()
    print(proof)
    rc, report = scan(args.pickleguard, blob, policy, args.technique)
    found = [f for f in report["findings"] if f["rule"] == rule and member in (f.get("member") or "")]
    print("pickleguard: verdict %s, exit %d, %d matching findings" % (report["verdict"], rc, len(found)))
    for f in report["findings"]:
        print("  %s [%s] %s" % (f["rule"], f.get("member"), f["message"][:160]))
    if report["verdict"] == "safe" or rc == 0 or not found:
        print("FAIL: expected a %s finding in a member containing %r" % (rule, member))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
