// The judge: decoded events against a policy, explained by the knowledge base.
//
// Rules that no policy can switch off are checked here in code; everything a
// policy can allow is looked up in it. Checks run once per event or global,
// never per opcode, so scanning costs about what decoding costs.
#include "pickleguard/scan.hpp"

#include "decode/graph_storage.hpp"
#include "decode/opcode_table.hpp"
#include "judge/stream.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>

namespace pickleguard {

const char* to_string(verdict v) noexcept {
    switch (v) {
        case verdict::safe: return "safe";
        case verdict::unsafe: return "unsafe";
        case verdict::error: return "error";
    }
    return "?";
}

void file_report::settle() {
    if (verdict == verdict::error) return;
    verdict = std::any_of(findings.begin(), findings.end(), [](const finding& f) { return f.violation; })
                  ? verdict::unsafe
                  : verdict::safe;
}

namespace {

std::string opcode_name(std::uint8_t code) {
    const opcode_info* op = find_opcode(code);
    return op ? std::string(op->name) : "?";
}

std::string qualified(std::string_view module, std::string_view name) {
    std::string s(module);
    s.push_back('.');
    s.append(name);
    return s;
}

limits tighter(const limits& a, const limits& b) {
    limits l;
    l.max_input_bytes = std::min(a.max_input_bytes, b.max_input_bytes);
    l.max_opcodes = std::min(a.max_opcodes, b.max_opcodes);
    l.max_stack_depth = std::min(a.max_stack_depth, b.max_stack_depth);
    l.max_mark_depth = std::min(a.max_mark_depth, b.max_mark_depth);
    l.max_nesting_depth = std::min(a.max_nesting_depth, b.max_nesting_depth);
    l.max_memo_entries = std::min(a.max_memo_entries, b.max_memo_entries);
    l.max_memo_index = std::min(a.max_memo_index, b.max_memo_index);
    l.max_container_items = std::min(a.max_container_items, b.max_container_items);
    l.max_nodes = std::min(a.max_nodes, b.max_nodes);
    l.max_decoded_bytes = std::min(a.max_decoded_bytes, b.max_decoded_bytes);
    l.max_decimal_int_digits = std::min(a.max_decimal_int_digits, b.max_decimal_int_digits);
    l.max_text_int_chars = std::min(a.max_text_int_chars, b.max_text_int_chars);
    l.max_json_bytes = std::min(a.max_json_bytes, b.max_json_bytes);
    return l;
}

// Callables that make an instance of a class passed as an argument: the
// class gets the "new" use, and state applied to the result is applied to an
// instance of that class. As defined by CPython's copyreg module.
struct instance_maker {
    std::string_view module, name;
    std::size_t class_arg;
};
constexpr instance_maker kInstanceMakers[] = {
    {"copyreg", "_reconstructor", 0},  // protocol 0/1 objects: object.__new__(cls) or base.__new__(cls, state)
    {"copyreg", "__newobj__", 0},      // cls.__new__(cls, *args)
    {"copyreg", "__newobj_ex__", 0},   // cls.__new__(cls, *args, **kwargs)
};

class judge {
public:
    judge(const decoding& d, std::span<const std::byte> input, const policy& p, const knowledge_base& kb,
          const scan_options& opt, const std::string& member, int depth, file_report& out)
        : d_(d), g_(d.graph), input_(input), p_(p), kb_(kb), opt_(opt), member_(member), depth_(depth), out_(out),
          uses_(g_.globals().size(), 0) {}

    void run() {
        for (const event& e : d_.events) on_event(e);
        judge_globals();
        if (d_.failure) on_failure(*d_.failure);
    }

private:
    std::size_t global_index(value_ref v) const {
        return static_cast<std::size_t>(&g_.global(v) - g_.globals().data());
    }
    bool is_global(value_ref v) const { return g_.kind(v) == value_kind::global; }

