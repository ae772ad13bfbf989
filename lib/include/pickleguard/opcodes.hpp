// pickleguard/opcodes.hpp — the pickle opcode table.
//
// One table describes every opcode of protocols 0–5, as CPython's
// `pickletools.opcodes` does: its byte, its name, how its argument is encoded,
// the protocol that introduced it and its stack effect. The decoder reads
// arguments by `arg_kind`, the disassembler prints from it, and the tests
// check that every row has a handler and a test.
//
//     for (const pickleguard::opcode_info& op : pickleguard::all_opcodes())
//         std::printf("%-16s %u\n", op.name.data(), op.protocol);
//
//     const pickleguard::opcode_info* op = pickleguard::find_opcode(0x80);  // PROTO
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace pickleguard {

// How an opcode's argument is laid out in the stream.
enum class arg_kind : std::uint8_t {
    none,
    uint1,          // 1 byte, unsigned
    uint2,          // 2 bytes, little-endian, unsigned
    uint4,          // 4 bytes, little-endian, unsigned
    int4,           // 4 bytes, little-endian, signed
    uint8,          // 8 bytes, little-endian, unsigned
    line,           // text up to and including '\n'
    line_pair,      // two such lines (module, then name)
    counted_long1,  // 1-byte count, then that many bytes of a two's-complement int
    counted_long4,  // 4-byte signed count, then the bytes
    counted1,       // 1-byte length, then that many bytes
    counted4,       // 4-byte unsigned length, then the bytes
    counted8,       // 8-byte unsigned length, then the bytes
};

struct opcode_info {
    std::uint8_t code;
    std::string_view name;
    arg_kind arg;
    std::uint8_t protocol;        // protocol that introduced it
    std::string_view stack_before;  // pickletools' notation, e.g. "any any"
    std::string_view stack_after;
    std::string_view summary;       // one line, for `disasm --explain` and docs
};

// Every opcode, in CPython's `pickletools.opcodes` order.
std::span<const opcode_info> all_opcodes() noexcept;

// The row for an opcode byte, or nullptr if CPython does not know it.
const opcode_info* find_opcode(std::uint8_t code) noexcept;

// How many bytes of fixed-size argument follow the opcode (0 for line or
// counted arguments, whose size depends on the data).
constexpr std::size_t fixed_arg_size(arg_kind kind) noexcept {
    switch (kind) {
        case arg_kind::uint1: return 1;
        case arg_kind::uint2: return 2;
        case arg_kind::uint4:
        case arg_kind::int4: return 4;
        case arg_kind::uint8: return 8;
        default: return 0;
    }
}

}  // namespace pickleguard

// Opcode bytes by name, as pickle.py spells them (op::NEWOBJ_EX).
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
