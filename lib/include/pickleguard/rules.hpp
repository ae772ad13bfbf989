// pickleguard/rules.hpp — the catalogue of finding rules.
//
// Every finding's `rule` is one of these identifiers; they are stable, since
// tools and people filter on them. The catalogue gives each a title and help
// text: SARIF's rule metadata, `pickleguard explain` and docs/rules.md
// (docs/gen_rules_doc.py) come from it.
//
//     for (const pickleguard::rule_info& r : pickleguard::all_rules()) print(r.id, r.title);
//     if (const pickleguard::rule_info* r = pickleguard::find_rule(f.rule)) print(r->help);
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
// nullptr for an identifier not in the catalogue.
const rule_info* find_rule(std::string_view id);

}  // namespace pickleguard