    // Named globals are those the stream names (g_.globals(), by index) and
    // the attributes builtins.getattr fetches from them with a constant name
    // (fetched_, indices after those): both are what find_class would return.
    const global_name& named(std::size_t i) const {
        return i < g_.globals().size() ? g_.globals()[i] : fetched_names_[i - g_.globals().size()];
    }
    std::optional<std::size_t> named_index(value_ref v) const {
        if (is_global(v)) return global_index(v);
        if (g_.kind(v) != value_kind::reduce) return std::nullopt;
        auto it = fetched_.find(v.index());
        if (it == fetched_.end()) return std::nullopt;
        return it->second;
    }

    // getattr(G, 'name'), G a named global and 'name' a constant identifier,
    // returns what find_class(G's module, G's name + '.name') returns: it is
    // judged as that dotted global, which the policy must list. zoneinfo
    // zones pickle this way (getattr(ZoneInfo, '_unpickle')). Any other call
    // of getattr stays a call of builtins.getattr, and calling what it
    // returns a call of a computed value. (consumed_getattr says when the
    // getattr global itself needs no policy entry.)
    bool fetch_attribute(const event& e, std::size_t getattr_index) {
        if (getattr_index >= g_.globals().size()) return false;
        const global_name& fn = g_.globals()[getattr_index];
        if (fn.module != "builtins" || fn.name != "getattr") return false;
        if (g_.kind(e.operand) != value_kind::tuple || g_.kind(e.result) != value_kind::reduce) return false;
        auto args = g_.items(e.operand);
        if (args.size() != 2 || g_.kind(args[1]) != value_kind::str) return false;
        std::optional<std::size_t> owner = named_index(args[0]);
        std::string_view attr = g_.text(args[1]);
        if (!owner || !is_identifier(attr)) return false;
        const global_name& of = named(*owner);
        global_name gn;
        gn.module = gn.raw_module = of.module;
        gn.name = gn.raw_name = fetched_text_.emplace_back(std::string(of.name) + "." + std::string(attr));
        gn.offset = e.offset;
        gn.opcode = e.opcode;
        gn.protocol = of.protocol;
        gn.dotted = true;
        fetched_names_.push_back(gn);
        uses_.push_back(0);
        getattr_nodes_[getattr_index] = e.target;
        fetched_[e.result.index()] = g_.globals().size() + fetched_names_.size() - 1;
        add("attribute-of-global", severity::info,
            opcode_name(e.opcode) + " calls builtins.getattr(" + qualified(of.module, of.name) + ", '" +
                std::string(attr) + "'): judged as " + qualified(gn.module, gn.name) +
                ", the attribute it fetches, as find_class would resolve that dotted name",
            &e, false)
            .module = gn.module;
        return true;
    }
    // builtins.getattr needs no policy entry when the stream only calls it in
    // ways fetch_attribute resolved: never otherwise used, and never held
    // (node_flag::held: put in a container, an argument, state, or returned)
    // where an allowed callable could be handed it and call it with other
    // arguments. Such a pickle could have named the dotted global directly.
    bool consumed_getattr(std::size_t global_index) const {
        auto it = getattr_nodes_.find(global_index);
        if (it == getattr_nodes_.end() || uses_[global_index] != 0) return false;
        return !(g_.impl().nodes[it->second.index()].flags & node_flag::held);
    }
    static bool is_identifier(std::string_view s) {
        if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
        return std::all_of(s.begin(), s.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        });
    }

    finding& add(std::string rule, severity sev, std::string message, const event* e = nullptr, bool violation = true) {
        finding f;
        f.rule = std::move(rule);
        f.severity = sev;
        f.message = std::move(message);
        f.member = member_;
        f.violation = violation;
        if (e) {
            f.offset = e->offset;
            f.opcode = opcode_name(e->opcode);
        }
        out_.findings.push_back(std::move(f));
        return out_.findings.back();
    }

