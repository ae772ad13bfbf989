// Policies: TOML in, lookup tables out (the knowledge base, read the same
// way, is in knowledge_base.cpp).
//
// Files are validated strictly: an unknown key, a misspelt use or a pattern
// RE2 cannot compile is an error naming the file and line, because a typo in
// an allow-list must never quietly change what it allows.
#include "judge/policy_toml.hpp"

#include "judge/embedded_data.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <fstream>
#include <set>
#include <sstream>

namespace pickleguard {
namespace {

// toml++ 3.3 (Debian 12) has undefined behaviour when it tests some
// non-ASCII characters outside strings for whitespace (upstream issue 190,
// found by our policy fuzzer). TOML never needs non-ASCII there (bare keys
// are ASCII), so such a character is refused before parsing. Returns the
// 1-based line of the first one, or 0.
std::size_t non_ascii_outside_strings(std::string_view t) {
    std::size_t line = 1;
    for (std::size_t i = 0; i < t.size(); ++i) {
        char c = t[i];
        if (c == '\n') {
            ++line;
        } else if (c == '#') {
            while (i + 1 < t.size() && t[i + 1] != '\n') ++i;
        } else if (c == '"' || c == '\'') {
            bool multi = t.substr(i, 3) == std::string(3, c);
            std::string_view close = multi ? std::string_view(c == '"' ? "\"\"\"" : "'''") : std::string_view(&t[i], 1);
            i += multi ? 3 : 1;
            while (i < t.size() && t.substr(i, close.size()) != close) {
                if (t[i] == '\n') {
                    if (!multi) break;  // unterminated: the parser reports it; keep checking the next lines
                    ++line;
                }
                if (c == '"' && t[i] == '\\') ++i;  // escapes in basic strings
                ++i;
            }
            if (i < t.size() && t[i] == '\n') {
                ++line;
                continue;
            }
            i += close.size() - 1;
        } else if (static_cast<unsigned char>(c) >= 0x80) {
            return line;
        }
    }
    return 0;
}

// The code points toml++ 3.3 mishandles even inside strings and comments
// (error recovery reads them as possible whitespace); no policy needs them.
std::size_t line_of_unsupported_code_point(std::string_view t) {
    std::size_t line = 1;
    for (std::size_t i = 0; i < t.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(t[i]);
        if (c == '\n') ++line;
        if (c < 0xc2 || c > 0xef || i + 1 >= t.size()) continue;
        std::uint32_t cp;
        if (c < 0xe0) cp = ((c & 0x1fu) << 6) | (static_cast<unsigned char>(t[i + 1]) & 0x3fu);
        else if (i + 2 < t.size())
            cp = ((c & 0x0fu) << 12) | ((static_cast<unsigned char>(t[i + 1]) & 0x3fu) << 6) |
                 (static_cast<unsigned char>(t[i + 2]) & 0x3fu);
        else continue;
        if ((cp >= 0xa1 && cp <= 0x499) || (cp >= 0x2c5e && cp <= 0x3057) || (cp >= 0xfb26 && cp <= 0xfefe))
            return line;
    }
    return 0;
}

}  // namespace

namespace policy_toml {

error usage_error(const std::string& where, const std::string& what) {
    error e;
    e.kind = error_kind::usage;
    e.reason = where + ": " + what;
    return e;
}

// A pattern of a policy or the knowledge base, compiled by RE2 (linear
// time); a bad one is an error naming where it is and which key holds it.
result<std::unique_ptr<RE2>> compile_pattern(const std::string& pattern, const std::string& at, const char* key) {
    RE2::Options opt;
    opt.set_log_errors(false);
    auto re = std::make_unique<RE2>(pattern, opt);
    if (!re->ok()) return usage_error(at, std::string("bad ") + key + ": " + re->error());
    return re;
}

std::string where(const std::string& origin, const toml::node& n) {
    auto line = n.source().begin.line;
    return line ? origin + ":" + std::to_string(line) : origin;
}

// Rejects keys a table may not have, so typos surface; `at` receives where
// the key is (its own line, not the table's header: an [[allow]] of twenty
// lines with one misspelt key must point at that key).
std::string unknown_key(const toml::table& t, std::initializer_list<std::string_view> allowed,
                        const std::string& origin, std::string& at) {
    for (auto&& [k, v] : t) {
        if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
            auto line = k.source().begin.line;
            at = line ? origin + ":" + std::to_string(line) : where(origin, v);
            return std::string(k.str());
        }
    }
    return {};
}

// Where a key's value is, for an error about it; the table's place when the
// key is absent.
std::string value_at(const std::string& origin, const toml::table& t, std::string_view key, const std::string& table_at) {
    const toml::node* n = t.get(key);
    return n && n->source().begin.line ? where(origin, *n) : table_at;
}

// TOML text to a table, after the checks toml++ 3.3 needs (above); one
// path for policies and the knowledge base.
result<toml::parse_result> parse_toml(std::string_view text, const std::string& origin) {
    if (std::size_t line = line_of_unsupported_code_point(text))
        return usage_error(origin + ":" + std::to_string(line),
                           "character not supported in policy files (U+00A1-U+0499, U+2C5E-U+3057, U+FB26-U+FEFE: "
                           "the TOML parser mishandles them)");
    if (std::size_t line = non_ascii_outside_strings(text))
        return usage_error(origin + ":" + std::to_string(line), "non-ASCII character outside a string or comment");
    toml::parse_result parsed = toml::parse(text, origin);
    if (!parsed) {
        const auto& err = parsed.error();
        return usage_error(origin + ":" + std::to_string(err.source().begin.line), std::string(err.description()));
    }
    return parsed;
}

}  // namespace policy_toml

