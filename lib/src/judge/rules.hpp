// Internal: the catalogue of finding rules, for reports (SARIF rule metadata)
// and docs. Identifiers are stable: tools and people filter on them.
#pragma once

#include <span>
#include <string_view>

namespace pickleguard {

struct rule_info {
    std::string_view id;
    std::string_view title;
    std::string_view help;
};

std::span<const rule_info> all_rules();
const rule_info* find_rule(std::string_view id);

}  // namespace pickleguard
