// Internal: numbers written as text (protocol 0 INT, LONG, FLOAT, GET, PUT),
// parsed the way CPython's C unpickler parses them. That is not the way
// Python's int() and float() do: _pickle.c hands a NUL-terminated copy of the
// line to C's strtol (base 0, so "010" is octal 8), then to PyLong_FromString,
// then to PyOS_string_to_double; each stops at an embedded NUL byte.
#pragma once

#include "pickleguard/error.hpp"
#include "pickleguard/limits.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace pickleguard::text {

struct parsed_int {
    bool small = true;       // fits int64: `value`
    std::int64_t value = 0;
    std::string twos;        // otherwise: minimal little-endian two's complement
    bool is_bool = false;    // INT's "I01"/"I00" spellings (any 3-byte line meaning 0 or 1)
};

// The argument of INT, including its trailing '\n'.
result<parsed_int> parse_int_line(std::string_view line, const limits& lim);
// The argument of LONG, including its trailing '\n'.
result<parsed_int> parse_long_line(std::string_view line, const limits& lim);
// The argument of GET or PUT: PyLong_FromString(base 10), then Py_ssize_t.
result<std::int64_t> parse_memo_index_line(std::string_view line, const limits& lim);
// The argument of FLOAT.
result<double> parse_float_line(std::string_view line);

}  // namespace pickleguard::text