using namespace policy_toml;

namespace {

struct pattern_entry {
    std::unique_ptr<RE2> module, name;  // null when exact
    std::size_t entry;                  // index into entries
};

// "reference, call, new, ...": the words a policy may write, as the error
// for an unknown one lists them (the default first).
std::string expected_uses() {
    std::string s = "reference";
    for (const use_word& u : use_words)
        if (u.bit != uses::reference) s += ", " + std::string(u.word);
    return s;
}

}  // namespace

std::string describe_uses(std::uint8_t bits) {
    std::string s;
    for (const use_word& u : use_words)
        if (bits & u.bit) s += (s.empty() ? "" : ", ") + std::string(u.word);
    return s.empty() ? "reference" : s;
}

struct policy::impl {
    exact_index exact;  // key_of(module, name) -> entry
    std::vector<pattern_entry> patterns;
    std::set<std::string, std::less<>> storage_types;
    std::unordered_map<std::size_t, std::unique_ptr<RE2>> str_arg_patterns;  // entry index -> compiled
    std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<RE2>> arg_patterns;  // (entry, args item) -> compiled
};

policy::policy() : impl_(std::make_unique<impl>()) {}
policy::~policy() = default;
policy::policy(policy&&) noexcept = default;
policy& policy::operator=(policy&&) noexcept = default;

const allow_entry* policy::find(std::string_view module, std::string_view name) const {
    auto it = with_key(module, name, [&](std::string_view k) { return impl_->exact.find(k); });
    if (it != impl_->exact.end()) return &entries_[it->second];
    if (name.find('.') != std::string_view::npos) return nullptr;  // dotted names are listed or refused
    for (const pattern_entry& p : impl_->patterns) {
        const allow_entry& e = entries_[p.entry];
        bool module_ok = p.module ? RE2::FullMatch(re2::StringPiece(module.data(), module.size()), *p.module)
                                  : module == e.module;
        if (!module_ok) continue;
        bool name_ok = p.name ? RE2::FullMatch(re2::StringPiece(name.data(), name.size()), *p.name) : name == e.name;
        if (name_ok) return &e;
    }
    return nullptr;
}

bool policy::allows_storage_type(std::string_view qualified) const {
    return impl_->storage_types.find(qualified) != impl_->storage_types.end();
}

bool policy::accepts_str_arg(const allow_entry& entry, std::string_view text) const {
    auto it = impl_->str_arg_patterns.find(static_cast<std::size_t>(&entry - entries_.data()));
    if (it == impl_->str_arg_patterns.end()) return true;
    return RE2::FullMatch(re2::StringPiece(text.data(), text.size()), *it->second);
}

bool policy::accepts_arg_text(const allow_entry& entry, std::size_t rule, std::string_view text) const {
    auto it = impl_->arg_patterns.find({static_cast<std::size_t>(&entry - entries_.data()), rule});
    if (it == impl_->arg_patterns.end()) return true;
    return RE2::FullMatch(re2::StringPiece(text.data(), text.size()), *it->second);
}