    // Words for a value a loader computes, for messages.
    std::string describe(value_ref v) const {
        switch (g_.kind(v)) {
            case value_kind::global: return qualified(g_.global(v).module, g_.global(v).name);
            case value_kind::reduce:
            case value_kind::newobj: {
                if (auto i = named_index(v)) return qualified(named(*i).module, named(*i).name);
                value_ref origin = g_.items(v)[0];
                auto o = named_index(origin);
                return "the result of calling " +
                       (o ? qualified(named(*o).module, named(*o).name) : std::string("a computed value"));
            }
            case value_kind::persid: return "a persistent object";
            case value_kind::ext: return "extension code " + std::to_string(g_.ext_code(v));
            default: return std::string("a ") + to_string(g_.kind(v));
        }
    }

    void on_event(const event& e) {
        switch (e.kind) {
            case event_kind::global:
            case event_kind::buffer:
                return;
            case event_kind::call:
            case event_kind::instantiate: {
                const char* verb = e.kind == event_kind::call ? "calls" : "instantiates";
                if (auto i = named_index(e.target)) {
                    if (e.kind == event_kind::call && fetch_attribute(e, *i)) return;
                    uses_[*i] |= e.kind == event_kind::call ? uses::call : uses::instantiate;
                    check_args(e, named(*i));
                    if (e.kind == event_kind::call && is_global(e.target)) {
                        scan_nested(e);
                        note_instance_maker(e);
                    }
                } else {
                    auto& f = add("call-of-computed-value", severity::critical,
                                  opcode_name(e.opcode) + " " + verb + " " + describe(e.target) +
                                      ", a value made while loading rather than a named global; no policy can allow this "
                                      "(it is how getattr/attrgetter chains reach arbitrary methods)",
                                  &e);
                    (void)f;
                }
                return;
            }
            case event_kind::build:
            case event_kind::append:
            case event_kind::setitem:
            case event_kind::additems: {
                std::uint8_t bit = e.kind == event_kind::build ? uses::build
                                 : e.kind == event_kind::append ? uses::append
                                 : e.kind == event_kind::setitem ? uses::setitem
                                                                 : uses::additems;
                value_ref t = e.target;
                value_kind k = g_.kind(t);
                if (k == value_kind::global || named_index(t)) {
                    add("mutation-of-global", severity::critical,
                        opcode_name(e.opcode) + " modifies the global " + describe(t) +
                            " itself (a module, class or function), changing it for the whole process; no policy can allow this",
                        &e);
                } else if (k == value_kind::reduce || k == value_kind::newobj) {
                    auto made = made_from_.find(t.index());
                    value_ref origin = made != made_from_.end() ? made->second : g_.items(t)[0];
                    if (auto o = named_index(origin)) uses_[*o] |= bit;
                    else
                        add("mutation-of-computed-value", severity::high,
                            opcode_name(e.opcode) + " modifies " + describe(t) + ", whose class is not a named global", &e);
                } else {
                    add("mutation-of-computed-value", severity::high,
                        opcode_name(e.opcode) + " modifies " + describe(t) + "; no policy can allow this", &e);
                }
                if (e.kind == event_kind::build) check_slot_state(e);
                return;
            }
            case event_kind::persistent_id:
                check_persistent_id(e);
                return;
            case event_kind::extension:
                add("extension-code", severity::critical,
                    opcode_name(e.opcode) + " loads extension code " + std::to_string(g_.ext_code(e.target)) +
                        " from copyreg's registry, which the pickle itself can fill (copyreg.add_extension) and whose "
                        "cache bypasses find_class; no policy can allow this",
                    &e);
                return;
        }
    }

