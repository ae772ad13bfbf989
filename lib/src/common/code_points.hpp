// Internal: code points in pickleguard's UTF-8 form (decode/text_strings.hpp
// says why surrogates are kept encoded on their own). Shared by the decoder,
// which builds strings this way, the numpy header reader and the JSON writer,
// which read them back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pickleguard::text {

// Appends one code point (0..0x10FFFF, surrogates allowed).
void append_code_point(std::string& out, std::uint32_t cp);

// Next code point of our UTF-8 form starting at `i`; advances `i`. `s` must
// be in that form (checked when it was built): no bounds are checked here.
std::uint32_t next_code_point(std::string_view s, std::size_t& i);

}  // namespace pickleguard::text
