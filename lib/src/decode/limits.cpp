// The limits table's functions (pickleguard/limits.hpp): everything here
// walks `limit_table`, so a new limit is one member and one row.
#include "pickleguard/limits.hpp"

#include <algorithm>
#include <bit>

namespace pickleguard {

const limit_info* find_limit(std::string_view name) {
    for (const limit_info& li : all_limits())
        if (li.name == name) return &li;
    return nullptr;
}

std::string limit_names() {
    std::string s;
    for (const limit_info& li : all_limits()) {
        if (!s.empty()) s += ", ";
        s += li.name;
    }
    return s;
}

std::string limit_value_text(std::uint64_t v) {
    if (v >= 1024 && std::has_single_bit(v)) return "2^" + std::to_string(std::countr_zero(v));
    std::string digits = std::to_string(v);
    std::string s;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) s += ',';
        s += digits[i];
    }
    return s;
}

limits tighter(const limits& a, const limits& b) {
    limits l;
    for (const limit_info& li : all_limits()) li.set(l, std::min(li.get(a), li.get(b)));
    return l;
}

}  // namespace pickleguard
