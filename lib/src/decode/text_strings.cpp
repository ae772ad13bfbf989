#include "text_strings.hpp"

#include <cstdio>

namespace pickleguard::text {
namespace {

error bad(std::string reason) {
    error e;
    e.kind = error_kind::malformed;
    e.reason = std::move(reason);
    return e;
}

std::string byte_hex(unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", c);
    return buf;
}

}  // namespace

std::string check_ascii(std::string_view s) {
    if (is_ascii(s)) return {};
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80)
            return "'ascii' codec can't decode byte " + byte_hex(c) + " in position " + std::to_string(i) +
                   ": ordinal not in range(128)";
    }
    return {};
}

result<std::string> decode_string_escape(std::string_view s) {
    // load_string: the first and last bytes must be the same quote.
    if (!(s.size() >= 2 && s.front() == s.back() && (s.front() == '\'' || s.front() == '"')))
        return bad("the STRING opcode argument must be quoted");
    s = s.substr(1, s.size() - 2);
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        char c = s[i++];
        if (c != '\\') { out.push_back(c); continue; }
        if (i == s.size()) return bad("Trailing \\ in string");
        char e = s[i++];
        switch (e) {
            case '\n': break;
            case '\\': out.push_back('\\'); break;
            case '\'': out.push_back('\''); break;
            case '"': out.push_back('"'); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 't': out.push_back('\t'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 'v': out.push_back('\v'); break;
            case 'a': out.push_back('\a'); break;
            case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
                unsigned v = static_cast<unsigned>(e - '0');
                for (int k = 0; k < 2 && i < s.size() && s[i] >= '0' && s[i] <= '7'; ++k)
                    v = (v << 3) + static_cast<unsigned>(s[i++] - '0');
                out.push_back(static_cast<char>(v & 0xff));  // > 0o377 only warns; the byte wraps
                break;
            }
            case 'x': {
                if (i + 1 < s.size()) {
                    auto hex = [](char h) -> int {
                        if (h >= '0' && h <= '9') return h - '0';
                        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
                        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
                        return -1;
                    };
                    int d1 = hex(s[i]), d2 = hex(s[i + 1]);
                    if (d1 >= 0 && d2 >= 0) {
                        out.push_back(static_cast<char>((d1 << 4) | d2));
                        i += 2;
                        break;
                    }
                }
                return bad("invalid \\x escape at position " + std::to_string(i - 2));
            }
            default:
                // Unknown escapes stay as they are (CPython only warns).
                out.push_back('\\');
                --i;
                break;
        }
    }
    return out;
}

result<std::string> decode_raw_unicode_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i++]);
        if (c != '\\' || i == s.size()) {
            append_code_point(out, c);  // bytes are Latin-1 code points
            continue;
        }
        unsigned char e = static_cast<unsigned char>(s[i++]);
        int count = e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (count == 0) {
            // A backslash pair is copied whole, so "\\\\u" is not an escape.
            out.push_back('\\');
            append_code_point(out, e);
            continue;
        }
        std::size_t start = i - 2;
        std::uint32_t cp = 0;
        for (int k = 0; k < count; ++k, ++i) {
            if (i >= s.size())
                return bad("'rawunicodeescape' codec can't decode bytes in position " + std::to_string(start) +
                           "-" + std::to_string(s.size() - 1) + ": truncated \\" + (count == 4 ? "u" : "U") +
                           std::string(count, 'X') + " escape");
            char h = s[i];
            int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                  : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
            if (d < 0)
                return bad("'rawunicodeescape' codec can't decode bytes in position " + std::to_string(start) +
                           "-" + std::to_string(i) + ": truncated \\" + (count == 4 ? "u" : "U") +
                           std::string(count, 'X') + " escape");
            cp = (cp << 4) | static_cast<std::uint32_t>(d);
        }
        if (cp > 0x10ffff)
            return bad("'rawunicodeescape' codec can't decode bytes in position " + std::to_string(start) + "-" +
                       std::to_string(i - 1) + ": \\Uxxxxxxxx out of range");
        append_code_point(out, cp);
    }
    return out;
}

}  // namespace pickleguard::text