    // An entry's bounds on arguments (max_int_arg, str_arg_pattern): what
    // bytes(n) would make the loader allocate, what Fraction('1e999999999')
    // compute. Arguments computed while loading cannot be checked.
    void check_args(const event& e, const global_name& gn) {
        const allow_entry* entry = p_.find(gn.module, gn.name);
        if (!entry || (!entry->max_int_arg && entry->str_arg_pattern.empty())) return;
        if (g_.kind(e.operand) != value_kind::tuple) return;
        auto args = g_.items(e.operand);
        for (std::size_t k = 0; k < args.size(); ++k) {
            value_kind ak = g_.kind(args[k]);
            std::string what, bound;
            if ((ak == value_kind::integer || ak == value_kind::big_integer) && entry->max_int_arg) {
                if (ak == value_kind::integer) {
                    std::int64_t v = g_.as_int(args[k]);
                    std::uint64_t magnitude = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
                    if (magnitude <= *entry->max_int_arg) continue;
                    what = std::to_string(v);
                } else {
                    what = "an integer of " + std::to_string(g_.big_int_bytes(args[k]).size()) + " bytes";
                }
                bound = "integer arguments up to " + std::to_string(*entry->max_int_arg) + " (max_int_arg";
            } else if (ak == value_kind::str && !entry->str_arg_pattern.empty()) {
                std::string_view text = g_.text(args[k]);
                if (p_.accepts_str_arg(*entry, text)) continue;
                what = "'" + std::string(text.substr(0, 60)) + (text.size() > 60 ? "...'" : "'");
                bound = "str arguments matching " + entry->str_arg_pattern + " (str_arg_pattern";
            } else if (is_symbolic(ak)) {
                what = describe(args[k]) + ", which cannot be checked before loading";
                bound = "only arguments it can check (max_int_arg, str_arg_pattern";
            } else {
                continue;
            }
            finding& f = add("argument-not-allowed", severity::medium,
                             opcode_name(e.opcode) + " gives " + qualified(gn.module, gn.name) + " argument " +
                                 std::to_string(k) + " = " + what + "; the policy '" + p_.name() + "' allows " + bound +
                                 ", entry at " + entry->origin + "): loading would cost that much time or memory",
                             &e);
            f.module = gn.module;
            f.name = gn.name;
        }
    }

    // copyreg._reconstructor(cls, ...) and friends instantiate `cls`.
    void note_instance_maker(const event& e) {
        const global_name& gn = g_.global(e.target);
        for (const instance_maker& m : kInstanceMakers) {
            if (gn.module != m.module || gn.name != m.name) continue;
            if (g_.kind(e.operand) != value_kind::tuple) return;
            auto args = g_.items(e.operand);
            if (args.size() <= m.class_arg) return;
            value_ref cls = args[m.class_arg];
            if (is_global(cls)) {
                uses_[global_index(cls)] |= uses::instantiate;
                made_from_[e.result.index()] = cls;
            } else {
                add("call-of-computed-value", severity::critical,
                    qualified(gn.module, gn.name) + " instantiates " + describe(cls) +
                        ", a value made while loading rather than a named class; no policy can allow this",
                    &e);
            }
            return;
        }
    }

    // BUILD's (state, slotstate) form calls setattr for each slot key:
    // "__class__" there swaps the object's class, "__dict__" its namespace.
    void check_slot_state(const event& e) {
        value_ref state = e.operand;
        if (g_.kind(state) != value_kind::tuple || g_.items(state).size() != 2) return;
        value_ref slots = g_.items(state)[1];
        if (g_.kind(slots) != value_kind::dict) return;
        auto kv = g_.items(slots);
        for (std::size_t i = 0; i < kv.size(); i += 2) {
            if (g_.kind(kv[i]) != value_kind::str) continue;
            std::string_view key = g_.text(kv[i]);
            if (key.size() >= 4 && key.starts_with("__") && key.ends_with("__"))
                add("dunder-slot-state", severity::critical,
                    "BUILD sets the attribute '" + std::string(key) + "' through slot state (setattr), which can "
                    "replace the object's class or internals; no policy can allow this",
                    &e);
        }
    }

