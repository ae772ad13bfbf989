// Internal: Python literals, read as ast.literal_eval reads them.
//
// numpy's .npy header is the text of a Python dict, evaluated with
// ast.literal_eval (numpy.lib.utils.safe_eval). A reader that judges the
// header must see the same values Python does: escapes ('\x4f' is 'O'),
// quotes and string prefixes, implicit concatenation ('<' 'f8'), comments,
// line continuations, signed numbers, trailing commas. What this parser does
// not fully understand (\N{...} escapes, complex numbers, f-strings, ...) is
// an error of kind `unsupported`, never a guess; what Python itself rejects
// is `malformed`. Containers are kept on an explicit stack: no recursion
// follows the input.
//
//     auto t = pickleguard::read::parse_py_literal(U"{'descr': '<f8'}", false);
//     if (t) { const py_node& root = t->nodes[t->root]; ... }
#pragma once

#include "pickleguard/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard::read {

struct py_node {
    enum class kind : std::uint8_t { none, boolean, integer, big_integer, floating, str, bytes, tuple, list, dict, set };
    kind k = kind::none;
    std::int64_t number = 0;  // integer, boolean (0/1)
    std::string text;         // str: UTF-8 (code point by code point); bytes: raw; big_integer/floating: source text
    std::uint32_t first = 0;  // children: tree.children[first, first + count); dict: key, value, key, value...
    std::uint32_t count = 0;
    std::uint32_t code_points = 0;  // str: len() in Python
};

struct py_tree {
    std::vector<py_node> nodes;
    std::vector<std::uint32_t> children;
    std::uint32_t root = 0;

    const py_node& at(std::uint32_t i) const { return nodes[i]; }
    std::uint32_t child(const py_node& n, std::uint32_t k) const { return children[n.first + k]; }
};

// Parses `source` (code points, as Python's str holds them) the way
// ast.literal_eval(source) does. With `drop_long_suffix`, a NAME token 'L'
// right after a number is dropped first, as numpy's _filter_header does for
// format versions 1.0 and 2.0 (Python 2 wrote '3L'). Error offsets are code
// point indexes.
result<py_tree> parse_py_literal(std::u32string_view source, bool drop_long_suffix);

// True when Python could hash the value (no list, dict or set inside).
bool py_hashable(const py_tree& t, std::uint32_t node);

}  // namespace pickleguard::read
