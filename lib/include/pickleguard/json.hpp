// pickleguard/json.hpp — the value graph as JSON, lossless and unambiguous.
//
//   null, true/false          None, bool
//   123 / {"$int": "..."}     int: a JSON number when |v| <= 2^53, else decimal text
//                             ({"$int_hex": "-0x..."} past 8 KiB of digits' worth)
//   2.0 / {"$float": "nan"}   float: shortest round-trip form with '.' or exponent
//   "text"                    str; lone surrogates as \udXXX
//   {"$bytes": b64}, {"$bytearray": b64}, {"$memoryview": b64}
//   [...]                     list
//   {"$tuple": [...]}, {"$set": [...]}, {"$frozenset": [...]}
//   {"$dict": [[k, v], ...]}  in insertion order
//   {"$id": N, "$value": v} / {"$ref": N}   a node reached more than once
//   {"$global": "module.name", "$raw": "module.name"}   ($raw only when it differs)
//   {"$reduce": [callable, args]}           REDUCE, INST, OBJ
//   {"$new": [cls, args]} / {"$new": [cls, args, kwargs]}   NEWOBJ, NEWOBJ_EX
//   {"$persid": pid}, {"$ext": code}, {"$buffer": null}
//   ... plus "$state" (or "$states": [...] after several BUILDs), "$append",
//   "$setitem": [[k, v], ...] and "$add" on a symbolic node the stream mutated.
//
// Values the standard library pickles through a constructor are built by the
// decoder itself when the call has plain data arguments (the call still goes
// to the policy), so they print in their data form: builtins.set/frozenset of
// a list, tuple, set, dict, str or bytes as $set/$frozenset; _codecs.encode(str,
// 'latin1') and bytes() as $bytes; bytearray(), bytearray(bytes) and
// bytearray(str, 'latin-1') as $bytearray. complex(re, im) and every other
// call stay $reduce nodes.
//
// Writing is iterative and linear in the graph: a graph of 2^120 shared
// leaves prints in linear size.
//
//     std::string json = pickleguard::to_json(d.graph, *d.root).value();
#pragma once

#include "pickleguard/error.hpp"
#include "pickleguard/value.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace pickleguard {

struct json_options {
    std::uint64_t max_bytes = std::uint64_t{1} << 34;
};

// Streams the JSON of `root` to `sink` in chunks.
result<void> write_value_json(const value_graph& graph, value_ref root,
                              const std::function<void(std::string_view)>& sink, const json_options& options = {});

// The whole JSON text at once.
result<std::string> to_json(const value_graph& graph, value_ref root, const json_options& options = {});

// JSON string literal (with quotes) of one of our str values.
std::string json_string_literal(std::string_view str_value);

}  // namespace pickleguard