    void check_persistent_id(const event& e) {
        value_ref pid = e.operand;
        auto is_int = [&](value_ref v) {
            value_kind k = g_.kind(v);
            return k == value_kind::integer || k == value_kind::big_integer;
        };
        for (const persistent_id_rule& rule : p_.persistent_ids()) {
            const bool legacy = rule.shape == "torch-storage-legacy";
            // ('storage', <storage type>, key, location, numel[, view_metadata])
            if (g_.kind(pid) != value_kind::tuple) continue;
            auto t = g_.items(pid);
            if (t.size() != (legacy ? 6u : 5u)) continue;
            if (g_.kind(t[0]) != value_kind::str || g_.text(t[0]) != "storage") continue;
            if (!is_global(t[1])) continue;
            const global_name& st = g_.global(t[1]);
            if (!p_.allows_storage_type(qualified(st.module, st.name))) continue;
            if (g_.kind(t[2]) != value_kind::str || g_.kind(t[3]) != value_kind::str || !is_int(t[4])) continue;
            if (legacy) {
                value_ref view = t[5];
                if (g_.kind(view) != value_kind::none) {
                    if (g_.kind(view) != value_kind::tuple) continue;
                    auto vm = g_.items(view);
                    if (vm.size() != 3 || g_.kind(vm[0]) != value_kind::str || !is_int(vm[1]) || !is_int(vm[2]))
                        continue;
                }
            }
            storage_types_.insert(global_index(t[1]));
            return;
        }
        add("persistent-id-not-allowed", severity::high,
            opcode_name(e.opcode) + " asks the loader's persistent_load for an object the policy '" + p_.name() +
                "' does not describe" +
                (p_.persistent_ids().empty() ? std::string(" (it allows no persistent ids)")
                                             : std::string(" (it allows only PyTorch storages: ('storage', type, key, location, numel))")),
            &e);
    }

    // Bytes handed to a nested loader (pickle.loads and friends) are a pickle
    // too: judge them, and report what they hold under this one.
    void scan_nested(const event& e) {
        const global_name& gn = g_.global(e.target);
        const known_global* k = kb_.find(gn.module, gn.name);
        if (!k || k->category != "nested-loader") return;
        if (depth_ >= opt_.max_nested_depth) return;
        if (g_.kind(e.operand) != value_kind::tuple) return;
        auto args = g_.items(e.operand);
        for (std::size_t i = 0; i < args.size(); ++i) {
            value_kind ak = g_.kind(args[i]);
            if (ak != value_kind::bytes && ak != value_kind::bytearray) continue;
            std::string_view data = g_.text(args[i]);
            std::string inner = (member_.empty() ? std::string() : member_ + " > ") + "argument " + std::to_string(i) +
                                " of " + qualified(gn.module, gn.name) + " at offset " + std::to_string(e.offset);
            scan_stream(std::as_bytes(std::span(data.data(), data.size())), inner, depth_ + 1);
        }
    }

