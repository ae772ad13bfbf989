"""Mutants around FRAME (protocol 4), where the three readers part ways.

pickle.loads reads on across a frame's end; pickle.load on a file (or an
io.BytesIO) reads a frame into _pickle.c's buffer and, when a read needs more
than is left in it, drops the rest and reads on from the file after the frame;
pickle._Unpickler refuses a read that runs past its frame. So every case here
is run through all of them (stub_unpickler.three_readers), and the runner
demands that pickleguard reject whatever they disagree on.

Cases, all byte-built from pickles this script makes itself:
  * split: an unframed protocol-4 body with frames cut at every offset (two
    frames, the first ending at offset k): at opcode and argument boundaries
    every reader agrees; inside an argument they do not;
  * length: a pickle's single frame with its length off by -n..+n;
  * nested: a FRAME inside an unfinished frame, at every opcode boundary;
  * stop: a frame that goes on past STOP (the next pickle starts at different
    places for different readers);
  * public: CPython issue 154848's vector: a FRAME of 2 bytes, then a
    BINBYTES declaring 0x107 bytes, hiding GLOBAL os system + REDUCE that a
    file reader runs (after a 128 KiB line, so a real file's peek() does not
    cover it), and the same without the padding.
"""

from __future__ import annotations

import pickle
import pickletools
from struct import pack

from cases import Case

FRAME = b"\x95"


def frame(n: int) -> bytes:
    return FRAME + pack("<Q", n)


def unframed_body(value, protocol: int = 4) -> bytes:
    """``pickle.dumps(value)`` without its FRAME opcodes, and without PROTO:
    the opcodes alone. pickletools.genops only parses; it runs nothing."""
    data = pickle.dumps(value, protocol=protocol)
    cut = []
    for op, _arg, pos in pickletools.genops(data):
        if op.name == "FRAME":
            cut.append((pos, pos + 9))
        elif op.name == "PROTO":
            cut.append((pos, pos + 2))
    out, last = b"", 0
    for a, b in cut:
        out += data[last:a]
        last = b
    return out + data[last:]


def opcode_offsets(body: bytes) -> list[int]:
    return [pos for _op, _arg, pos in pickletools.genops(b"\x80\x04" + body)][1:]


# Bodies that reach every argument kind: fixed-size, counted (1, 4 and 8
# byte lengths), lines (GLOBAL's two, INT's one), and big bytes.
GLOBAL_BODY = (b"cos\nsystem\n" + b"X\x02\x00\x00\x00id" + b"\x85R")
TEXT_BODY = b"(I12\nF1.5\nVabc\nS'x'\nL5L\nl."


def bodies() -> list[tuple[str, bytes]]:
    return [
        ("data", unframed_body({"a": [1, 2.5, -70000, 2 ** 70], "b": ("xy", b"z" * 20), "c": {True, None}})),
        ("strings", unframed_body(["s" * 300, b"b" * 300, bytearray(b"q" * 5)], protocol=5)),
        ("global", GLOBAL_BODY + b"."),
        ("text", TEXT_BODY),
    ]


def split_cases() -> list[tuple[str, bytes]]:
    out = []
    for name, body in bodies():
        for k in range(0, len(body) + 1):
            out.append((f"split_{name}_{k}", b"\x80\x04" + frame(k) + body[:k] + frame(len(body) - k) + body[k:]))
    return out


def length_cases() -> list[tuple[str, bytes]]:
    out = []
    for name, body in bodies():
        for d in list(range(-9, 0)) + list(range(1, 10)):
            n = len(body) + d
            if n >= 0:
                out.append((f"length_{name}_{d:+d}", b"\x80\x04" + frame(n) + body))
    return out


def nested_cases() -> list[tuple[str, bytes]]:
    out = []
    for name, body in bodies():
        for k in opcode_offsets(body):
            rest = body[k:]
            # An outer frame over everything, a second FRAME opening at k.
            inner = frame(len(rest)) + rest
            out.append((f"nested_{name}_{k}", b"\x80\x04" + frame(k + len(inner)) + body[:k] + inner))
    return out


def stop_cases() -> list[tuple[str, bytes]]:
    out = []
    for name, body in bodies():
        for extra in (b"N.", b"cos\nsystem\n(S'id'\ntR.", b"\x00"):
            out.append((f"stop_{name}_{len(extra)}", b"\x80\x04" + frame(len(body) + len(extra)) + body + extra))
    return out


def public_vector(padding: bool) -> bytes:
    """The FRAME/BINBYTES straddle of CPython issue 154848, with os.system."""
    payload = (GLOBAL_BODY + b"(").ljust(261, b"N")
    head = b"\x80\x05N"
    if padding:
        # A 128 KiB line first: the file's peek() then returns only the few
        # bytes left in its buffer, and _pickle.c reads the frame with read().
        head += b"V" + b"a" * (8192 * 16 - 17) + b"\n" + b"0"
    return head + b"(" + frame(2) + b"B\x07\x01\x00\x00" + b"\x00\x00" + payload + b"1."


def straddle_variants() -> list[tuple[str, bytes]]:
    """A frame ending one byte into each argument part of an opcode."""
    out = [("public_padded", public_vector(True)), ("public", public_vector(False))]
    ops = {
        "binint_arg": b"J\x01\x02\x03\x04",
        "binbytes_length": b"B\x03\x00\x00\x00abc",
        "binbytes_data": b"C\x03abc",
        "binunicode_data": b"X\x03\x00\x00\x00abc",
        "binunicode8_length": b"\x8d\x03" + b"\x00" * 7 + b"abc",
        "bytearray8_data": b"\x96\x03" + b"\x00" * 7 + b"abc",
        "long1_data": b"\x8a\x02\x01\x02",
        "global_first_line": b"cos\nsystem\n",
        "global_second_line": b"cos\nsystem\n",
        "int_line": b"I12\n",
        "frame_arg": frame(1) + b"N",
    }
    for name, op in ops.items():
        cut = 1 + (4 if name == "global_second_line" else 1)
        body = op + (b"." if name != "frame_arg" else b".")
        out.append((f"straddle_{name}", b"\x80\x04" + frame(cut) + body))
    return out


def build() -> list[Case]:
    cases = []
    for name, data in split_cases() + length_cases() + nested_cases() + stop_cases() + straddle_variants():
        cases.append(Case(f"frame_{name}", data, "frame", 4, True, note="frame mutant (three readers)"))
    return cases


if __name__ == "__main__":
    print(len(build()), "frame cases")
