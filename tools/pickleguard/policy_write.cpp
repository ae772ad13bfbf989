// Writing policy files (policy_write.hpp).
#include "policy_write.hpp"

#include <cstdio>
#include <filesystem>

namespace pickleguard::cli {
namespace {

std::string comment_escaped(std::string_view s, bool ascii) {
    std::string out;
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f || (ascii && c > 0x7f)) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out.push_back(ch);
        }
    }
    return out;
}

}  // namespace

std::string toml_string(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out.push_back(ch);
        }
    }
    return out + "\"";
}

std::string toml_array(std::span<const std::string> items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + toml_string(items[i]);
    return out + "]";
}

std::string comment_safe(std::string_view s) { return comment_escaped(s, false); }

std::string comment_safe_ascii(std::string_view s) { return comment_escaped(s, true); }

std::string policy_name(const std::string& given, const std::string& output, std::string_view fallback) {
    if (!given.empty()) return given;
    return output.empty() ? std::string(fallback) : std::filesystem::path(output).stem().string();
}

std::string policy_dir(const std::string& output) {
    std::string dir = output.empty() ? "." : std::filesystem::path(output).parent_path().string();
    return dir.empty() ? "." : dir;  // a bare file name: the working directory
}

}  // namespace pickleguard::cli