    void judge_globals() {
        const std::size_t count = uses_.size();  // named globals: the stream's, then fetched attributes
        // One report per distinct name; findings for each distinct name too.
        std::map<std::tuple<std::string_view, std::string_view, std::string_view, std::string_view>, std::size_t> seen;
        std::vector<std::uint8_t> merged_uses(count, 0);
        std::vector<bool> consumed(count, true);  // every spelling of the name consumed_getattr
        for (std::size_t i = 0; i < count; ++i) {
            const global_name& gn = named(i);
            auto key = std::make_tuple(gn.module, gn.name, gn.raw_module, gn.raw_name);
            auto [it, inserted] = seen.try_emplace(key, i);
            merged_uses[it->second] |= uses_[i];
            if (!consumed_getattr(i)) consumed[it->second] = false;
        }
        for (auto& [key, i] : seen) {
            const global_name& gn = named(i);
            std::uint8_t needed = merged_uses[i];
            const allow_entry* entry = p_.find(gn.module, gn.name);
            bool storage_only = !entry && needed == 0 && p_.allows_storage_type(qualified(gn.module, gn.name));
            bool allowed = storage_only || (entry && (needed & ~entry->uses) == 0) || consumed[i];

            global_report r;
            r.module = gn.module;
            r.name = gn.name;
            r.raw_module = gn.raw_module;
            r.raw_name = gn.raw_name;
            r.member = member_;
            r.allowed = allowed;
            r.uses = needed;
            r.offset = gn.offset;
            r.opcode = opcode_name(gn.opcode);
            r.protocol = gn.protocol;
            out_.globals.push_back(r);

            event at{event_kind::global, gn.opcode, gn.offset, {}, {}, {}};
            std::string q = qualified(gn.module, gn.name);
            std::string spelled = qualified(gn.raw_module, gn.raw_name);
            if (gn.remapped)
                add("fix-imports-remap", severity::info,
                    "'" + spelled + "' is loaded as " + q + ": below protocol 3 CPython's find_class renames Python 2 "
                    "names (fix_imports); protocol in force: " + std::to_string(gn.protocol),
                    &at, false)
                    .module = gn.module;
            const known_global* k = kb_.find(gn.module, gn.name);
            std::string via;
            if (gn.dotted) {
                // find_class walks the attribute path: shutil + "os.system" is os.system.
                std::string_view path = gn.name;
                std::size_t last = path.rfind('.');
                const known_global* tail = kb_.find(path.substr(0, last), path.substr(last + 1));
                if (!k && tail) {
                    k = tail;
                    via = " (reached as " + std::string(path) + " through " + std::string(gn.module) + ")";
                }
                // An attribute fetched with getattr has its own finding (attribute-of-global).
                const bool named_by_stream = i < g_.globals().size();
                if (named_by_stream) {
                    auto& f = add("dotted-name", severity::medium,
                                  "'" + std::string(gn.name) + "' in module " + std::string(gn.module) +
                                      " is an attribute path: from protocol 4 find_class walks it attribute by "
                                      "attribute, so it can reach objects other modules import" + via,
                                  &at, false);
                    f.module = gn.module;
                    f.name = gn.name;
                }
            }
            if (allowed) continue;
            finding* f;
            if (!entry) {
                std::string reason = k ? k->reason : std::string();
            while (!reason.empty() && (reason.back() == '.' || reason.back() == ' ')) reason.pop_back();
            std::string why = k ? " — " + std::string(to_string(k->severity)) + ", " + k->category + ": " + reason + via
                                    : " — not a known gadget, but loading any class or function outside the policy can run "
                                      "its code";
                f = &add("global-not-allowed", k ? k->severity : severity::high,
                         q + " is not allowed by policy '" + p_.name() + "'" + why +
                             (needed ? " (the pickle would " + describe_uses(needed) + " it)" : std::string()) +
                             ". If you trust the code that wrote this file, allow it in a policy file: [[allow]] module = \"" +
                             std::string(gn.module) + "\" name = \"" + std::string(gn.name) + "\"" +
                             (needed ? " uses = [\"" + replace_all(describe_uses(needed), ", ", "\", \"") + "\"]" : "") +
                             " (see `pickleguard policy infer`)",
                         &at);
            } else {
                std::uint8_t missing = needed & ~entry->uses;
                f = &add("use-not-allowed", k ? std::max(k->severity, severity::high) : severity::high,
                         q + " is allowed by policy '" + p_.name() + "' only to " + describe_uses(entry->uses) +
                             ", but the pickle would " + describe_uses(missing) + " it (entry at " + entry->origin +
                             "). Add the use to that entry if it is intended.",
                         &at);
            }
            f->module = gn.module;
            f->name = gn.name;
        }
    }

    static std::string replace_all(std::string s, std::string_view from, std::string_view to) {
        for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
            s.replace(pos, from.size(), to);
        return s;
    }

    void on_failure(const error& e) {
        std::string reason = e.reason;
        while (!reason.empty() && reason.back() == '.') reason.pop_back();
        finding f;
        f.member = member_;
        f.offset = e.offset == error::no_offset ? std::nullopt : std::optional<std::uint64_t>(e.offset);
        if (e.opcode != error::no_opcode) f.opcode = opcode_name(static_cast<std::uint8_t>(e.opcode));
        if (e.kind == error_kind::limit) {
            f.rule = "limit-exceeded";
            f.severity = severity::medium;
            f.message = "decoding stopped at a resource limit (" + reason +
                        "); the rest of the file was not checked, so it cannot be called safe. Raise the limit in the "
                        "policy's [limits] if the file is trusted to be this large";
        } else {
            f.rule = "malformed-pickle";
            f.severity = severity::high;
            f.message = "the pickle could not be fully decoded: " + reason +
                        ". CPython would have run everything before this point (any findings above); a file that "
                        "cannot be read whole is never safe";
        }
        out_.findings.push_back(std::move(f));
    }

