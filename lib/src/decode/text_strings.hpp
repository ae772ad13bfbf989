// Internal: string arguments decoded the way CPython's C unpickler does.
//
// Python strings are sequences of code points and may hold lone surrogates.
// We store them as UTF-8 in which every code point, surrogates included, is
// encoded on its own (a surrogate takes the 3-byte form ED A0..BF 80..BF).
// That makes equal strings byte-equal, and BINUNICODE's "surrogatepass" UTF-8
// is already in this form, so it is used in place without copying.
#pragma once

#include "../common/utf8.hpp"

#include "pickleguard/error.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pickleguard::text {

// Empty when every byte is ASCII; otherwise CPython's message.
std::string check_ascii(std::string_view s);

// True when every byte is ASCII: eight at a time, inline, since most pickled
// text is ASCII and BINUNICODE then needs no UTF-8 check.
inline bool is_ascii(std::string_view s) {
    std::size_t i = 0, n = s.size();
    std::uint64_t any = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        any |= w;
    }
    for (; i < n; ++i) any |= static_cast<unsigned char>(s[i]);
    return (any & 0x8080808080808080ull) == 0;
}

// STRING's argument (without the newline): strip the quotes, undo the
// escapes as PyBytes_DecodeEscape does. The caller then applies ASCII.
result<std::string> decode_string_escape(std::string_view quoted);

// UNICODE's argument (without the newline), as 'raw-unicode-escape'.
result<std::string> decode_raw_unicode_escape(std::string_view s);

}  // namespace pickleguard::text
