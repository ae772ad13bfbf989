// Internal: opcode bytes by name, so handlers can say `op::PROTO`.
#pragma once

#include "pickleguard/opcodes.hpp"

namespace pickleguard::op {
// clang-format off
enum : std::uint8_t {
    INT = 'I', BININT = 'J', BININT1 = 'K', BININT2 = 'M', LONG = 'L', LONG1 = 0x8a, LONG4 = 0x8b,
    STRING = 'S', BINSTRING = 'T', SHORT_BINSTRING = 'U', BINBYTES = 'B', SHORT_BINBYTES = 'C',
    BINBYTES8 = 0x8e, BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98,
    NONE = 'N', NEWTRUE = 0x88, NEWFALSE = 0x89,
    UNICODE = 'V', SHORT_BINUNICODE = 0x8c, BINUNICODE = 'X', BINUNICODE8 = 0x8d,
    FLOAT = 'F', BINFLOAT = 'G',
    EMPTY_LIST = ']', APPEND = 'a', APPENDS = 'e', LIST = 'l',
    EMPTY_TUPLE = ')', TUPLE = 't', TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87,
    EMPTY_DICT = '}', DICT = 'd', SETITEM = 's', SETITEMS = 'u',
    EMPTY_SET = 0x8f, ADDITEMS = 0x90, FROZENSET = 0x91,
    POP = '0', DUP = '2', MARK = '(', POP_MARK = '1',
    GET = 'g', BINGET = 'h', LONG_BINGET = 'j', PUT = 'p', BINPUT = 'q', LONG_BINPUT = 'r', MEMOIZE = 0x94,
    EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84,
    GLOBAL = 'c', STACK_GLOBAL = 0x93, REDUCE = 'R', BUILD = 'b', INST = 'i', OBJ = 'o',
    NEWOBJ = 0x81, NEWOBJ_EX = 0x92,
    PROTO = 0x80, STOP = '.', FRAME = 0x95, PERSID = 'P', BINPERSID = 'Q',
};
// clang-format on
}  // namespace pickleguard::op
