// Test helper: pickles written as Python bytes literals.
//
// C++ hex escapes are greedy ("\x00a" is one byte, 0x0a), which makes
// hand-written pickles easy to get silently wrong. `pb(R"(\x80\x02K\x01.)")`
// reads the escapes the way Python's b'...' does: \xHH is exactly two hex
// digits, and \n \r \t \\ \' \0 mean what they mean in Python.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace pickleguard::testing {

inline std::string pb(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out.push_back(s[i]);
            continue;
        }
        if (++i >= s.size()) throw std::invalid_argument("trailing backslash");
        switch (s[i]) {
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case '0': out.push_back('\0'); break;
            case '\\': out.push_back('\\'); break;
            case '\'': out.push_back('\''); break;
            case '"': out.push_back('"'); break;
            case 'x': {
                if (i + 2 >= s.size()) throw std::invalid_argument("short \\x");
                out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
                i += 2;
                break;
            }
            default: throw std::invalid_argument("unknown escape");
        }
    }
    return out;
}

}  // namespace pickleguard::testing
