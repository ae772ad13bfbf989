// Internal: opcode bytes by name, so handlers can say `op::PROTO`.
#pragma once

#include "pickleguard/opcodes.hpp"

namespace pickleguard {

// The table itself, visible to the decoder at compile time so that its
// dispatch and argument reading are built from it.
// clang-format off
inline constexpr opcode_info kOpcodeTable[] = {
    // Integers
    {'I',  "INT",              arg_kind::line,          0, "",                  "int|bool", "int from decimal text; 'I01'/'I00' are True/False"},
    {'J',  "BININT",           arg_kind::int4,          1, "",                  "int",      "4-byte signed little-endian int"},
    {'K',  "BININT1",          arg_kind::uint1,         1, "",                  "int",      "1-byte unsigned int"},
    {'M',  "BININT2",          arg_kind::uint2,         1, "",                  "int",      "2-byte unsigned little-endian int"},
    {'L',  "LONG",             arg_kind::line,          0, "",                  "int",      "int from text, optional trailing 'L'"},
    {0x8a, "LONG1",            arg_kind::counted_long1, 2, "",                  "int",      "two's-complement int, 1-byte length"},
    {0x8b, "LONG4",            arg_kind::counted_long4, 2, "",                  "int",      "two's-complement int, 4-byte length"},
    // Strings and bytes
    {'S',  "STRING",           arg_kind::line,          0, "",                  "str",      "quoted, escaped Python 2 string, decoded as ASCII"},
    {'T',  "BINSTRING",        arg_kind::counted4,      1, "",                  "str",      "Python 2 string, 4-byte length, decoded as ASCII"},
    {'U',  "SHORT_BINSTRING",  arg_kind::counted1,      1, "",                  "str",      "Python 2 string, 1-byte length, decoded as ASCII"},
    {'B',  "BINBYTES",         arg_kind::counted4,      3, "",                  "bytes",    "bytes, 4-byte length"},
    {'C',  "SHORT_BINBYTES",   arg_kind::counted1,      3, "",                  "bytes",    "bytes, 1-byte length"},
    {0x8e, "BINBYTES8",        arg_kind::counted8,      4, "",                  "bytes",    "bytes, 8-byte length"},
    {0x96, "BYTEARRAY8",       arg_kind::counted8,      5, "",                  "bytearray","bytearray, 8-byte length"},
    {0x97, "NEXT_BUFFER",      arg_kind::none,          5, "",                  "any",      "next out-of-band buffer"},
    {0x98, "READONLY_BUFFER",  arg_kind::none,          5, "any",               "any",      "make the top buffer read-only"},
    // Constants
    {'N',  "NONE",             arg_kind::none,          0, "",                  "None",     "push None"},
    {0x88, "NEWTRUE",          arg_kind::none,          2, "",                  "bool",     "push True"},
    {0x89, "NEWFALSE",         arg_kind::none,          2, "",                  "bool",     "push False"},
    // Unicode
    {'V',  "UNICODE",          arg_kind::line,          0, "",                  "str",      "str from raw-unicode-escape text"},
    {0x8c, "SHORT_BINUNICODE", arg_kind::counted1,      4, "",                  "str",      "UTF-8 str, 1-byte length"},
    {'X',  "BINUNICODE",       arg_kind::counted4,      1, "",                  "str",      "UTF-8 str, 4-byte length"},
    {0x8d, "BINUNICODE8",      arg_kind::counted8,      4, "",                  "str",      "UTF-8 str, 8-byte length"},
    // Floats
    {'F',  "FLOAT",            arg_kind::line,          0, "",                  "float",    "float from text"},
    {'G',  "BINFLOAT",         arg_kind::uint8,         1, "",                  "float",    "8-byte big-endian IEEE double"},
    // Lists
    {']',  "EMPTY_LIST",       arg_kind::none,          1, "",                  "list",     "push []"},
    {'a',  "APPEND",           arg_kind::none,          0, "list any",          "list",     "list.append(any)"},
    {'e',  "APPENDS",          arg_kind::none,          1, "list mark any*",    "list",     "list.extend(items)"},
    {'l',  "LIST",             arg_kind::none,          0, "mark any*",         "list",     "build a list from the items above the mark"},
    // Tuples
    {')',  "EMPTY_TUPLE",      arg_kind::none,          1, "",                  "tuple",    "push ()"},
    {'t',  "TUPLE",            arg_kind::none,          0, "mark any*",         "tuple",    "build a tuple from the items above the mark"},
    {0x85, "TUPLE1",           arg_kind::none,          2, "any",               "tuple",    "build a 1-tuple"},
    {0x86, "TUPLE2",           arg_kind::none,          2, "any any",           "tuple",    "build a 2-tuple"},
    {0x87, "TUPLE3",           arg_kind::none,          2, "any any any",       "tuple",    "build a 3-tuple"},
    // Dicts
    {'}',  "EMPTY_DICT",       arg_kind::none,          1, "",                  "dict",     "push {}"},
    {'d',  "DICT",             arg_kind::none,          0, "mark (any any)*",   "dict",     "build a dict from the pairs above the mark"},
    {'s',  "SETITEM",          arg_kind::none,          0, "dict any any",      "dict",     "dict[key] = value"},
    {'u',  "SETITEMS",         arg_kind::none,          1, "dict mark (any any)*", "dict",  "dict[key] = value for each pair"},
    // Sets
    {0x8f, "EMPTY_SET",        arg_kind::none,          4, "",                  "set",      "push set()"},
    {0x90, "ADDITEMS",         arg_kind::none,          4, "set mark any*",     "set",      "set.add(item) for each item"},
    {0x91, "FROZENSET",        arg_kind::none,          4, "mark any*",         "frozenset","build a frozenset from the items above the mark"},
    // Stack manipulation
    {'0',  "POP",              arg_kind::none,          0, "any",               "",         "discard the top item (or the top mark)"},
    {'2',  "DUP",              arg_kind::none,          0, "any",               "any any",  "push the top item again"},
    {'(',  "MARK",             arg_kind::none,          0, "",                  "mark",     "push a mark"},
    {'1',  "POP_MARK",         arg_kind::none,          1, "mark any*",         "",         "discard everything down to the top mark"},
    // Memo
    {'g',  "GET",              arg_kind::line,          0, "",                  "any",      "push memo[n], n as decimal text"},
    {'h',  "BINGET",           arg_kind::uint1,         1, "",                  "any",      "push memo[n], 1-byte n"},
    {'j',  "LONG_BINGET",      arg_kind::uint4,         1, "",                  "any",      "push memo[n], 4-byte n"},
    {'p',  "PUT",              arg_kind::line,          0, "any",               "any",      "memo[n] = top, n as decimal text"},
    {'q',  "BINPUT",           arg_kind::uint1,         1, "any",               "any",      "memo[n] = top, 1-byte n"},
    {'r',  "LONG_BINPUT",      arg_kind::uint4,         1, "any",               "any",      "memo[n] = top, 4-byte n"},
    {0x94, "MEMOIZE",          arg_kind::none,          4, "any",               "any",      "memo[len(memo)] = top"},
    // Extension registry
    {0x82, "EXT1",             arg_kind::uint1,         2, "",                  "any",      "push the object registered under a 1-byte extension code"},
    {0x83, "EXT2",             arg_kind::uint2,         2, "",                  "any",      "push the object registered under a 2-byte extension code"},
    {0x84, "EXT4",             arg_kind::int4,          2, "",                  "any",      "push the object registered under a 4-byte extension code"},
    // Globals and object construction
    {'c',  "GLOBAL",           arg_kind::line_pair,     0, "",                  "any",      "push find_class(module, name) from two text lines"},
    {0x93, "STACK_GLOBAL",     arg_kind::none,          4, "str str",           "any",      "push find_class(module, name) from the stack"},
    {'R',  "REDUCE",           arg_kind::none,          0, "any any",           "any",      "call callable(*args)"},
    {'b',  "BUILD",            arg_kind::none,          0, "any any",           "any",      "apply state: __setstate__ or __dict__ update"},
    {'i',  "INST",             arg_kind::line_pair,     0, "mark any*",         "any",      "call find_class(module, name)(*items)"},
    {'o',  "OBJ",              arg_kind::none,          1, "mark any any*",     "any",      "call cls(*items)"},
    {0x81, "NEWOBJ",           arg_kind::none,          2, "any any",           "any",      "cls.__new__(cls, *args)"},
    {0x92, "NEWOBJ_EX",        arg_kind::none,          4, "any any any",       "any",      "cls.__new__(cls, *args, **kwargs)"},
    // Machine control
    {0x80, "PROTO",            arg_kind::uint1,         2, "",                  "",         "set the protocol in force"},
    {'.',  "STOP",             arg_kind::none,          0, "any",               "",         "end of pickle: the top item is the result"},
    {0x95, "FRAME",            arg_kind::uint8,         4, "",                  "",         "the next n bytes form a frame"},
    // Persistent ids
    {'P',  "PERSID",           arg_kind::line,          0, "",                  "any",      "push persistent_load(id) for an ASCII text id"},
    {'Q',  "BINPERSID",        arg_kind::none,          1, "any",               "any",      "push persistent_load(id) for the top item"},
};
// clang-format on

}  // namespace pickleguard

