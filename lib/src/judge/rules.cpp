// The rule catalogue's lookups; the rows are PICKLEGUARD_RULES in
// pickleguard/rules.hpp.
#include "pickleguard/rules.hpp"
#include "judge/rules.hpp"

#include <cstddef>
#include <iterator>

namespace pickleguard {
namespace {

constexpr rule_info kRules[] = {
#define PICKLEGUARD_RULE_INFO(constant, id, title, help) {id, title, help},
    PICKLEGUARD_RULES(PICKLEGUARD_RULE_INFO)
#undef PICKLEGUARD_RULE_INFO
};

// A constant's name is its identifier with '_' for '-', so that code reads
// like the reports it writes.
constexpr bool named_after(std::string_view constant, std::string_view id) {
    if (constant.size() != id.size()) return false;
    for (std::size_t i = 0; i < id.size(); ++i)
        if (constant[i] != (id[i] == '-' ? '_' : id[i])) return false;
    return true;
}
#define PICKLEGUARD_RULE_NAMED(constant, id, title, help) \
    static_assert(named_after(#constant, id), "rule constant " #constant " is not named after " id);
PICKLEGUARD_RULES(PICKLEGUARD_RULE_NAMED)
#undef PICKLEGUARD_RULE_NAMED

// Identifiers are unique: find_rule returns the first row, so a second one
// would never be found. (Two rows with one constant do not compile.)
constexpr bool unique_ids() {
    for (std::size_t i = 0; i < std::size(kRules); ++i)
        for (std::size_t j = i + 1; j < std::size(kRules); ++j)
            if (kRules[i].id == kRules[j].id) return false;
    return true;
}
static_assert(unique_ids(), "two rules share an identifier");

}  // namespace

std::span<const rule_info> all_rules() { return kRules; }

const rule_info* find_rule(std::string_view id) {
    for (const rule_info& r : kRules)
        if (r.id == id) return &r;
    return nullptr;
}

}  // namespace pickleguard
