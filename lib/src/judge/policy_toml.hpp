// Internal: what the policy reader (policy.cpp) and the knowledge base reader
// (knowledge_base.cpp) share. Both read TOML files of tables naming globals by
// (module, name) or by RE2 pattern, refuse what they do not know, and index
// the exact names for lookups that must not allocate.
#pragma once

#define TOML_EXCEPTIONS 0
#define TOML_HEADER_ONLY 1
#include <toml++/toml.h>

#include "pickleguard/policy.hpp"

#include <re2/re2.h>

#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pickleguard::policy_toml {

// A usage error (a bad policy or knowledge base file) at `where`.
error usage_error(const std::string& where, const std::string& what);

// A pattern of a policy or the knowledge base, compiled by RE2 (linear
// time); a bad one is an error naming where it is and which key holds it.
result<std::unique_ptr<RE2>> compile_pattern(const std::string& pattern, const std::string& at, const char* key);

// "origin:line" of a node, or the origin when toml++ knows no line.
std::string where(const std::string& origin, const toml::node& n);

// The first key of `t` not in `allowed`, or "": typos surface. `at`
// receives "origin:line" of that key itself, not of its table's header.
std::string unknown_key(const toml::table& t, std::initializer_list<std::string_view> allowed,
                        const std::string& origin, std::string& at);

// "origin:line" of `key`'s value in `t`, or `table_at` when it is absent.
std::string value_at(const std::string& origin, const toml::table& t, std::string_view key, const std::string& table_at);

// TOML text to a table, after the checks toml++ 3.3 needs (policy.cpp); one
// path for policies and the knowledge base.
result<toml::parse_result> parse_toml(std::string_view text, const std::string& origin);

// Exact entries are found by one key per (module, name): module, NUL, name.
// Lookups build it on the stack when short and pass it to `f` as a view: the
// judge asks once per call in the pickle (10,000 REDUCEs in a checkpoint of
// 10,000 tensors), so lookups must not allocate.
template <class F>
auto with_key(std::string_view module, std::string_view name, F&& f) {
    char buf[256];
    std::string heap;
    const std::size_t n = module.size() + 1 + name.size();
    char* out = buf;
    if (n > sizeof buf) {
        heap.resize(n);
        out = heap.data();
    }
    std::memcpy(out, module.data(), module.size());
    out[module.size()] = '\0';
    std::memcpy(out + module.size() + 1, name.data(), name.size());
    return f(std::string_view(out, n));
}

inline std::string key_of(std::string_view module, std::string_view name) {
    return with_key(module, name, [](std::string_view k) { return std::string(k); });
}

struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
};
using exact_index = std::unordered_map<std::string, std::size_t, key_hash, std::equal_to<>>;

}  // namespace pickleguard::policy_toml