    void scan_stream(std::span<const std::byte> bytes, const std::string& member, int depth);

    const decoding& d_;
    const value_graph& g_;
    std::span<const std::byte> input_;
    const policy& p_;
    const knowledge_base& kb_;
    const scan_options& opt_;
    const std::string& member_;
    int depth_;
    file_report& out_;
    std::vector<std::uint8_t> uses_;
    std::set<std::size_t> storage_types_;
    std::unordered_map<std::uint32_t, value_ref> made_from_;  // result node -> class an instance maker was given
    std::unordered_map<std::uint32_t, std::size_t> fetched_;   // getattr result node -> named global index
    std::unordered_map<std::size_t, value_ref> getattr_nodes_;  // builtins.getattr global index -> its node
    std::deque<global_name> fetched_names_;                    // named globals past g_.globals(); a deque, so
                                                               // references to them stay valid as it grows
    std::deque<std::string> fetched_text_;                     // their names (a deque: views stay valid)
};

void scan_streams(std::span<const std::byte> bytes, const policy& p, const knowledge_base& kb,
                  const scan_options& options, const std::string& member, int depth, file_report& out,
                  const std::function<void(const decoding&)>* first_stream = nullptr) {
    decode_options dopt = options.decode;
    dopt.limit = tighter(options.decode.limit, p.limits());
    std::size_t offset = 0;
    for (int index = 1;; ++index) {
        std::string name = index == 1 ? member
                                      : (member.empty() ? std::string() : member + " ") + "(pickle " +
                                            std::to_string(index) + " at offset " + std::to_string(offset) + ")";
        decoding d = decode(bytes, dopt, offset);
        if (index > 1 && d.failure && d.events.empty()) {
            // Not a pickle: pickle.load stops at the first STOP and never reads it.
            return;
        }
        ++out.pickles;
        judge j(d, bytes, p, kb, options, name, depth, out);
        j.run();
        if (index == 1 && first_stream) (*first_stream)(d);
        if (d.failure || d.end >= bytes.size() || !options.scan_trailing_pickles) return;
        finding f;
        f.rule = "data-after-stop";
        f.severity = severity::low;
        f.violation = false;
        f.member = member;
        f.offset = d.end;
        f.message = std::to_string(bytes.size() - d.end) + " bytes follow the STOP at offset " + std::to_string(d.end - 1) +
                    ". pickle.load ignores them, but a reader that calls it again runs them: any pickle there is "
                    "scanned too";
        out.findings.push_back(std::move(f));
        offset = d.end;
    }
}

void judge::scan_stream(std::span<const std::byte> bytes, const std::string& member, int depth) {
    scan_streams(bytes, p_, kb_, opt_, member, depth, out_);
}

}  // namespace

void scan_pickle_stream(std::span<const std::byte> bytes, const policy& p, const knowledge_base& kb,
                        const scan_options& options, const std::string& member, file_report& out) {
    scan_streams(bytes, p, kb, options, member, 0, out);
}

void scan_pickle_stream(std::span<const std::byte> bytes, const policy& p, const knowledge_base& kb,
                        const scan_options& options, const std::string& member, file_report& out,
                        const std::function<void(const decoding&)>& first_stream) {
    scan_streams(bytes, p, kb, options, member, 0, out, &first_stream);
}

file_report scan_bytes(std::span<const std::byte> bytes, const policy& p, const scan_options& options,
                       const std::string& path, const knowledge_base& kb) {
    file_report r;
    r.path = path;
    r.format = "pickle";
    r.bytes = bytes.size();
    scan_pickle_stream(bytes, p, kb, options, "", r);
    r.settle();
    return r;
}

}  // namespace pickleguard
