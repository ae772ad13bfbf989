#include "utf8.hpp"

#include <cstdint>
#include <cstdio>

namespace pickleguard::text {
namespace {

std::string hex_byte(unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", c);
    return buf;
}

}  // namespace

void append_code_point(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
        out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
}

std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
    auto b = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[k])); };
    std::uint32_t c = b(i);
    if (c < 0x80) { i += 1; return c; }
    if (c < 0xe0) { std::uint32_t cp = ((c & 0x1f) << 6) | (b(i + 1) & 0x3f); i += 2; return cp; }
    if (c < 0xf0) {
        std::uint32_t cp = ((c & 0x0f) << 12) | ((b(i + 1) & 0x3f) << 6) | (b(i + 2) & 0x3f);
        i += 3;
        return cp;
    }
    std::uint32_t cp = ((c & 0x07) << 18) | ((b(i + 1) & 0x3f) << 12) | ((b(i + 2) & 0x3f) << 6) | (b(i + 3) & 0x3f);
    i += 4;
    return cp;
}

std::string check_utf8(std::string_view s, bool surrogatepass) {
    // The rules of CPython's UTF-8 decoder: no overlong forms, nothing above
    // U+10FFFF, and surrogates only under "surrogatepass".
    const std::size_t n = s.size();
    std::size_t i = 0;
    auto u = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    auto fail = [&](std::size_t at, const char* why) {
        return "'utf-8' codec can't decode byte " + hex_byte(u(at)) + " in position " + std::to_string(at) +
               ": " + why;
    };
    while (i < n) {
        // Fast path over ASCII, eight bytes at a time.
        while (i + 8 <= n) {
            std::uint64_t w;
            __builtin_memcpy(&w, s.data() + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        unsigned char c = u(i);
        if (c < 0x80) { ++i; continue; }
        std::size_t len;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c == 0xe0) { len = 3; lo = 0xa0; }
        else if (c >= 0xe1 && c <= 0xec) len = 3;
        else if (c == 0xed) { len = 3; hi = surrogatepass ? 0xbf : 0x9f; }
        else if (c >= 0xee && c <= 0xef) len = 3;
        else if (c == 0xf0) { len = 4; lo = 0x90; }
        else if (c >= 0xf1 && c <= 0xf3) len = 4;
        else if (c == 0xf4) { len = 4; hi = 0x8f; }
        else return fail(i, "invalid start byte");
        if (i + 1 >= n) return fail(i, "unexpected end of data");
        if (u(i + 1) < lo || u(i + 1) > hi) return fail(i, "invalid continuation byte");
        for (std::size_t k = 2; k < len; ++k) {
            if (i + k >= n) return fail(i, "unexpected end of data");
            if (u(i + k) < 0x80 || u(i + k) > 0xbf) return fail(i, "invalid continuation byte");
        }
        i += len;
    }
    return {};
}

}  // namespace pickleguard::text
