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

std::string bound_lines(const allow_entry& e) {
    std::string out;
    auto count = [&](const char* key, const auto& v) {
        if (v) out += std::string(key) + " = " + std::to_string(*v) + "\n";
    };
    count("max_int_arg", e.max_int_arg);
    if (!e.str_arg_pattern.empty()) out += "str_arg_pattern = " + toml_string(e.str_arg_pattern) + "\n";
    count("max_int_bytes", e.max_int_bytes);
    count("max_iter_len", e.max_iter_len);
    count("cost", e.cost);
    count("min_args", e.min_args);
    count("max_args", e.max_args);
    if (!e.args.empty()) {
        out += "args = [";
        for (std::size_t i = 0; i < e.args.size(); ++i) {
            const arg_rule& r = e.args[i];
            out += std::string(i ? ", " : "") + "{ pos = " + std::to_string(r.pos);
            if (!r.pattern.empty()) out += ", pattern = " + toml_string(r.pattern);
            if (r.max_int) out += ", max_int = " + std::to_string(*r.max_int);
            if (r.array_items) out += ", array_items = " + std::to_string(*r.array_items);
            if (r.empty) out += ", empty = true";
            if (r.pins_global())
                out += ", module = " + toml_string(r.global_module) + ", name = " + toml_string(r.global_name);
            out += " }";
        }
        out += "]\n";
    }
    if (!e.state.empty()) out += "state = " + toml_string(e.state) + "\n";
    for (auto [key, keys] : {std::pair{"empty_state_keys", &e.empty_state_keys},
                             std::pair{"required_state_keys", &e.required_state_keys},
                             std::pair{"forbidden_state_keys", &e.forbidden_state_keys},
                             std::pair{"called_state_keys", &e.called_state_keys},
                             std::pair{"called_state_values", &e.called_state_values},
                             std::pair{"attribute_tables", &e.attribute_tables}}) {
        if (keys->empty()) continue;
        out += std::string(key) + " = [";
        for (std::size_t i = 0; i < keys->size(); ++i) out += (i ? ", " : "") + toml_string((*keys)[i]);
        out += "]\n";
    }
    if (e.callable_instances) out += "callable_instances = true\n";
    return out;
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