namespace {

std::string read_file(const std::string& path, bool& ok) {
    std::ifstream in(path, std::ios::binary);
    ok = static_cast<bool>(in);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct policy_source {
    std::string text, origin;
    std::string dir;  // where its own includes are looked for
    std::string key;  // what include cycles are told by
};
result<policy_source> include_source(const std::string& name, const std::string& search_dir);

// Parses one file and merges its includes into `out`; `seen` breaks cycles.
result<void> parse_into(std::string_view text, const std::string& origin, const std::string& search_dir,
                        std::vector<allow_entry>& entries, std::vector<persistent_id_rule>& pids,
                        limits& lim, std::vector<std::string>& stack, bool top, std::string& name,
                        std::string& description, std::vector<std::string>& includes) {
    auto parsed = parse_toml(text, origin);
    if (!parsed) return parsed.error();
    const toml::table& root = parsed.value().table();
    std::string key_at;
    if (auto k = unknown_key(root, {"name", "description", "include", "allow", "persistent_id", "limits"}, origin, key_at);
        !k.empty())
        return usage_error(key_at, "unknown key '" + k + "' (expected name, description, include, allow, persistent_id, limits)");
    auto file_name = root["name"].value<std::string>();
    if (!file_name) return usage_error(origin, "a policy needs `name = \"...\"`");
    if (top) {
        name = *file_name;
        description = root["description"].value_or(std::string{});
    }
    if (const toml::node* inc = root.get("include")) {
        const toml::array* arr = inc->as_array();
        if (!arr) return usage_error(where(origin, *inc), "`include` must be an array of policy names");
        for (const toml::node& item : *arr) {
            auto inc_name = item.value<std::string>();
            if (!inc_name) return usage_error(where(origin, item), "`include` entries must be strings");
            if (top) includes.push_back(*inc_name);
            auto source = include_source(*inc_name, search_dir);
            if (!source) return usage_error(where(origin, item), source.error().reason);
            auto& [inc_text, inc_origin, inc_dir, inc_key] = source.value();
            if (std::find(stack.begin(), stack.end(), inc_key) != stack.end())
                return usage_error(where(origin, item), "include cycle through '" + *inc_name + "'");
            stack.push_back(inc_key);
            std::string n2, d2;
            std::vector<std::string> i2;
            auto r = parse_into(inc_text, inc_origin, inc_dir, entries, pids, lim, stack, false, n2, d2, i2);
            stack.pop_back();
            if (!r) return r.error();
        }
    }
    if (const toml::node* allow = root.get("allow")) {
        const toml::array* arr = allow->as_array();
        if (!arr) return usage_error(where(origin, *allow), "`allow` must be an array of tables ([[allow]])");
        for (const toml::node& item : *arr) {
            const toml::table* t = item.as_table();
            std::string at = where(origin, item);
            if (!t) return usage_error(at, "each [[allow]] entry must be a table");
            if (auto k = unknown_key(*t, {"module", "name", "module_pattern", "name_pattern", "uses", "max_int_arg",
                                          "str_arg_pattern", "max_int_bytes", "max_iter_len", "min_args", "max_args",
                                          "args", "invokes", "state_arg", "state", "empty_state_keys",
                                          "required_state_keys", "forbidden_state_keys", "cost", "called_state_keys",
                                          "called_state_values", "attribute_tables", "callable_instances", "note"},
                                     origin, key_at);
                !k.empty())
                return usage_error(key_at, "unknown key '" + k + "' in [[allow]]");
            allow_entry e;
            e.origin = at;
            auto module = (*t)["module"].value<std::string>();
            auto module_pattern = (*t)["module_pattern"].value<std::string>();
            auto name_v = (*t)["name"].value<std::string>();
            auto name_pattern = (*t)["name_pattern"].value<std::string>();
            if (!!module == !!module_pattern) return usage_error(at, "give exactly one of `module` and `module_pattern`");
            if (!!name_v == !!name_pattern) return usage_error(at, "give exactly one of `name` and `name_pattern`");
            e.module = module ? *module : *module_pattern;
            e.module_is_pattern = !!module_pattern;
            e.name = name_v ? *name_v : *name_pattern;
            e.name_is_pattern = !!name_pattern;
            e.note = (*t)["note"].value_or(std::string{});
            if (const toml::node* m = t->get("max_int_arg")) {
                auto n = m->value<std::int64_t>();
                if (!n || *n < 0) return usage_error(where(origin, *m), "`max_int_arg` must be a non-negative integer");
                e.max_int_arg = static_cast<std::uint64_t>(*n);
            }
            if (const toml::node* sp = t->get("str_arg_pattern")) {
                auto v = sp->value<std::string>();
                if (!v || v->empty())
                    return usage_error(where(origin, *sp), "`str_arg_pattern` must be a non-empty string (an RE2 pattern)");
                e.str_arg_pattern = *v;
            }
            auto count = [&](const char* key, std::optional<std::uint64_t>& out) -> result<void> {
                if (const toml::node* m = t->get(key)) {
                    auto n = m->value<std::int64_t>();
                    if (!n || *n < 0)
                        return usage_error(where(origin, *m), "`" + std::string(key) + "` must be a non-negative integer");
                    out = static_cast<std::uint64_t>(*n);
                }
                return boost::outcome_v2::success();
            };
            if (auto r = count("max_int_bytes", e.max_int_bytes); !r) return r.error();
            if (auto r = count("max_iter_len", e.max_iter_len); !r) return r.error();
            if (auto r = count("cost", e.cost); !r) return r.error();
            std::optional<std::uint64_t> state_arg;
            if (auto r = count("state_arg", state_arg); !r) return r.error();
            if (state_arg) e.state_arg = static_cast<std::size_t>(*state_arg);
            if (const toml::node* st = t->get("state")) {
                auto v = st->value<std::string>();
                if (!v || std::find(state_checkers.begin(), state_checkers.end(), *v) == state_checkers.end()) {
                    std::string names;
                    for (std::string_view n : state_checkers) names += (names.empty() ? "" : ", ") + std::string(n);
                    return usage_error(where(origin, *st), "`state` must name a state checker (" + names + ")");
                }
                e.state = *v;
            }
            for (auto [key, out] : {std::pair{"empty_state_keys", &e.empty_state_keys},
                                    std::pair{"required_state_keys", &e.required_state_keys},
                                    std::pair{"forbidden_state_keys", &e.forbidden_state_keys},
                                    std::pair{"called_state_keys", &e.called_state_keys},
                                    std::pair{"called_state_values", &e.called_state_values},
                                    std::pair{"attribute_tables", &e.attribute_tables}})
                if (const toml::node* m = t->get(key)) {
                    const toml::array* ka = m->as_array();
                    if (!ka) return usage_error(where(origin, *m), "`" + std::string(key) + "` must be an array of strings");
                    for (const toml::node& k : *ka) {
                        auto v = k.value<std::string>();
                        if (!v || v->empty())
                            return usage_error(where(origin, k), "`" + std::string(key) + "` items must be non-empty strings");
                        out->push_back(*v);
                    }
                }
            if (const toml::node* ci = t->get("callable_instances")) {
                const toml::value<bool>* v = ci->as_boolean();  // value<bool>() would take an integer
                if (!v) return usage_error(where(origin, *ci), "`callable_instances` must be true or false");
                e.callable_instances = v->get();
            }
            auto position = [&](const toml::node& m, const char* what) -> result<std::size_t> {
                auto n = m.value<std::int64_t>();
                if (!n || *n < 0 || *n > 255)
                    return usage_error(where(origin, m), std::string(what) + " must be an argument count or position (0-255)");
                return static_cast<std::size_t>(*n);
            };
            for (auto [key, out] : {std::pair{"min_args", &e.min_args}, std::pair{"max_args", &e.max_args}})
                if (const toml::node* m = t->get(key)) {
                    auto n = position(*m, (std::string("`") + key + "`").c_str());
                    if (!n) return n.error();
                    *out = n.value();
                }
            if (e.min_args && e.max_args && *e.min_args > *e.max_args)
                return usage_error(value_at(origin, *t, "max_args", at), "`max_args` is less than `min_args`");
            if (const toml::node* args = t->get("args")) {
                const toml::array* aa = args->as_array();
                if (!aa)
                    return usage_error(where(origin, *args),
                                       "`args` must be an array of tables ({ pos = 1, pattern = \"...\" }, { pos = 1, max_int = 0 }, { pos = 1, array_items = 1 } or { pos = 2, empty = true })");
                for (const toml::node& item2 : *aa) {
                    const toml::table* rt = item2.as_table();
                    const std::string item_at = where(origin, item2);
                    if (!rt) return usage_error(item_at, "each `args` item must be a table");
                    if (auto k = unknown_key(*rt, {"pos", "pattern", "max_int", "array_items", "empty", "module", "name"}, origin, key_at); !k.empty())
                        return usage_error(key_at, "unknown key '" + k + "' in `args` (expected pos, pattern, max_int, array_items, empty, module, name)");
                    arg_rule rule;
                    const toml::node* pos = rt->get("pos");
                    if (!pos) return usage_error(item_at, "each `args` item needs `pos`, the position of the argument it bounds");
                    auto n = position(*pos, "`args` pos");
                    if (!n) return n.error();
                    rule.pos = n.value();
                    if (e.max_args && rule.pos >= *e.max_args)
                        return usage_error(where(origin, *pos), "`args` pos " + std::to_string(rule.pos) +
                                                                    " is past `max_args`");
                    for (const arg_rule& other : e.args)
                        if (other.pos == rule.pos)
                            return usage_error(where(origin, *pos), "two `args` items for pos " + std::to_string(rule.pos));
                    if (const toml::node* sp = rt->get("pattern")) {
                        auto v = sp->value<std::string>();
                        if (!v || v->empty())
                            return usage_error(where(origin, *sp), "`args` pattern must be a non-empty string (an RE2 pattern)");
                        if (auto re = compile_pattern(*v, where(origin, *sp), "`args` pattern"); !re) return re.error();
                        rule.pattern = *v;
                    }
                    if (const toml::node* m = rt->get("max_int")) {
                        auto v = m->value<std::int64_t>();
                        if (!v || *v < 0) return usage_error(where(origin, *m), "`args` max_int must be a non-negative integer");
                        rule.max_int = static_cast<std::uint64_t>(*v);
                    }
                    if (const toml::node* m = rt->get("array_items")) {
                        auto v = m->value<std::int64_t>();
                        if (!v || *v < 1) return usage_error(where(origin, *m), "`args` array_items must be a positive integer");
                        rule.array_items = static_cast<std::uint64_t>(*v);
                    }
                    if (const toml::node* m = rt->get("empty")) {
                        const toml::value<bool>* v = m->as_boolean();  // value<bool>() would take 1 for true
                        if (!v || !v->get()) return usage_error(where(origin, *m), "`args` empty must be true (or left out)");
                        rule.empty = true;
                    }
                    {
                        auto gm = (*rt)["module"].value<std::string>();
                        auto gname = (*rt)["name"].value<std::string>();
                        if (rt->get("module") || rt->get("name")) {
                            if (!gm || !gname || gm->empty() || gname->empty())
                                return usage_error(item_at, "an `args` item that pins a global needs both `module` and "
                                                            "`name`, non-empty strings (the global the argument must be)");
                            rule.global_module = *gm;
                            rule.global_name = *gname;
                        }
                    }
                    if (rule.pattern.empty() && !rule.max_int && !rule.array_items && !rule.empty && !rule.pins_global())
                        return usage_error(item_at, "an `args` item needs `pattern`, `max_int`, `array_items`, `empty`, or `module` and `name`");
                    e.args.push_back(std::move(rule));
                }
            }
            if (const toml::node* inv = t->get("invokes")) {
                const toml::array* ia = inv->as_array();
                if (!ia)
                    return usage_error(where(origin, *inv), "`invokes` must be an array of tables ({ arg = 0, use = \"call\", ... })");
                for (const toml::node& item2 : *ia) {
                    const toml::table* it = item2.as_table();
                    const std::string item_at = where(origin, item2);
                    if (!it) return usage_error(item_at, "each `invokes` item must be a table");
                    if (auto k = unknown_key(*it, {"arg", "use", "pass_arg", "star_args", "star_kwargs", "rest_args"},
                                             origin, key_at);
                        !k.empty())
                        return usage_error(key_at, "unknown key '" + k + "' in `invokes` (expected arg, use, pass_arg, star_args, star_kwargs, rest_args)");
                    invoked_arg ia2;
                    auto index = [&](const char* key, std::optional<std::size_t>& out) -> result<void> {
                        if (const toml::node* m = it->get(key)) {
                            auto n = m->value<std::int64_t>();
                            if (!n || *n < 0 || *n > 255)
                                return usage_error(where(origin, *m), "`invokes` " + std::string(key) +
                                                                          " must be an argument position (0-255)");
                            out = static_cast<std::size_t>(*n);
                        }
                        return boost::outcome_v2::success();
                    };
                    std::optional<std::size_t> arg;
                    if (auto r = index("arg", arg); !r) return r.error();
                    if (!arg) return usage_error(item_at, "each `invokes` item needs `arg`, the position of the argument called");
                    ia2.arg = *arg;
                    if (auto r = index("pass_arg", ia2.pass_arg); !r) return r.error();
                    if (auto r = index("star_args", ia2.star_args); !r) return r.error();
                    if (auto r = index("star_kwargs", ia2.star_kwargs); !r) return r.error();
                    if (auto r = index("rest_args", ia2.rest_args); !r) return r.error();
                    if (!!ia2.pass_arg + !!ia2.star_args + !!ia2.rest_args > 1)
                        return usage_error(item_at, "`invokes`: give at most one of pass_arg, star_args and rest_args");
                    ia2.use = use_bit((*it)["use"].value_or(std::string{}));
                    if (ia2.use != uses::call && ia2.use != uses::instantiate)
                        return usage_error(value_at(origin, *it, "use", item_at), "`invokes` use must be \"call\" or \"new\"");
                    e.invokes.push_back(ia2);
                }
            }
            if (!t->get("uses")) e.uses = uses::reference;
            if (const toml::node* u = t->get("uses")) {
                const toml::array* ua = u->as_array();
                if (!ua) return usage_error(where(origin, *u), "`uses` must be an array of strings");
                for (const toml::node& use : *ua) {
                    auto s = use.value<std::string>();
                    if (!s) return usage_error(where(origin, use), "`uses` must be an array of strings");
                    if (std::uint8_t bit = use_bit(*s)) e.uses |= bit;
                    else
                        return usage_error(where(origin, use), "unknown use '" + *s + "' (expected " + expected_uses() + ")");
                }
            }
            if ((!e.called_state_keys.empty() || !e.called_state_values.empty() || !e.attribute_tables.empty()) &&
                !(e.uses & (uses::build | uses::build_dict)))
                return usage_error(at, "`called_state_keys`, `called_state_values` and `attribute_tables` constrain "
                                       "BUILD state: the entry needs \"build\" or \"build-dict\" in `uses`");
            if (!e.attribute_tables.empty() && e.called_state_keys.empty())
                return usage_error(at, "`attribute_tables` says where `called_state_keys` are looked up: give "
                                       "`called_state_keys` too");
            entries.push_back(std::move(e));
        }
    }
    if (const toml::node* p = root.get("persistent_id")) {
        const toml::array* arr = p->as_array();
        if (!arr) return usage_error(where(origin, *p), "`persistent_id` must be an array of tables ([[persistent_id]])");
        for (const toml::node& item : *arr) {
            const toml::table* t = item.as_table();
            std::string at = where(origin, item);
            if (!t) return usage_error(at, "each [[persistent_id]] entry must be a table");
            if (auto k = unknown_key(*t, {"shape", "storage_types", "note"}, origin, key_at); !k.empty())
                return usage_error(key_at, "unknown key '" + k + "' in [[persistent_id]]");
            persistent_id_rule rule;
            rule.shape = (*t)["shape"].value_or(std::string{});
            if (rule.shape != "torch-storage" && rule.shape != "torch-storage-legacy")
                return usage_error(value_at(origin, *t, "shape", at), "unknown persistent_id shape '" + rule.shape +
                                           "' (expected torch-storage or torch-storage-legacy)");
            if (const toml::array* st = (*t)["storage_types"].as_array()) {
                for (const toml::node& s : *st) {
                    auto v = s.value<std::string>();
                    if (!v) return usage_error(where(origin, s), "`storage_types` must be strings like \"torch.FloatStorage\"");
                    rule.storage_types.push_back(*v);
                }
            }
            pids.push_back(std::move(rule));
        }
    }
    if (const toml::node* l = root.get("limits")) {
        const toml::table* t = l->as_table();
        if (!t) return usage_error(where(origin, *l), "`limits` must be a table");
        for (auto&& [k, v] : *t) {
            auto n = v.value<std::int64_t>();
            std::string at = where(origin, v);
            if (!n || *n <= 0) return usage_error(at, "limit '" + std::string(k.str()) + "' must be a positive integer");
            const limit_info* li = find_limit(k.str());
            if (!li)
                return usage_error(at, "unknown limit '" + std::string(k.str()) + "' (expected " + limit_names() + ")");
            li->set(lim, static_cast<std::uint64_t>(*n));
        }
    }
    return boost::outcome_v2::success();
}

}  // namespace

result<policy> parse_policy(std::string_view text, const std::string& origin, const std::string& search_dir) {
    policy p;
    std::vector<std::string> stack;
    auto r = parse_into(text, origin, search_dir, p.entries_, p.persistent_ids_, p.limits_, stack, true, p.name_,
                        p.description_, p.includes_);
    if (!r) return r.error();
    stack.push_back(p.name_);
    for (std::size_t i = 0; i < p.entries_.size(); ++i) {
        allow_entry& e = p.entries_[i];
        if (!e.module_is_pattern && !e.name_is_pattern) {
            auto [it, inserted] = p.impl_->exact.try_emplace(key_of(e.module, e.name), i);
            if (!inserted) {
                // The same global listed twice: the union of what they allow.
                allow_entry& first = p.entries_[it->second];
                auto builds = [](const allow_entry& x) { return (x.uses & (uses::build | uses::build_dict)) != 0; };
                const bool first_builds = builds(first);
                first.uses |= e.uses;
                if (!e.max_int_arg) first.max_int_arg.reset();
                else if (first.max_int_arg) first.max_int_arg = std::max(*first.max_int_arg, *e.max_int_arg);
                auto widest = [](std::optional<std::uint64_t>& a, const std::optional<std::uint64_t>& b) {
                    if (!b) a.reset();
                    else if (a) a = std::max(*a, *b);
                };
                widest(first.max_int_bytes, e.max_int_bytes);
                widest(first.max_iter_len, e.max_iter_len);
                // A price, not a bound: the costlier entry's (a call costs
                // what it costs whichever entry allows it).
                if (e.cost) first.cost = std::max(first.cost.value_or(1), *e.cost);
                // What either entry says the callable calls, it calls.
                first.invokes.insert(first.invokes.end(), e.invokes.begin(), e.invokes.end());
                if (!first.state_arg) first.state_arg = e.state_arg;
                // A state check stays: a state the loader's native code
                // cannot survive is not made safe by another entry.
                if (first.state.empty()) first.state = e.state;
                first.callable_instances = first.callable_instances || e.callable_instances;
                // A key stays constrained only if every entry that lets
                // BUILD apply state constrains it too.
                if (builds(e)) {
                    if (!first_builds) {
                        first.empty_state_keys = e.empty_state_keys;
                        first.required_state_keys = e.required_state_keys;
                        first.forbidden_state_keys = e.forbidden_state_keys;
                        first.called_state_keys = e.called_state_keys;
                        first.called_state_values = e.called_state_values;
                        first.attribute_tables = e.attribute_tables;
                    } else {
                        // A table either entry says a __getattr__ reads stays read (tighter).
                        for (const std::string& tbl : e.attribute_tables)
                            if (std::find(first.attribute_tables.begin(), first.attribute_tables.end(), tbl) ==
                                first.attribute_tables.end())
                                first.attribute_tables.push_back(tbl);
                        // (pairs, not structured bindings: clang 14 cannot capture those)
                        for (const auto& keys : {std::pair{&first.empty_state_keys, &e.empty_state_keys},
                                                 std::pair{&first.required_state_keys, &e.required_state_keys},
                                                 std::pair{&first.forbidden_state_keys, &e.forbidden_state_keys},
                                                 std::pair{&first.called_state_keys, &e.called_state_keys},
                                                 std::pair{&first.called_state_values, &e.called_state_values}}) {
                            const std::vector<std::string>* other = keys.second;
                            std::erase_if(*keys.first, [other](const std::string& k) {
                                return std::find(other->begin(), other->end(), k) == other->end();
                            });
                        }
                    }
                }
                // Positional bounds: the looser of the two; a position only
                // one of them bounds is not bounded.
                if (!e.min_args) first.min_args.reset();
                else if (first.min_args) first.min_args = std::min(*first.min_args, *e.min_args);
                if (!e.max_args) first.max_args.reset();
                else if (first.max_args) first.max_args = std::max(*first.max_args, *e.max_args);
                std::vector<arg_rule> both;
                for (const arg_rule& a : first.args)
                    for (const arg_rule& b : e.args) {
                        if (a.pos != b.pos) continue;
                        arg_rule r = a;
                        if (!b.max_int) r.max_int.reset();
                        else if (r.max_int) r.max_int = std::max(*r.max_int, *b.max_int);
                        if (b.pattern.empty()) r.pattern.clear();
                        else if (!r.pattern.empty() && r.pattern != b.pattern)
                            r.pattern = "(?:" + r.pattern + ")|(?:" + b.pattern + ")";
                        if (r.array_items != b.array_items) r.array_items.reset();
                        r.empty = r.empty && b.empty;
                        // A pinned global stays pinned only when both pin the same one.
                        if (r.global_module != b.global_module || r.global_name != b.global_name) {
                            r.global_module.clear();
                            r.global_name.clear();
                        }
                        if (!r.pattern.empty() || r.max_int || r.array_items || r.empty || r.pins_global()) both.push_back(std::move(r));
                    }
                first.args = std::move(both);
                if (e.str_arg_pattern.empty()) first.str_arg_pattern.clear();
                else if (!first.str_arg_pattern.empty() && first.str_arg_pattern != e.str_arg_pattern)
                    first.str_arg_pattern = "(?:" + first.str_arg_pattern + ")|(?:" + e.str_arg_pattern + ")";
            }
            continue;
        }
        pattern_entry pe;
        pe.entry = i;
        if (e.module_is_pattern) {
            auto re = compile_pattern(e.module, e.origin, "module_pattern");
            if (!re) return re.error();
            pe.module = std::move(re).value();
        }
        if (e.name_is_pattern) {
            auto re = compile_pattern(e.name, e.origin, "name_pattern");
            if (!re) return re.error();
            pe.name = std::move(re).value();
        }
        p.impl_->patterns.push_back(std::move(pe));
    }
    // After merging: a duplicate's pattern may have joined its first entry's.
    for (std::size_t i = 0; i < p.entries_.size(); ++i) {
        const allow_entry& e = p.entries_[i];
        if (e.str_arg_pattern.empty()) continue;
        auto re = compile_pattern(e.str_arg_pattern, e.origin, "str_arg_pattern");
        if (!re) return re.error();
        p.impl_->str_arg_patterns.emplace(i, std::move(re).value());
    }
    for (std::size_t i = 0; i < p.entries_.size(); ++i) {
        const allow_entry& e = p.entries_[i];
        for (std::size_t r = 0; r < e.args.size(); ++r) {
            if (e.args[r].pattern.empty()) continue;
            auto re = compile_pattern(e.args[r].pattern, e.origin, "`args` pattern");
            if (!re) return re.error();
            p.impl_->arg_patterns.emplace(std::pair{i, r}, std::move(re).value());
        }
    }
    for (const persistent_id_rule& rule : p.persistent_ids_)
        for (const std::string& s : rule.storage_types) p.impl_->storage_types.insert(s);
    return p;
}

std::vector<std::string> shipped_policy_names() {
    std::vector<std::string> names;
    for (const embedded_file& f : embedded_policies()) names.emplace_back(f.name);
    return names;
}

result<std::string> shipped_policy_text(std::string_view name) {
    for (const embedded_file& f : embedded_policies())
        if (f.name == name) return std::string(f.text);
    std::string known;
    for (const embedded_file& f : embedded_policies()) known += (known.empty() ? "" : ", ") + std::string(f.name);
    return usage_error("policy '" + std::string(name) + "'", "no such shipped policy (shipped: " + known + ")");
}

result<policy> load_shipped_policy(std::string_view name) {
    auto text = shipped_policy_text(name);
    if (!text) return text.error();
    return parse_policy(text.value(), "policies/" + std::string(name) + ".toml");
}

result<policy> load_policy(const std::string& name_or_path) {
    if (!is_policy_path(name_or_path)) {
        auto shipped = load_shipped_policy(name_or_path);
        std::error_code ec;
        for (const std::string& file : {name_or_path, name_or_path + ".toml"})
            if (!shipped && std::filesystem::exists(file, ec))
                return usage_error("policy '" + name_or_path + "'",
                                   "no such shipped policy; to read the file, write ./" + file);
        return shipped;
    }
    bool ok = false;
    std::string text = read_file(name_or_path, ok);
    if (!ok) return usage_error(name_or_path, "cannot read policy file");
    std::string dir = name_or_path.find('/') == std::string::npos ? "." : name_or_path.substr(0, name_or_path.rfind('/'));
    return parse_policy(text, name_or_path, dir);
}

// ---- where policies come from: names and paths (issue 13 §4) ---------------
//
// A name ("numpy") is a shipped policy. A path (a '/' in it, or ending in
// ".toml") is a file, and never a shipped policy of the same stem: a user's
// ./numpy.toml used to be read as the shipped numpy policy. An include in a
// file is looked for from that file's folder, not the first file's.

bool is_policy_path(std::string_view s) { return s.find('/') != std::string_view::npos || s.ends_with(".toml"); }

namespace {

std::string folder_of(const std::string& path) {
    std::size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string path_from(const std::string& dir, const std::string& path) {
    if (path.starts_with('/') || dir.empty() || dir == ".") return path;
    return (dir.ends_with('/') ? dir : dir + "/") + path;
}

// A file's identity for cycles: two spellings of one file are one.
std::string file_key(const std::string& path) {
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(path, ec);
    return "file:" + (ec ? path : canonical.string());
}

error include_error(const std::string& what) {
    error e;
    e.kind = error_kind::usage;
    e.reason = what;
    return e;
}

result<policy_source> file_source(const std::string& path) {
    bool ok = false;
    std::string text = read_file(path, ok);
    if (!ok) return usage_error(path, "cannot read policy file");
    return policy_source{std::move(text), path, folder_of(path), file_key(path)};
}

result<policy_source> include_source(const std::string& name, const std::string& search_dir) {
    if (is_policy_path(name)) {
        std::string path = path_from(search_dir, name);
        auto f = file_source(path);
        if (!f) return include_error("cannot read included policy file '" + path + "'");
        return f;
    }
    if (auto shipped = shipped_policy_text(name))
        return policy_source{std::move(shipped).value(), "policies/" + name + ".toml", search_dir, "shipped:" + name};
    // A bare name that is not shipped: NAME.toml beside the including file
    // (a name that is shipped needs a path to mean the file: "./numpy.toml").
    std::string path = path_from(search_dir, name + ".toml");
    auto f = file_source(path);
    if (!f) return include_error("cannot find included policy '" + name + "'");
    return f;
}

// A TOML basic string for any UTF-8 text, ASCII only: every other code point
// escaped, as the parser checks above refuse some of them written plainly.
result<std::string> toml_ascii_string(std::string_view s) {
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        std::uint32_t cp = c;
        std::size_t n = 1;
        if (c >= 0x80) {
            n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            if (n == 0 || i + n > s.size()) return usage_error(std::string(s), "policy path is not valid UTF-8");
            cp = c & (0x7f >> n);
            for (std::size_t k = 1; k < n; ++k) {
                auto cc = static_cast<unsigned char>(s[i + k]);
                if ((cc & 0xc0) != 0x80) return usage_error(std::string(s), "policy path is not valid UTF-8");
                cp = cp << 6 | (cc & 0x3f);
            }
            if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return usage_error(std::string(s), "policy path is not valid UTF-8");
        }
        i += n;
        if (cp == '"' || cp == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x20 || cp >= 0x7f) {
            char buf[16];
            std::snprintf(buf, sizeof buf, cp > 0xffff ? "\\U%08x" : "\\u%04x", static_cast<unsigned>(cp));
            out += buf;
        } else {
            out.push_back(static_cast<char>(cp));
        }
    }
    return out + "\"";
}

}  // namespace

result<policy> load_policies(const std::vector<std::string>& names_or_paths) {
    if (names_or_paths.empty()) return load_shipped_policy("default");
    if (names_or_paths.size() == 1) return load_policy(names_or_paths[0]);
    // The files themselves, merged as a policy that includes each in turn:
    // include_source reads a path as that file, relative to the working
    // directory here, and a bare name must be shipped, as with one --policy.
    // Named as the values are given, joined by '+' ("python+numpy"), as
    // reports name it, so a finding's "not allowed by policy '...'" says
    // which policies were in force.
    std::string joined;
    for (const std::string& n : names_or_paths) joined += (joined.empty() ? "" : "+") + n;
    auto quoted_name = toml_ascii_string(joined);
    if (!quoted_name) return quoted_name.error();
    std::string text = "name = " + quoted_name.value() + "\ninclude = [";
    for (std::size_t i = 0; i < names_or_paths.size(); ++i) {
        const std::string& n = names_or_paths[i];
        if (!is_policy_path(n))
            if (auto shipped = shipped_policy_text(n); !shipped) return load_policy(n).error();
        auto quoted = toml_ascii_string(n);
        if (!quoted) return quoted.error();
        text += (i ? ", " : "") + quoted.value();
    }
    text += "]\n";
    return parse_policy(text, "--policy", ".");
}

}  // namespace pickleguard
