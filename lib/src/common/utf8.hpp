// Internal: pickleguard's UTF-8 form (decode/text_strings.hpp says why
// surrogates are kept encoded on their own), shared by every stage: the
// decoder builds and checks strings this way, the numpy header reader and
// the JSON writer read them back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pickleguard::text {

// Empty when `s` is valid UTF-8; otherwise CPython's message. With
// `surrogatepass`, encoded surrogates are accepted (BINUNICODE); without,
// they are errors (GLOBAL lines use strict UTF-8).
std::string check_utf8(std::string_view s, bool surrogatepass);

// Appends one code point (0..0x10FFFF, surrogates allowed).
void append_code_point(std::string& out, std::uint32_t cp);

// Next code point of our UTF-8 form starting at `i`; advances `i`. `s` must
// be in that form (checked when it was built): no bounds are checked here.
std::uint32_t next_code_point(std::string_view s, std::size_t& i);

}  // namespace pickleguard::text
