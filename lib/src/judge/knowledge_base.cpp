// The knowledge base: dangerous globals and gadgets, TOML in, lookup tables
// out, read like a policy (judge/policy_toml.hpp) and as strictly. It only
// explains findings; the policy alone decides what is allowed.
#include "judge/policy_toml.hpp"

#include "judge/embedded_data.hpp"

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

namespace pickleguard {

using namespace policy_toml;

const char* to_string(severity s) noexcept {
    switch (s) {
        case severity::info: return "info";
        case severity::low: return "low";
        case severity::medium: return "medium";
        case severity::high: return "high";
        case severity::critical: return "critical";
    }
    return "?";
}

result<severity> parse_severity(std::string_view s) {
    for (severity v : {severity::info, severity::low, severity::medium, severity::high, severity::critical})
        if (s == to_string(v)) return v;
    return usage_error("severity '" + std::string(s) + "'", "expected info, low, medium, high or critical");
}

struct knowledge_base::impl {
    std::vector<known_global> entries;
    exact_index exact;
    std::vector<std::pair<std::unique_ptr<RE2>, std::size_t>> patterns;
    // Positions in `patterns`, by module: most names looked up match no entry,
    // and trying all ~90 patterns for each was the judge's largest cost.
    std::unordered_map<std::string, std::vector<std::size_t>, key_hash, std::equal_to<>> patterns_by_module;

    // The shipped base is parsed on first use, not at startup: it costs more
    // than decoding a typical file (~250 entries, ~90 RE2 patterns) and only
    // files that name a global need it.
    std::string_view lazy_text;
    std::once_flag lazy_once;
    std::atomic<bool> ready{false};  // call_once costs a call per lookup; this, a load
    void ensure() {
        if (lazy_text.empty() || ready.load(std::memory_order_acquire)) return;
        std::call_once(lazy_once, [this] {
            auto parsed = parse_knowledge_base(lazy_text, "policies/knowledge/dangerous.toml");
            // The shipped file is checked by the tests; an empty base only loses explanations.
            if (parsed) {
                impl& from = *parsed.value().impl_;
                entries = std::move(from.entries);
                exact = std::move(from.exact);
                patterns = std::move(from.patterns);
                patterns_by_module = std::move(from.patterns_by_module);
            }
            ready.store(true, std::memory_order_release);
        });
    }
};

knowledge_base::knowledge_base() : impl_(std::make_unique<impl>()) {}
knowledge_base::~knowledge_base() = default;
knowledge_base::knowledge_base(knowledge_base&&) noexcept = default;
knowledge_base& knowledge_base::operator=(knowledge_base&&) noexcept = default;

std::size_t knowledge_base::size() const {
    impl_->ensure();
    return impl_->entries.size();
}

const known_global* knowledge_base::find(std::string_view module, std::string_view name) const {
    impl_->ensure();
    auto it = with_key(module, name, [&](std::string_view k) { return impl_->exact.find(k); });
    if (it != impl_->exact.end()) return &impl_->entries[it->second];
    auto by_module = impl_->patterns_by_module.find(module);
    if (by_module == impl_->patterns_by_module.end()) return nullptr;
    for (std::size_t pi : by_module->second) {
        const auto& [re, idx] = impl_->patterns[pi];
        if (RE2::FullMatch(re2::StringPiece(name.data(), name.size()), *re)) return &impl_->entries[idx];
    }
    return nullptr;
}

result<knowledge_base> parse_knowledge_base(std::string_view text, const std::string& origin) {
    auto parsed = parse_toml(text, origin);
    if (!parsed) return parsed.error();
    knowledge_base kb;
    const toml::array* arr = parsed.value().table()["global"].as_array();
    if (!arr) return usage_error(origin, "expected [[global]] entries");
    for (const toml::node& item : *arr) {
        const toml::table* t = item.as_table();
        std::string at = where(origin, item);
        if (!t) return usage_error(at, "each [[global]] must be a table");
        std::string key_at;
        if (auto k = unknown_key(*t, {"module", "name", "name_pattern", "severity", "category", "reason", "reference"},
                                 origin, key_at);
            !k.empty())
            return usage_error(key_at, "unknown key '" + k + "' in [[global]]");
        known_global g;
        auto module = (*t)["module"].value<std::string>();
        auto name = (*t)["name"].value<std::string>();
        auto pattern = (*t)["name_pattern"].value<std::string>();
        if (!module || (!!name == !!pattern)) return usage_error(at, "needs `module` and one of `name`, `name_pattern`");
        g.module = *module;
        g.name = name ? *name : *pattern;
        g.name_is_pattern = !!pattern;
        auto sev = parse_severity((*t)["severity"].value_or(std::string{}));
        if (!sev) return usage_error(at, sev.error().reason);
        g.severity = sev.value();
        g.category = (*t)["category"].value_or(std::string{});
        g.reason = (*t)["reason"].value_or(std::string{});
        g.reference = (*t)["reference"].value_or(std::string{});
        std::size_t idx = kb.impl_->entries.size();
        if (g.name_is_pattern) {
            auto re = compile_pattern(g.name, at, "name_pattern");
            if (!re) return re.error();
            kb.impl_->patterns_by_module[g.module].push_back(kb.impl_->patterns.size());
            kb.impl_->patterns.emplace_back(std::move(re).value(), idx);
        } else {
            kb.impl_->exact.try_emplace(key_of(g.module, g.name), idx);
        }
        kb.impl_->entries.push_back(std::move(g));
    }
    return kb;
}

const knowledge_base& shipped_knowledge_base() {
    static const knowledge_base kb = [] {
        knowledge_base lazy;
        lazy.impl_->lazy_text = embedded_knowledge_base();
        return lazy;
    }();
    return kb;
}

}  // namespace pickleguard
