"""A small, independent opcode scanner for pickle byte streams.

Why our own scanner instead of ``pickletools.genops``: the harness needs to
know, *without executing anything*, which opcodes CPython's C unpickler will
reach in an arbitrary (possibly mutated) byte string and how far it gets.
genops raises on the first structural oddity and its notion of argument
validity differs from ``_pickle.c`` in places (e.g. it decodes text arguments).
This scanner only mirrors how ``_pickle.c`` *reads* bytes (fixed widths,
newline-terminated lines, counted lengths); it performs no semantic checks,
so it over-approximates the opcodes CPython executes, which is the safe
direction for the skip rules that use it.

Only the opcode *table* (codes and names) is taken from ``pickletools``.
"""

from __future__ import annotations

import pickletools
import struct
from dataclasses import dataclass, field

# Every opcode name pickletools knows, keyed by its one-byte code.
OPCODE_NAMES: dict[int, str] = {ord(op.code): op.name for op in pickletools.opcodes}
ALL_OPCODE_NAMES: frozenset[str] = frozenset(OPCODE_NAMES.values())

# How _pickle.c consumes the argument of each opcode.  Kept explicit (rather
# than derived from pickletools' ArgumentDescriptors) so that a reader can
# check it against _pickle.c directly.
#   ("fixed", n)            n raw bytes
#   ("lines", k)            k newline-terminated lines
#   ("counted", w, signed)  a w-byte little-endian length, then that many bytes
#   ("frame",)              8-byte length; the frame body is scanned normally
_ARGS: dict[str, tuple] = {
    "INT": ("lines", 1), "LONG": ("lines", 1), "FLOAT": ("lines", 1),
    "STRING": ("lines", 1), "UNICODE": ("lines", 1), "GET": ("lines", 1),
    "PUT": ("lines", 1), "PERSID": ("lines", 1),
    "GLOBAL": ("lines", 2), "INST": ("lines", 2),
    "BININT": ("fixed", 4), "BININT1": ("fixed", 1), "BININT2": ("fixed", 2),
    "BINFLOAT": ("fixed", 8), "BINGET": ("fixed", 1), "LONG_BINGET": ("fixed", 4),
    "BINPUT": ("fixed", 1), "LONG_BINPUT": ("fixed", 4), "PROTO": ("fixed", 1),
    "EXT1": ("fixed", 1), "EXT2": ("fixed", 2), "EXT4": ("fixed", 4),
    "LONG1": ("counted", 1, False), "LONG4": ("counted", 4, True),
    "BINSTRING": ("counted", 4, True), "SHORT_BINSTRING": ("counted", 1, False),
    "BINBYTES": ("counted", 4, False), "SHORT_BINBYTES": ("counted", 1, False),
    "BINBYTES8": ("counted", 8, False), "BYTEARRAY8": ("counted", 8, False),
    "SHORT_BINUNICODE": ("counted", 1, False), "BINUNICODE": ("counted", 4, False),
    "BINUNICODE8": ("counted", 8, False),
    "FRAME": ("frame",),
}

# Opcodes that produce symbolic (non-data) objects: CPython's verdict for a
# stream using them depends on what the named objects really are, so such
# cases are compared on accept/reject only.
SYMBOLIC_OPS = frozenset({"GLOBAL", "STACK_GLOBAL", "INST", "PERSID", "BINPERSID",
                          "EXT1", "EXT2", "EXT4"})
EXT_OPS = frozenset({"EXT1", "EXT2", "EXT4"})
PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


@dataclass
class Op:
    pos: int          # offset of the opcode byte
    name: str
    arg: bytes        # raw argument bytes (for "lines": the lines incl. '\n')
    length: int | None = None   # declared length for counted / frame opcodes


@dataclass
class Scan:
    ops: list[Op] = field(default_factory=list)
    # How the scan ended: "stop" (reached STOP), "eof" (ran out of input,
    # including a missing newline), "badop" (unknown opcode byte),
    # "negative" (negative signed length), "overlong" (a declared length
    # exceeds the bytes that remain).
    end: str = "eof"
    end_pos: int = 0
    # Largest memo index any PUT-family opcode asks for (None if none parse).
    max_put_index: int | None = None

    @property
    def names(self) -> set[str]:
        return {op.name for op in self.ops}


def _parse_text_index(line: bytes) -> int | None:
    """Upper-bound guess of a text PUT index, as PyLong_FromString(.., 10) would read it."""
    try:
        return int(line[:-1].decode("ascii"), 10)
    except (UnicodeDecodeError, ValueError):
        return None


def scan(data: bytes) -> Scan:
    """Walk ``data`` opcode by opcode the way _pickle.c reads it."""
    result = Scan()
    pos = 0
    n = len(data)
    while True:
        if pos >= n:
            result.end, result.end_pos = "eof", pos
            return result
        code = data[pos]
        name = OPCODE_NAMES.get(code)
        if name is None:
            result.end, result.end_pos = "badop", pos
            return result
        spec = _ARGS.get(name)
        start = pos
        pos += 1
        op = Op(start, name, b"")
        if spec is None:
            pass
        elif spec[0] == "fixed":
            if pos + spec[1] > n:
                result.ops.append(op)
                result.end, result.end_pos = "eof", start
                return result
            op.arg = data[pos:pos + spec[1]]
            pos += spec[1]
        elif spec[0] == "lines":
            arg_start = pos
            for _ in range(spec[1]):
                nl = data.find(b"\n", pos)
                if nl < 0:
                    result.ops.append(op)
                    result.end, result.end_pos = "eof", start
                    return result
                pos = nl + 1
            op.arg = data[arg_start:pos]
        elif spec[0] == "counted":
            width, signed = spec[1], spec[2]
            if pos + width > n:
                result.ops.append(op)
                result.end, result.end_pos = "eof", start
                return result
            length = int.from_bytes(data[pos:pos + width], "little", signed=signed)
            pos += width
            op.length = length
            if length < 0:
                result.ops.append(op)
                result.end, result.end_pos = "negative", start
                return result
            if pos + length > n:
                result.ops.append(op)
                result.end, result.end_pos = "overlong", start
                return result
            op.arg = data[pos:pos + length]
            pos += length
        elif spec[0] == "frame":
            if pos + 8 > n:
                result.ops.append(op)
                result.end, result.end_pos = "eof", start
                return result
            (length,) = struct.unpack_from("<Q", data, pos)
            pos += 8
            op.length = length
            if pos + length > n:
                # _pickle.c reads the whole frame up front and fails here.
                result.ops.append(op)
                result.end, result.end_pos = "overlong", start
                return result
        result.ops.append(op)
        if name in PUT_OPS:
            if name == "PUT":
                idx = _parse_text_index(op.arg)
            else:
                idx = int.from_bytes(op.arg, "little")
            # Indices that do not fit a Py_ssize_t are rejected by _pickle.c
            # before it touches the memo, so only 0 <= idx < 2**63 matter.
            if idx is not None and 0 <= idx < 2**63:
                result.max_put_index = max(idx, result.max_put_index or 0)
        if name == "STOP":
            result.end, result.end_pos = "stop", start
            return result
