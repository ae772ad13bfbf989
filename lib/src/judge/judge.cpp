// The judge: decoded events against a policy, explained by the knowledge base.
//
// Rules that no policy can switch off are checked here in code; everything a
// policy can allow is looked up in it. Checks run once per event or global,
// never per opcode, so scanning costs about what decoding costs.
#include "pickleguard/judge.hpp"
#include "pickleguard/opcodes.hpp"
#include "pickleguard/rules.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace pickleguard {

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

// Callables CPython's copyreg defines that instantiate a class passed as an
// argument: the class gets the "new" use, and state applied to the result is
// applied to an instance of that class. They are the invokes of these
// callables when a policy's entry does not describe them itself (python.toml
// describes copyreg._reconstructor as data).
struct instance_maker {
    std::string_view module, name;
    invoked_arg how;
};
const instance_maker kInstanceMakers[] = {
    // object.__new__(cls) or base.__new__(cls, state)
    {"copyreg", "_reconstructor", {0, uses::instantiate, std::nullopt, std::nullopt, std::nullopt, std::nullopt}},
    // cls.__new__(cls, *args)
    {"copyreg", "__newobj__", {0, uses::instantiate, std::nullopt, std::nullopt, std::nullopt, std::size_t{1}}},
    // cls.__new__(cls, *args, **kwargs)
    {"copyreg", "__newobj_ex__", {0, uses::instantiate, std::nullopt, std::size_t{1}, std::size_t{2}, std::nullopt}},
};

// A name of the loader's protocol that BUILD dict state must not set on an
// instance: dunders (load_build in _pickle.c looks __setstate__ up on the
// instance, so one stored there by an earlier BUILD is called by the next
// with the stream's state; __reduce_ex__ and friends run when the object is
// copied or pickled again) and the methods the loader itself looks up on
// the instance of a type other than list or set: do_append's "extend" and
// "append", do_additems' "add" (_pickle.c), called with the stream's items.
bool loader_hook_name(std::string_view key) {
    if (key.size() >= 4 && key.starts_with("__") && key.ends_with("__")) return true;
    return key == "append" || key == "extend" || key == "add";
}

class judge {
public:
    judge(const judge_input& in, file_report& out, const nested_pickle_sink& nested)
        : d_(in.decoded), g_(in.decoded.graph), input_(in.bytes), p_(in.p), kb_(in.kb), member_(in.member),
          out_(out), nested_(nested), uses_(g_.globals().size(), 0), lim_(in.limit) {}

    void run() {
        for (const event& e : d_.events) on_event(e);
        judge_globals();
        if (d_.hash_collisions > lim_.max_hash_collisions) {
            event at{event_kind::global, 0, d_.hash_collisions_offset.value_or(d_.start), {}, {}, {}};
            finding& f = add(rule::hash_collisions, severity::medium,
                             "the keys of the pickle's dicts and sets collide in CPython's hash() " +
                                 std::to_string(d_.hash_collisions) + " times (keys probed past others with the "
                                 "same hash), over [limits] max_hash_collisions = " +
                                 std::to_string(lim_.max_hash_collisions) +
                                 " from this opcode on: building them costs the loader time quadratic in their number",
                             &at);
            if (!d_.hash_collisions_offset || *d_.hash_collisions_offset >= input_.size()) f.opcode.clear();
            else f.opcode = opcode_name(static_cast<std::uint8_t>(input_[*d_.hash_collisions_offset]));
        }
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
        uses_.push_back(g_.held(e.result) ? uses::reference : 0);
        getattr_nodes_[getattr_index] = e.target;
        fetched_[e.result.index()] = g_.globals().size() + fetched_names_.size() - 1;
        add(rule::attribute_of_global, severity::info,
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
        return !g_.held(it->second);
    }
    static bool is_identifier(std::string_view s) {
        if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
        return std::all_of(s.begin(), s.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        });
    }

    finding& add(std::string rule, severity sev, std::string message, const event* e = nullptr, bool violation = true) {
        finding f = make_finding(std::move(rule), sev, std::move(message), member_,
                                 e ? std::optional<std::uint64_t>(e->offset) : std::nullopt, violation);
        if (e) f.opcode = opcode_name(e->opcode);
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
                // A global stored as a value (an argument, an item, state,
                // the result) is handed to code that may call it: the
                // "reference" use, which the policy must allow explicitly.
                if (g_.held(e.target)) uses_[global_index(e.target)] |= uses::reference;
                return;
            case event_kind::buffer:
                return;
            case event_kind::call:
            case event_kind::instantiate: {
                const char* verb = e.kind == event_kind::call ? "calls" : "instantiates";
                if (auto i = named_index(e.target)) {
                    if (e.kind == event_kind::call && fetch_attribute(e, *i)) return;
                    uses_[*i] |= e.kind == event_kind::call ? uses::call : uses::instantiate;
                    mark_handed_to_call(e.operand);
                    check_call(e, *i, args_of(e));
                    if (e.kind == event_kind::call && is_pandas_index_maker(*i))
                        index_made_at_[e.result.index()] = build_ordinal_;
                    if (e.kind == event_kind::call && is_global(e.target)) scan_nested(e);
                    if (is_partial(*i)) make_partial(e);
                } else if (auto p = partials_.find(e.target.index());
                           e.kind == event_kind::call && p != partials_.end()) {
                    call_partial(e, p->second);
                } else {
                    auto& f = add(rule::call_of_computed_value, severity::critical,
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
                    add(rule::mutation_of_global, severity::critical,
                        opcode_name(e.opcode) + " modifies the global " + describe(t) +
                            " itself (a module, class or function), changing it for the whole process; no policy can allow this",
                        &e);
                } else if (k == value_kind::reduce || k == value_kind::newobj) {
                    auto made = made_from_.find(t.index());
                    value_ref origin = made != made_from_.end() ? made->second : g_.items(t)[0];
                    if (auto o = named_index(origin)) {
                        uses_[*o] |= bit;
                        if (e.kind == event_kind::build) check_constrained_state(e, *o);
                    } else
                        add(rule::mutation_of_computed_value, severity::high,
                            opcode_name(e.opcode) + " modifies " + describe(t) + ", whose class is not a named global", &e);
                } else {
                    add(rule::mutation_of_computed_value, severity::high,
                        opcode_name(e.opcode) + " modifies " + describe(t) + "; no policy can allow this", &e);
                }
                if (e.kind == event_kind::build) {
                    ++build_ordinal_;
                    check_native_state(e);
                    build_partial(t, e.operand);
                    check_slot_state(e);
                    check_state_keys(e, e.operand, "BUILD");
                    check_state_cost(e);
                }
                return;
            }
            case event_kind::persistent_id:
                check_persistent_id(e);
                return;
            case event_kind::extension:
                add(rule::extension_code, severity::critical,
                    opcode_name(e.opcode) + " loads extension code " + std::to_string(g_.ext_code(e.target)) +
                        " from copyreg's registry, which the pickle itself can fill (copyreg.add_extension) and whose "
                        "cache bypasses find_class; no policy can allow this",
                    &e);
                return;
        }
    }

    // ---- functools.partial: a computed callable that is exact ---------------
    //
    // partial(F, *args) returns an object whose call is F(*args, *more,
    // **kw) (partial_call in _functoolsmodule.c). Where F is a named global,
    // the call of that object is judged as the call of F it is: F's entry,
    // its bounds and invokes apply to the combined arguments. Only when the
    // policy has an entry for functools.partial (so reports under the
    // shipped policies, which have none, are unchanged), and only for a
    // partial nothing else can reach or change:
    //  - made by a call of functools.partial whose first argument is a named
    //    global (a partial of a partial is refused: the inner one would sit in
    //    an argument tuple, where the decoder cannot tell it from an escape);
    //  - never held (node_flag::held: in a container, an argument, state, or
    //    returned by load): an allowed callable handed it, or the code that
    //    called pickle.load, could call it with arguments we never see;
    //  - at most one BUILD, whose state is (func, args, kwds, dict) as
    //    partial_setstate takes it, func the same named global (setstate
    //    replaces func, args and keywords), args a tuple, kwds a dict of plain
    //    values or None, dict None or empty (a __dict__ of its own could hold
    //    '__setstate__', which the next BUILD would call); no APPEND, SETITEM
    //    or ADDITEMS (they look up methods on the instance).
    // Anything else made by functools.partial is a call-of-computed-value.
    struct partial_call {
        std::size_t func;                // named global index
        std::vector<value_ref> args;     // bound positional arguments
        std::optional<value_ref> keywords;  // bound keyword arguments (a dict)
    };
    bool is_partial(std::size_t i) const {
        const global_name& gn = named(i);
        return gn.module == "functools" && gn.name == "partial" && p_.find("functools", "partial");
    }
    bool same_global(std::size_t a, std::size_t b) const {
        return named(a).module == named(b).module && named(a).name == named(b).name;
    }
    // Why a partial is not exact, or empty when it is.
    std::string inexact_partial(const event& e, std::optional<std::size_t>& func) const {
        if (g_.kind(e.result) != value_kind::reduce) return "it is made by " + opcode_name(e.opcode) + ", not by a call";
        if (g_.kind(e.operand) != value_kind::tuple || g_.items(e.operand).empty())
            return "its arguments are computed while loading";
        value_ref f = g_.items(e.operand)[0];
        func = named_index(f);
        if (!func) return "the callable it binds, " + describe(f) + ", is not a named global";
        if (g_.held(e.result))
            return "the partial itself is put in a container, an argument or state, or returned, where code other "
                   "than the stream's own calls could call it with arguments that cannot be checked";
        const applied_ops* ops = g_.applied(e.result);
        if (!ops) return {};
        if (!ops->appended.empty() || !ops->setitems.empty() || !ops->added.empty())
            return "APPEND, SETITEM or ADDITEMS are applied to it";
        if (ops->states.size() > 1) return "BUILD is applied to it more than once";
        if (ops->states.empty()) return {};
        value_ref st = ops->states[0];
        if (g_.kind(st) != value_kind::tuple || g_.items(st).size() != 4)
            return "its BUILD state is not a (func, args, kwds, dict) tuple";
        auto parts = g_.items(st);
        auto sf = named_index(parts[0]);
        if (!sf || !same_global(*sf, *func))
            return "its BUILD state replaces the callable with " + describe(parts[0]) +
                   " (partial.__setstate__ sets func from the state)";
        if (g_.kind(parts[1]) != value_kind::tuple) return "its BUILD state's args are not a tuple";
        if (g_.kind(parts[2]) != value_kind::none && !plain_keywords(parts[2]))
            return "its BUILD state's keywords are not a dict of plain values";
        if (g_.kind(parts[3]) != value_kind::none && !(g_.kind(parts[3]) == value_kind::dict && g_.items(parts[3]).empty()))
            return "its BUILD state gives it a __dict__ of its own";
        return {};
    }
    // A dict of str keys and scalar values: the graph holds a dict as it was
    // at the end of the stream, and a later SETITEM on a shared dict can
    // replace a value after the call was made. A scalar replaced is still
    // a scalar, whose bounds are then unknown (call_partial); containers and
    // computed values could have held anything at the time of the call.
    bool plain_keywords(value_ref kw) const {
        if (g_.kind(kw) != value_kind::dict) return false;
        auto kv = g_.items(kw);
        for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
            if (g_.kind(kv[i]) != value_kind::str || kv[i + 1].is_compound()) return false;
        return true;
    }
    void make_partial(const event& e) {
        std::optional<std::size_t> func;
        std::string why = inexact_partial(e, func);
        if (!why.empty()) {
            add(rule::call_of_computed_value, severity::critical,
                opcode_name(e.opcode) + " calls functools.partial, and the object it makes is not one whose calls can "
                    "be read before loading: " + why + "; no policy can allow this",
                &e);
            return;
        }
        partial_call pc;
        pc.func = *func;
        auto args = g_.items(e.operand);
        pc.args.assign(args.begin() + 1, args.end());
        partials_[e.result.index()] = std::move(pc);
    }
    // BUILD on an exact partial: partial_setstate replaces args and keywords
    // (func is the same global, inexact_partial checked).
    void build_partial(value_ref target, value_ref state) {
        auto it = partials_.find(target.index());
        if (it == partials_.end()) return;
        auto parts = g_.items(state);
        auto args = g_.items(parts[1]);
        it->second.args.assign(args.begin(), args.end());
        it->second.keywords.reset();
        if (g_.kind(parts[2]) == value_kind::dict) it->second.keywords = parts[2];
    }
    void call_partial(const event& e, const partial_call& pc) {
        const global_name& gn = named(pc.func);
        uses_[pc.func] |= uses::call;
        call_args a;
        a.owned = pc.args;
        call_args more = args_of(e);
        if (more.unknown) a.unknown = true;
        a.owned.insert(a.owned.end(), more.positional.begin(), more.positional.end());
        a.positional = a.owned;
        a.keywords = pc.keywords;
        a.via = " (called through functools.partial)";
        const allow_entry* entry = p_.find(gn.module, gn.name);
        if (a.keywords && !g_.items(*a.keywords).empty() && entry &&
            (entry->max_int_arg || !entry->str_arg_pattern.empty() || entry->max_int_bytes || entry->max_iter_len ||
             entry->has_position_bounds()))
            a.unknown = true;  // a keyword's value may be replaced after the call (plain_keywords)
        add(rule::exact_partial, severity::info,
            opcode_name(e.opcode) + " calls a functools.partial of " + qualified(gn.module, gn.name) +
                " made from constants and named globals: judged as the call of " + qualified(gn.module, gn.name) +
                " with the bound and the given arguments",
            &e, false)
            .module = gn.module;
        std::vector<value_ref> given = a.owned;
        check_call(e, pc.func, std::move(a));
        scan_nested(e, gn, given);  // partial(pickle.loads, b'...')(): the bytes are a pickle too
    }

    // ---- BUILD state that native code trusts (allow_entry::state) ----------
    //
    // numpy's __setstate__ methods are C code that reads the stream's state
    // as numpy wrote it: 1.24's ndarray.__setstate__ copies an object
    // array's items from a list it assumes holds prod(shape) of them (a
    // shorter one is read past its end: a segfault), assigns the new dtype
    // before it validates the rest (an error leaves an object dtype over a
    // buffer of int8), and dtype.__setstate__ takes flags, item size, fields
    // and offsets from the stream (an 'O' dtype whose flags lack
    // NPY_LIST_PICKLE takes raw bytes as object pointers). The checker an
    // entry names accepts only states whose every part it can determine and
    // that match what numpy writes; anything else is a finding.
    using state_check = void (judge::*)(const event&, value_ref made, const allow_entry&);
    struct state_checker {
        std::string_view name;
        state_check check;
    };
    static constexpr std::size_t kMaxDims = 32;  // NPY_MAXDIMS in numpy 1.x
    // numpy's dtype flags (ndarraytypes.h)
    static constexpr std::uint8_t kListPickle = 0x02, kNeedsInit = 0x08, kNeedsPyApi = 0x10, kAlignedStruct = 0x80;
    static constexpr std::uint8_t kFromFields = 0x1b;  // NPY_FROM_FIELDS
    static constexpr std::uint8_t kObjectFlags = 0x3f;  // NPY_OBJECT_DTYPE_FLAGS

    // What the judge knows of one dtype node once its state is read.
    struct dtype_facts {
        std::uint64_t itemsize = 0;
        std::uint8_t flags = 0;
        std::uint64_t fields = 0;         // named fields; 0 for an unstructured dtype
        std::uint64_t mask_itemsize = 1;  // numpy.ma.make_mask_descr: one bool per leaf field
        std::uint64_t alignment = 1;
        bool list_pickle() const { return (flags & kListPickle) != 0; }
    };
    // A dtype node's facts, or why they are not known.
    struct dtype_reading {
        std::optional<dtype_facts> facts;
        std::string why;
    };

    // The BUILD state of the object `e` builds, judged by the checker its
    // maker's entry names.
    void check_native_state(const event& e) {
        value_ref t = e.target;
        if (g_.kind(t) != value_kind::reduce && g_.kind(t) != value_kind::newobj) return;
        auto made = made_from_.find(t.index());
        value_ref origin = made != made_from_.end() ? made->second : g_.items(t)[0];
        auto o = named_index(origin);
        if (!o) return;
        const allow_entry* entry = p_.find(named(*o).module, named(*o).name);
        if (!entry || entry->state.empty()) return;
        run_state_checker(e, t, *entry, entry->state);
    }
    void run_state_checker(const event& e, value_ref made, const allow_entry& entry, std::string_view name) {
        static constexpr state_checker kCheckers[] = {
            {"numpy-dtype", &judge::check_dtype_state},
            {"numpy-ndarray", &judge::check_ndarray_state},
            {"numpy-masked-array", &judge::check_masked_state},
            {"numpy-subtype", &judge::check_subtype_state},
            {"pandas-single-block-manager", &judge::check_single_block_manager_state},
        };
        static_assert(std::size(kCheckers) == state_checkers.size(), "a checker for each name in state_checkers");
        for (const state_checker& c : kCheckers)
            if (c.name == name) return (this->*c.check)(e, made, entry);
        native_state_finding(e, entry, "the state", "no checker named '" + std::string(name) + "'");
    }
    void native_state_finding(const event& e, const allow_entry& entry, const std::string& what, const std::string& why) {
        add(rule::unsafe_native_state, severity::high,
            "BUILD gives an object made by " + qualified(entry.module, entry.name) + " " + what + ", which its native " +
                "__setstate__ would trust: " + why + "; the policy '" + p_.name() + "' (state = \"" + entry.state +
                "\", entry at " + entry.origin + ") allows only states the judge can read whole and that match what " +
                "numpy writes (docs/policies.md, \"State that native code trusts\"). Do not load this file unless " +
                "you trust whoever wrote it",
            &e);
    }

    // The ordinal (from 1) of BUILD event `e` among the stream's BUILDs, and
    // the BUILDs already judged on each node: a state's containers are read
    // as they were at its BUILD (value_graph::builds_before_change).
    std::uint64_t build_ordinal_ = 0;
    std::unordered_map<std::uint32_t, std::uint32_t> builds_seen_;
    // Every node reachable from the arguments of a call or instantiation
    // seen so far (the graph holds containers as they end, so this is a
    // superset of what each call was handed): a dtype in it was used before
    // any later BUILD of it. Each node is walked once, with an explicit stack.
    std::unordered_set<std::uint32_t> handed_to_call_;
    void mark_handed_to_call(value_ref args) {
        std::vector<value_ref> stack{args};
        while (!stack.empty()) {
            value_ref v = stack.back();
            stack.pop_back();
            if (!handed_to_call_.insert(v.index()).second) continue;
            switch (g_.kind(v)) {
                case value_kind::tuple: case value_kind::list: case value_kind::dict: case value_kind::set:
                case value_kind::frozenset: case value_kind::reduce: case value_kind::newobj:
                    for (value_ref c : g_.items(v)) stack.push_back(c);
                    break;
                default: break;
            }
        }
    }
    std::unordered_map<std::uint32_t, dtype_reading> dtypes_;  // dtype node -> its reading, after its BUILD
    bool unchanged_since_build(value_ref container) const {
        return g_.builds_before_change(container) < build_ordinal_;
    }

    // "numpy-subtype": _reconstruct(subtype, shape, dtype) and
    // _mareconstruct(subtype, ...) return ndarray.__new__(subtype, ...): the
    // state goes to the subtype's __setstate__, named by its own entry.
    void check_subtype_state(const event& e, value_ref made, const allow_entry& entry) {
        value_ref args = g_.items(made).size() > 1 ? g_.items(made)[1] : value_ref{};
        std::optional<std::size_t> sub;
        if (g_.kind(made) == value_kind::reduce && g_.kind(args) == value_kind::tuple && !g_.items(args).empty())
            sub = named_index(g_.items(args)[0]);
        const allow_entry* se = sub ? p_.find(named(*sub).module, named(*sub).name) : nullptr;
        // Only the checkers of ndarray states: an instance of ndarray.__new__
        // is read by ndarray.__setstate__ or a subclass's override of it.
        if (!se || (se->state != "numpy-ndarray" && se->state != "numpy-masked-array"))
            return native_state_finding(
                e, entry, "state",
                "its class (argument 0, " + (sub ? qualified(named(*sub).module, named(*sub).name) : std::string("not a named global")) +
                    ") has no entry whose `state` names the ndarray __setstate__ that reads it (numpy-ndarray, "
                    "numpy-masked-array)");
        run_state_checker(e, made, entry, se->state);
    }

    // "numpy-ndarray": ndarray.__setstate__((version, shape, dtype,
    // is_fortran, data)), or the version-0 (shape, dtype, is_fortran, data)
    // that PyArg_ParseTuple falls back to.
    void check_ndarray_state(const event& e, value_ref made, const allow_entry& entry) {
        value_ref state = e.operand;
        // numpy writes one BUILD per array. A second one frees the buffer
        // and allocates another, while a scalar() or view made from the
        // array in between still points into the freed one.
        if (++builds_seen_[made.index()] > 1)
            return native_state_finding(e, entry, "a second state",
                                        "ndarray.__setstate__ runs on it again, freeing the data buffer values made "
                                        "from the array since its first BUILD still read (use after free)");
        if (g_.kind(state) != value_kind::tuple || (g_.items(state).size() != 5 && g_.items(state).size() != 4))
            return native_state_finding(e, entry, "state " + describe(state),
                                        "ndarray.__setstate__ takes a tuple (version, shape, dtype, is_fortran, data) "
                                        "or (shape, dtype, is_fortran, data)");
        auto s = g_.items(state);
        std::size_t at = 0;
        if (s.size() == 5) {
            std::optional<std::int64_t> v = small_int(s[0]);
            if (!v || (*v != 0 && *v != 1))
                return native_state_finding(e, entry, "state version " + describe_scalar(s[0]),
                                            "numpy reads versions 0 and 1 (an int)");
            at = 1;
        }
        std::uint64_t items = 0;
        if (check_array_part(e, entry, "", s[at], s[at + 1], s[at + 2], s[at + 3], nullptr, &items)) {
            array_items_[made.index()] = items;
            std::vector<std::int64_t>& dims = array_shapes_[made.index()];
            for (value_ref d : g_.items(s[at])) dims.push_back(g_.as_int(d));  // checked: non-negative ints
        }
    }
    // Arrays whose one BUILD the ndarray checker read whole, and their item
    // counts, for calls that read an array's buffer (args array_items), and
    // their shapes, for pandas' blocks (pandas-single-block-manager).
    std::unordered_map<std::uint32_t, std::uint64_t> array_items_;
    std::unordered_map<std::uint32_t, std::vector<std::int64_t>> array_shapes_;

    // "pandas-single-block-manager": BaseBlockManager.__setstate__
    // (pandas/core/internals/managers.py, 1.5.3) takes state[3]['0.14.1']'s
    // 'axes' and 'blocks' and wraps each block's values (new_block) without
    // checking them against the axes: a Series whose 2 values sit under an
    // index of 2**24 reads past them on reindex() or sort_index() (a
    // segfault; heap contents with a smaller index). Accepted: exactly what
    // pandas writes for a Series, one axis whose length the judge computes
    // and one block whose 1-D values hold that many items, every container
    // as it was at this BUILD.
    void check_single_block_manager_state(const event& e, value_ref made, const allow_entry& entry) {
        if (++builds_seen_[made.index()] > 1)
            return native_state_finding(e, entry, "a second state",
                                        "BaseBlockManager.__setstate__ replaces the blocks of a manager a Series may "
                                        "already use, and the judge reads one state per manager");
        value_ref state = e.operand;
        if (g_.kind(state) != value_kind::tuple || g_.items(state).size() != 4)
            return native_state_finding(e, entry, "state " + describe(state),
                                        "pandas writes (axes, values, items, {'0.14.1': {'axes': [index], 'blocks': "
                                        "[{'values': array, 'mgr_locs': slice}]}}), a tuple of 4");
        std::string why;
        value_ref extra = g_.items(state)[3];
        std::optional<value_ref> v14 = unchanged_key(extra, "0.14.1", why);
        std::optional<value_ref> axes = v14 ? unchanged_key(*v14, "axes", why) : std::nullopt;
        std::optional<value_ref> blocks = axes ? unchanged_key(*v14, "blocks", why) : std::nullopt;
        if (!blocks) return native_state_finding(e, entry, "state " + describe(extra), why);
        if (!unchanged_list(*axes, 1))
            return native_state_finding(e, entry, "axes " + describe(*axes),
                                        "a SingleBlockManager's axes are a list of one index, as it was at this BUILD "
                                        "(no APPEND or SETITEM through the memo after it)");
        if (!unchanged_list(*blocks, 1))
            return native_state_finding(e, entry, "blocks " + describe(*blocks),
                                        "a SingleBlockManager's blocks are a list of one block dict, as it was at this "
                                        "BUILD");
        value_ref index = g_.items(*axes)[0];
        std::optional<std::uint64_t> rows = index_length(index, why);
        if (!rows) return native_state_finding(e, entry, "axis " + describe(index), why);
        value_ref block = g_.items(*blocks)[0];
        std::optional<value_ref> values = unchanged_key(block, "values", why);
        if (!values) return native_state_finding(e, entry, "block " + describe(block), why);
        std::optional<std::uint64_t> n = values_length(*values, why);
        if (!n) return native_state_finding(e, entry, "block values " + describe(*values), why);
        if (*n != *rows)
            native_state_finding(e, entry, "block values of " + std::to_string(*n) + " items",
                                 "its index has " + std::to_string(*rows) +
                                     ", and pandas reads the values at the index's positions (past their end)");
    }
    // The value of str key `key` in a dict as it was at this BUILD.
    std::optional<value_ref> unchanged_key(value_ref d, std::string_view key, std::string& why) const {
        if (g_.kind(d) != value_kind::dict || !unchanged_since_build(d)) {
            why = "it must be a dict as it was at this BUILD (no SETITEM through the memo after it) holding '" +
                  std::string(key) + "'";
            return std::nullopt;
        }
        auto kv = g_.items(d);
        for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
            if (g_.kind(kv[i]) == value_kind::str && g_.text(kv[i]) == key) return kv[i + 1];
        why = "it has no key '" + std::string(key) + "'";
        return std::nullopt;
    }
    bool unchanged_list(value_ref l, std::size_t size) const {
        return g_.kind(l) == value_kind::list && g_.items(l).size() == size && unchanged_since_build(l);
    }
    // The BUILDs judged when each pandas index maker call ran: its attributes
    // dict must be as it was then (pandas-single-block-manager).
    std::unordered_map<std::uint32_t, std::uint64_t> index_made_at_;
    bool is_pandas_index_maker(std::size_t i) const {
        const global_name& n = named(i);
        return (n.module == "pandas.core.indexes.base" && n.name == "_new_Index") ||
               (n.module == "pandas.core.indexes.datetimes" && n.name == "_new_DatetimeIndex");
    }
    bool named_is(value_ref v, std::string_view module, std::string_view name) const {
        auto i = named_index(v);
        return i && named(*i).module == module && named(*i).name == name;
    }
    // The length of an index as pandas writes one: _new_Index(RangeIndex,
    // {start, stop, step, name}), or _new_Index(cls, {'data': array, ...})
    // and _new_DatetimeIndex(cls, {'data': array, ...}) for the others
    // (MultiIndex, IntervalIndex and the rest: not read, refused).
    std::optional<std::uint64_t> index_length(value_ref ix, std::string& why) {
        bool base = false;
        if (g_.kind(ix) == value_kind::reduce && g_.items(ix).size() == 2) {
            value_ref f = g_.items(ix)[0];
            base = named_is(f, "pandas.core.indexes.base", "_new_Index");
            if (!base && !named_is(f, "pandas.core.indexes.datetimes", "_new_DatetimeIndex")) ix = value_ref{};
        } else ix = value_ref{};
        value_ref args = ix == value_ref{} ? value_ref{} : g_.items(ix)[1];
        if (ix == value_ref{} || g_.kind(args) != value_kind::tuple || g_.items(args).size() != 2 ||
            g_.kind(g_.items(args)[1]) != value_kind::dict || g_.applied(ix) != nullptr) {
            why = "the judge reads the length only of an index pandas.core.indexes.base._new_Index or "
                  "pandas.core.indexes.datetimes._new_DatetimeIndex made from a class and a dict of attributes, with "
                  "no state of its own";
            return std::nullopt;
        }
        value_ref attrs = g_.items(args)[1];
        // The graph holds the dict as it ends; one SETITEM through the memo
        // after the BUILD that followed the call (no finer clock) is a
        // different index from the one the call made.
        auto made = index_made_at_.find(ix.index());
        if (made == index_made_at_.end() || g_.builds_before_change(attrs) > made->second) {
            why = "its attributes dict is changed after the call that made the index (SETITEM through the memo): the "
                  "index was made from other values";
            return std::nullopt;
        }
        auto kv = g_.items(attrs);
        auto attr = [&](std::string_view key) -> std::optional<value_ref> {
            for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
                if (g_.kind(kv[i]) == value_kind::str && g_.text(kv[i]) == key) return kv[i + 1];
            return std::nullopt;
        };
        if (base && named_is(g_.items(args)[0], "pandas.core.indexes.range", "RangeIndex")) {
            std::int64_t r[3] = {0, 0, 0};
            const char* keys[3] = {"start", "stop", "step"};
            for (std::size_t k = 0; k < 3; ++k) {
                std::optional<value_ref> v = attr(keys[k]);
                std::optional<std::int64_t> x = v && g_.kind(*v) == value_kind::integer ? small_int(*v) : std::nullopt;
                if (!x) {
                    why = std::string("a RangeIndex's '") + keys[k] + "' must be an int the judge reads (pandas writes "
                          "start, stop and step)";
                    return std::nullopt;
                }
                r[k] = *x;
            }
            for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
                if (g_.kind(kv[i]) != value_kind::str ||
                    (g_.text(kv[i]) != "start" && g_.text(kv[i]) != "stop" && g_.text(kv[i]) != "step" &&
                     g_.text(kv[i]) != "name")) {
                    why = "a RangeIndex's attributes are start, stop, step and name, as pandas writes them";
                    return std::nullopt;
                }
            if (r[2] == 0) {
                why = "a RangeIndex's step must not be 0";
                return std::nullopt;
            }
            // len(range(start, stop, step)); the ints are 32-bit (small_int), so no overflow
            std::int64_t span = r[2] > 0 ? r[1] - r[0] : r[0] - r[1];
            std::int64_t step = r[2] > 0 ? r[2] : -r[2];
            return span <= 0 ? 0 : static_cast<std::uint64_t>((span + step - 1) / step);
        }
        if (base && named_is(g_.items(args)[0], "pandas.core.indexes.multi", "MultiIndex")) {
            why = "the judge does not compute a MultiIndex's length (levels and codes)";
            return std::nullopt;
        }
        std::optional<value_ref> data = attr("data");
        if (!data) {
            why = "the index's attributes have no 'data' whose length the judge reads";
            return std::nullopt;
        }
        std::optional<std::uint64_t> n = values_length(*data, why);
        if (!n) why = "its 'data': " + why;
        return n;
    }
    // The item count of 1-D values: an ndarray the ndarray checker read
    // whole (its BUILD judged before this one), or an NDArrayBacked array
    // (DatetimeArray, ...) that pandas._libs.arrays.__pyx_unpickle_NDArrayBacked
    // made and one BUILD (dtype, ndarray, {attributes}) filled.
    std::optional<std::uint64_t> values_length(value_ref v, std::string& why) {
        auto one_d = [&](value_ref a) -> std::optional<std::uint64_t> {
            auto it = array_shapes_.find(a.index());
            if (it == array_shapes_.end() || !a.is_compound()) return std::nullopt;
            if (it->second.size() != 1) return std::nullopt;
            return static_cast<std::uint64_t>(it->second[0]);
        };
        if (auto n = one_d(v)) return n;
        const char* need = "values must be a 1-D ndarray whose one BUILD the numpy-ndarray checker read whole before "
                           "this BUILD, or an NDArrayBacked array (pandas._libs.arrays.__pyx_unpickle_NDArrayBacked "
                           "with state None, then one BUILD (dtype, such an ndarray, dict) whose dict does not set "
                           "_ndarray, _data or _dtype)";
        why = need;
        if (g_.kind(v) != value_kind::reduce || g_.items(v).size() != 2 ||
            !named_is(g_.items(v)[0], "pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"))
            return std::nullopt;
        value_ref args = g_.items(v)[1];
        if (g_.kind(args) != value_kind::tuple || g_.items(args).size() != 3 ||
            g_.kind(g_.items(args)[2]) != value_kind::none)
            return std::nullopt;
        const applied_ops* ops = g_.applied(v);
        if (!ops || ops->states.size() != 1 || !ops->appended.empty() || !ops->setitems.empty() || !ops->added.empty())
            return std::nullopt;
        value_ref st = ops->states[0];
        if (g_.kind(st) != value_kind::tuple || g_.items(st).size() != 3 || g_.kind(g_.items(st)[2]) != value_kind::dict)
            return std::nullopt;
        // The graph holds the dict as it ends: its keys include every key it
        // had at that BUILD (setattr of each on the array).
        auto kv = g_.items(g_.items(st)[2]);
        for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
            if (g_.kind(kv[i]) != value_kind::str || g_.text(kv[i]) == "_ndarray" || g_.text(kv[i]) == "_data" ||
                g_.text(kv[i]) == "_dtype")
                return std::nullopt;
        // NDArrayBacked.__setstate__ takes (data, dtype) and swaps them when
        // the second is an ndarray: pandas writes (dtype, ndarray).
        return one_d(g_.items(st)[1]);
    }

    // "numpy-masked-array": MaskedArray.__setstate__ unpacks (version,
    // shape, dtype, is_fortran, data, mask, fill_value) and hands (shape,
    // dtype, is_fortran, data) to ndarray.__setstate__, then (shape,
    // make_mask_descr(dtype), is_fortran, mask) to its mask's.
    void check_masked_state(const event& e, value_ref made, const allow_entry& entry) {
        value_ref state = e.operand;
        // numpy writes one BUILD per array. A second one frees the buffer
        // and allocates another, while a scalar() or view made from the
        // array in between still points into the freed one.
        if (++builds_seen_[made.index()] > 1)
            return native_state_finding(e, entry, "a second state",
                                        "ndarray.__setstate__ runs on it again, freeing the data buffer values made "
                                        "from the array since its first BUILD still read (use after free)");
        if (g_.kind(state) != value_kind::tuple || g_.items(state).size() != 7)
            return native_state_finding(e, entry, "state " + describe(state),
                                        "MaskedArray.__setstate__ takes a tuple (version, shape, dtype, is_fortran, "
                                        "data, mask, fill_value)");
        auto s = g_.items(state);
        dtype_facts data_dtype;
        if (!check_array_part(e, entry, "", s[1], s[2], s[3], s[4], &data_dtype)) return;
        dtype_facts mask;  // bool, or a structured bool of one byte per leaf field: no objects
        mask.itemsize = data_dtype.mask_itemsize;
        check_array_bytes(e, entry, "mask ", s[1], mask, s[3], s[5]);
    }

    // One ndarray.__setstate__ state: shape, dtype, is_fortran, data. False
    // after a finding; `facts` gets the dtype's.
    bool check_array_part(const event& e, const allow_entry& entry, const std::string& part, value_ref shape,
                          value_ref dtype, value_ref fortran, value_ref data, dtype_facts* facts,
                          std::uint64_t* items = nullptr) {
        dtype_reading d = read_dtype(dtype);
        if (!d.facts) {
            native_state_finding(e, entry, part + "dtype " + describe(dtype), d.why);
            return false;
        }
        if (facts) *facts = *d.facts;
        return check_array_bytes(e, entry, part, shape, *d.facts, fortran, data, items);
    }
    bool check_array_bytes(const event& e, const allow_entry& entry, const std::string& part, value_ref shape,
                           const dtype_facts& dt, value_ref fortran, value_ref data, std::uint64_t* items = nullptr) {
        if (g_.kind(shape) != value_kind::tuple || g_.items(shape).size() > kMaxDims) {
            native_state_finding(e, entry, part + "shape " + describe(shape),
                                 "a shape is a tuple of at most " + std::to_string(kMaxDims) + " integers");
            return false;
        }
        // npy_mul_sizes_with_overflow over every dimension, then the item
        // size, as numpy does (it raises on overflow even when one is 0).
        std::int64_t count = 1;
        bool overflow = false;
        for (value_ref dim : g_.items(shape)) {
            std::optional<std::int64_t> n = g_.kind(dim) == value_kind::integer ? small_int(dim) : std::nullopt;
            if (!n || *n < 0) {
                native_state_finding(e, entry, part + "shape item " + describe_scalar(dim),
                                     "each dimension must be a non-negative int (not a bool, not computed)");
                return false;
            }
            if (*n != 0 && count > INT64_MAX / *n) overflow = true;
            else count *= *n;
        }
        std::uint64_t nbytes = 0;
        if (!overflow && dt.itemsize != 0 && static_cast<std::uint64_t>(count) > INT64_MAX / dt.itemsize) overflow = true;
        else nbytes = static_cast<std::uint64_t>(count) * dt.itemsize;
        if (overflow) {
            native_state_finding(e, entry, part + "shape " + describe(shape),
                                 "its size overflows npy_intp, and numpy 1.24 raises only after it replaced the "
                                 "array's dtype");
            return false;
        }
        if (!small_int(fortran) || (g_.kind(fortran) != value_kind::integer && g_.kind(fortran) != value_kind::boolean)) {
            native_state_finding(e, entry, part + "is_fortran " + describe_scalar(fortran), "it must be a bool or a small int");
            return false;
        }
        if (items) *items = static_cast<std::uint64_t>(count);
        const std::string expect = std::to_string(count) + (dt.list_pickle() ? " items" : " x " + std::to_string(dt.itemsize) + " bytes");
        if (dt.list_pickle()) {
            if (g_.kind(data) != value_kind::list || g_.items(data).size() != static_cast<std::uint64_t>(count) ||
                !unchanged_since_build(data)) {
                native_state_finding(
                    e, entry, part + "data " + describe_data(data),
                    "an object dtype's data must be a list of exactly " + expect +
                        " (_setlist_pkl reads prod(shape) items without checking the list's length)" +
                        (g_.kind(data) == value_kind::list && !unchanged_since_build(data)
                             ? ", and this list is changed after the BUILD (APPEND or SETITEM through the memo): "
                               "at the BUILD it held fewer"
                             : ""));
                return false;
            }
            if (dt.fields)
                for (value_ref item : g_.items(data))
                    if (g_.kind(item) != value_kind::tuple || g_.items(item).size() != dt.fields) {
                        native_state_finding(e, entry, part + "data item " + describe(item),
                                             "a structured object array's items are tuples of its " +
                                                 std::to_string(dt.fields) + " fields");
                        return false;
                    }
            return true;
        }
        std::optional<std::uint64_t> len;
        if (g_.kind(data) == value_kind::bytes) len = g_.text(data).size();
        else if (g_.kind(data) == value_kind::str) len = latin1_length(g_.text(data));
        if (!len || *len != nbytes) {
            native_state_finding(e, entry, part + "data " + describe_data(data),
                                 "the data of a dtype without objects must be bytes (or a latin-1 str) of exactly " +
                                     expect + " = " + std::to_string(nbytes));
            return false;
        }
        return true;
    }
    // The number of latin-1 characters a str's UTF-8 holds, or nothing when
    // one is past U+00FF (PyUnicode_AsLatin1String raises: numpy's error path).
    static std::optional<std::uint64_t> latin1_length(std::string_view utf8) {
        std::uint64_t n = 0;
        for (std::size_t i = 0; i < utf8.size(); ++n) {
            auto c = static_cast<unsigned char>(utf8[i]);
            if (c < 0x80) ++i;
            else if ((c == 0xc2 || c == 0xc3) && i + 1 < utf8.size()) i += 2;
            else return std::nullopt;
        }
        return n;
    }
    std::optional<std::int64_t> small_int(value_ref v) const {
        value_kind k = g_.kind(v);
        if (k == value_kind::boolean) return g_.as_bool(v) ? 1 : 0;
        if (k != value_kind::integer) return std::nullopt;
        std::int64_t x = g_.as_int(v);
        if (x < INT32_MIN || x > INT32_MAX) return std::nullopt;  // PyArg "i"
        return x;
    }
    std::string describe_scalar(value_ref v) const {
        value_kind k = g_.kind(v);
        if (k == value_kind::integer) return std::to_string(g_.as_int(v));
        if (k == value_kind::boolean) return g_.as_bool(v) ? "True" : "False";
        if (k == value_kind::str) return "'" + std::string(g_.text(v).substr(0, 20)) + "'";
        return describe(v);
    }
    std::string describe_data(value_ref v) const {
        value_kind k = g_.kind(v);
        if (k == value_kind::list) return "(a list of " + std::to_string(g_.items(v).size()) + " items)";
        if (k == value_kind::bytes || k == value_kind::bytearray || k == value_kind::str)
            return std::string("(a ") + to_string(k) + " of " + std::to_string(g_.text(v).size()) + " bytes)";
        return describe(v);
    }

    // "numpy-dtype": dtype.__setstate__ on what numpy.dtype(str, False,
    // True) made (copy=True: a new descriptor, never the process's own).
    void check_dtype_state(const event& e, value_ref made, const allow_entry& entry) {
        std::uint32_t seen = ++builds_seen_[made.index()];
        dtype_reading r;
        if (seen > 1) r.why = "dtype.__setstate__ runs on it again, changing a dtype arrays may already use";
        else if (handed_to_call_.count(made.index()))
            r.why = "the dtype was handed to a call (scalar, _frombuffer, ...) before this BUILD: what that call made "
                    "keeps the dtype and would read its data with the fields and flags set here";
        else r = read_dtype_state(made, e.operand);
        if (!r.facts) native_state_finding(e, entry, "dtype state " + describe(e.operand), r.why);
        dtypes_[made.index()] = std::move(r);
    }

    // A dtype value an array state or a field names: its facts once its
    // one BUILD (if any) has been judged, before the BUILD that uses it.
    dtype_reading read_dtype(value_ref d) {
        dtype_reading r;
        if (g_.kind(d) != value_kind::reduce) {
            r.why = "a dtype must be made by numpy.dtype(str, False, True) in the stream";
            return r;
        }
        if (auto it = dtypes_.find(d.index()); it != dtypes_.end()) {
            r = it->second;
            if (!r.facts) r.why = "its dtype's state was refused above (" + r.why + ")";
            return r;
        }
        const applied_ops* ops = g_.applied(d);
        if (ops && !ops->states.empty()) {
            r.why = "its dtype's BUILD comes after this BUILD, so numpy would read the dtype before its state is set";
            return r;
        }
        return read_dtype_state(d, std::nullopt);
    }

    // The dtype numpy.dtype(type, False, True) makes, with BUILD state
    // `state` applied when given: the state numpy's arraydescr_reduce writes
    // for that type (version 3, or 4 with datetime metadata), checked item
    // by item, fields against the item size.
    struct base_type {
        char kind;                  // numpy's type character
        std::string_view sizes;     // allowed sizes in the string, as characters ('\x01'...) ; empty: any
        char byteorder;             // '|' when numpy writes '|', else 0 (any of < > =)
        std::uint8_t flags;
        bool flexible;              // S U V: elsize and alignment are in the state
    };
    dtype_reading read_dtype_state(value_ref d, std::optional<value_ref> state_v) {
        dtype_reading r;
        auto fail = [&](std::string why) {
            r.facts.reset();
            r.why = std::move(why);
            return r;
        };
        auto parts = g_.items(d);
        auto callee = named_index(parts[0]);
        const allow_entry* ce = callee ? p_.find(named(*callee).module, named(*callee).name) : nullptr;
        if (!ce || ce->state != "numpy-dtype")
            return fail("it is made by " + describe(parts[0]) + ", not by a dtype constructor whose entry has "
                        "state = \"numpy-dtype\"");
        if (parts.size() < 2 || g_.kind(parts[1]) != value_kind::tuple || g_.items(parts[1]).size() != 3)
            return fail("numpy.dtype must be called with (type, False, True), as numpy pickles it");
        auto a = g_.items(parts[1]);
        if (g_.kind(a[1]) != value_kind::boolean || g_.as_bool(a[1]) || g_.kind(a[2]) != value_kind::boolean ||
            !g_.as_bool(a[2]))
            return fail("numpy.dtype must be called with align=False and copy=True (without copy, BUILD would "
                        "change numpy's own dtype for the whole process)");
        // The type: 'f8', 'U5', 'V16', ... or numpy.record (a structured
        // dtype of recarrays, its size from the state).
        char kind = 0;
        std::uint64_t n = 0;
        bool record = false;
        if (g_.kind(a[0]) == value_kind::str) {
            std::string_view t = g_.text(a[0]);
            if (t.size() < 2 || t.size() > 12) return fail("type string '" + std::string(t.substr(0, 20)) + "' is not one numpy writes");
            kind = t[0];
            for (char c : t.substr(1)) {
                if (c < '0' || c > '9') return fail("type string '" + std::string(t) + "' is not one numpy writes");
                n = n * 10 + static_cast<std::uint64_t>(c - '0');
            }
        } else if (auto ri = named_index(a[0]); ri && named(*ri).name == "record" &&
                                                   (named(*ri).module == "numpy" || named(*ri).module == "numpy.core.records" ||
                                                    named(*ri).module == "numpy._core.records")) {
            kind = 'V';
            record = true;
        } else {
            return fail("its type " + describe(a[0]) + " is neither a type string nor numpy.record");
        }
        static constexpr base_type kTypes[] = {
            {'b', "\x01", '|', 0, false},         {'i', "\x01\x02\x04\x08", 0, 0, false},
            {'u', "\x01\x02\x04\x08", 0, 0, false}, {'f', "\x02\x04\x08\x10", 0, 0, false},
            {'c', "\x08\x10\x20", 0, 0, false},   {'O', "\x08", '|', kObjectFlags, false},
            {'M', "\x08", 0, 0, false},           {'m', "\x08", 0, 0, false},
            {'S', "", '|', 0, true},              {'U', "", 0, kNeedsInit, true},
            {'V', "", '|', 0, true},
        };
        const base_type* bt = nullptr;
        for (const base_type& b : kTypes)
            if (b.kind == kind) bt = &b;
        if (!bt || (!bt->sizes.empty() && bt->sizes.find(static_cast<char>(n)) == std::string_view::npos))
            return fail("type '" + std::string(1, kind) + std::to_string(n) + "' is not a numpy type the judge can size");
        if (bt->flexible && n > (std::uint64_t{1} << 31)) return fail("its item size is over 2**31");
        dtype_facts f;
        f.flags = bt->flags;
        f.itemsize = kind == 'U' ? 4 * n : n;
        f.alignment = kind == 'U' ? 4 : bt->flexible ? 1 : std::max<std::uint64_t>(1, std::min<std::uint64_t>(n, 16));
        if (!state_v) {
            if (record) return fail("numpy.record without its BUILD state has no fields");
            r.facts = f;
            return r;
        }
        value_ref sv = *state_v;
        if (g_.kind(sv) != value_kind::tuple || (g_.items(sv).size() != 8 && g_.items(sv).size() != 9))
            return fail("dtype.__setstate__ takes (version, byteorder, subarray, names, fields, elsize, alignment, "
                        "flags[, metadata]) as numpy 1.7 and later write it");
        auto s = g_.items(sv);
        std::optional<std::int64_t> version = small_int(s[0]);
        if (g_.kind(s[0]) != value_kind::integer || !version || *version != static_cast<std::int64_t>(s.size() == 8 ? 3 : 4))
            return fail("its version must be 3 (8 items) or 4 (9 items, with metadata)");
        // byteorder: one character; '|' where numpy writes '|'.
        value_kind bk = g_.kind(s[1]);
        std::string_view bo = bk == value_kind::str || bk == value_kind::bytes ? g_.text(s[1]) : std::string_view{};
        // (numpy writes '|' for single bytes, '<' or '>' for the rest)
        const char order = bt->byteorder ? bt->byteorder : f.itemsize == 1 ? '|' : 0;
        if (bo.size() != 1 || (order ? bo[0] != order : (bo[0] != '<' && bo[0] != '>' && bo[0] != '=')))
            return fail("its byteorder " + describe_scalar(s[1]) + " is not " +
                        (order ? "'" + std::string(1, order) + "'" : std::string("'<', '>' or '='")) + " for this type");
        const bool subarray = g_.kind(s[2]) != value_kind::none;
        if (subarray && (kind != 'V' || record)) return fail("only a void type string makes a subarray dtype");
        // elsize and alignment: the type's for flexible types, -1 (ignored by numpy) otherwise.
        std::optional<std::int64_t> elsize = small_int(s[5]), align = small_int(s[6]);
        if (g_.kind(s[5]) != value_kind::integer || g_.kind(s[6]) != value_kind::integer || !elsize || !align)
            return fail("its elsize and alignment must be ints");
        if (!bt->flexible) {
            if (*elsize != -1 || *align != -1) return fail("elsize and alignment of a fixed-size type must be -1, as numpy writes them");
        } else {
            if (*elsize < 0 || (!record && static_cast<std::uint64_t>(*elsize) != f.itemsize))
                return fail("its elsize " + std::to_string(*elsize) + " is not the " + std::to_string(f.itemsize) +
                            " bytes its type string says");
            f.itemsize = static_cast<std::uint64_t>(*elsize);
            if (*align < 1 || *align > 16 || (*align & (*align - 1)) != 0)
                return fail("its alignment " + std::to_string(*align) + " is not a power of two up to 16");
            f.alignment = static_cast<std::uint64_t>(*align);
        }
        // flags: a char in numpy 1.x (negative for 0x80 and up), int64 in 2.x.
        std::optional<std::int64_t> fl = small_int(s[7]);
        if (g_.kind(s[7]) != value_kind::integer || !fl || *fl < -128 || *fl > 255) return fail("its flags are not a char");
        const auto flags = static_cast<std::uint8_t>(*fl & 0xff);
        // names and fields
        value_ref names = s[3], fields = s[4];
        if (subarray) {
            if (g_.kind(names) != value_kind::none || g_.kind(fields) != value_kind::none)
                return fail("a subarray dtype with fields of its own");
            std::string why = read_subarray(s[2], f);
            if (!why.empty()) return fail(why);
            if (flags != f.flags)
                return fail("its flags " + std::to_string(*fl) + " are not the " + std::to_string(f.flags) +
                            " of its base dtype (flags decide whether items are objects: NPY_LIST_PICKLE, "
                            "NPY_ITEM_REFCOUNT)");
        } else if (g_.kind(names) == value_kind::none && g_.kind(fields) == value_kind::none) {
            if (record) return fail("numpy.record without fields");
            if (flags != f.flags)
                return fail("its flags " + std::to_string(*fl) + " are not the " + std::to_string(f.flags) +
                            " numpy gives this type (flags decide whether items are objects: NPY_LIST_PICKLE, "
                            "NPY_ITEM_REFCOUNT)");
        } else {
            if (kind != 'V') return fail("only a void dtype has fields");
            std::string why = read_fields(names, fields, f);
            if (!why.empty()) return fail(why);
            // NPY_NEEDS_PYAPI and the fields' flags, as numpy computes them
            // (_convert_from_dict), NPY_ALIGNED_STRUCT when aligned.
            if ((flags & ~kAlignedStruct) != f.flags)
                return fail("its flags " + std::to_string(*fl) + " are not the " + std::to_string(f.flags) +
                            " its fields give (flags decide whether items are objects: NPY_LIST_PICKLE, "
                            "NPY_ITEM_REFCOUNT)");
            f.flags = flags;
        }
        // metadata: a datetime's unit tuple (C metadata numpy copies from
        // it); on other dtypes a dict numpy only stores (dtype.metadata).
        if (s.size() == 9 && g_.kind(s[8]) != value_kind::none) {
            if (kind == 'M' || kind == 'm') {
                std::string why = read_datetime_metadata(s[8]);
                if (!why.empty()) return fail(why);
            } else if (g_.kind(s[8]) != value_kind::dict) {
                return fail("its metadata is not a dict");
            }
        }
        r.facts = f;
        return r;
    }
    // names: a tuple of distinct str; fields: a dict of exactly those names,
    // each (dtype, offset) inside the item size, none overlapping another.
    // Adds each field's flags and mask size to `f`.
    std::string read_fields(value_ref names, value_ref fields, dtype_facts& f) {
        if (g_.kind(names) != value_kind::tuple || g_.kind(fields) != value_kind::dict)
            return "names must be a tuple and fields a dict";
        if (!unchanged_since_build(fields))
            return "its fields dict is changed after its BUILD (SETITEM through the memo), and numpy keeps that dict as the dtype's own";
        auto nm = g_.items(names);
        auto kv = g_.items(fields);
        if (nm.empty() || kv.size() != 2 * nm.size())
            return "its fields dict must hold exactly its names (no titles: the judge does not read them)";
        f.flags = kNeedsPyApi;
        f.fields = nm.size();
        f.mask_itemsize = 0;
        std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
        for (value_ref name : nm) {
            if (g_.kind(name) != value_kind::str) return "a field name is not a str";
            const value_ref* value = nullptr;
            for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
                if (g_.kind(kv[i]) == value_kind::str && g_.text(kv[i]) == g_.text(name)) {
                    if (value) return "field '" + std::string(g_.text(name)) + "' is named twice";
                    value = &kv[i + 1];
                }
            if (!value) return "field '" + std::string(g_.text(name)) + "' is in names but not in fields";
            if (g_.kind(*value) != value_kind::tuple || g_.items(*value).size() != 2)
                return "field '" + std::string(g_.text(name)) + "' is not a (dtype, offset) tuple";
            auto fv = g_.items(*value);
            dtype_reading fd = read_dtype(fv[0]);
            if (!fd.facts) return "field '" + std::string(g_.text(name)) + "': " + fd.why;
            std::optional<std::int64_t> off = g_.kind(fv[1]) == value_kind::integer ? small_int(fv[1]) : std::nullopt;
            if (!off || *off < 0) return "field '" + std::string(g_.text(name)) + "' has no non-negative int offset";
            const auto start = static_cast<std::uint64_t>(*off);
            if (start + fd.facts->itemsize > f.itemsize)
                return "field '" + std::string(g_.text(name)) + "' at offset " + std::to_string(start) + " of " +
                       std::to_string(fd.facts->itemsize) + " bytes runs past the item size " + std::to_string(f.itemsize);
            spans.emplace_back(start, start + fd.facts->itemsize);
            f.flags |= fd.facts->flags & kFromFields;
            f.mask_itemsize += fd.facts->mask_itemsize;
        }
        std::sort(spans.begin(), spans.end());
        for (std::size_t i = 1; i < spans.size(); ++i)
            if (spans[i].first < spans[i - 1].second) return "two fields overlap (an object pointer could be written as bytes)";
        return {};
    }
    // subarray: (base dtype, shape), the item size base x prod(shape) as
    // the type string says, the base's flags and alignment.
    std::string read_subarray(value_ref sub, dtype_facts& f) {
        if (g_.kind(sub) != value_kind::tuple || g_.items(sub).size() != 2) return "its subarray is not (dtype, shape)";
        dtype_reading base = read_dtype(g_.items(sub)[0]);
        if (!base.facts) return "its subarray's base: " + base.why;
        value_ref shape = g_.items(sub)[1];
        std::vector<value_ref> dims;
        if (g_.kind(shape) == value_kind::integer) dims.push_back(shape);
        else if (g_.kind(shape) == value_kind::tuple && g_.items(shape).size() <= kMaxDims)
            dims.assign(g_.items(shape).begin(), g_.items(shape).end());
        else return "its subarray shape is not an int or a tuple of ints";
        std::uint64_t count = 1;
        for (value_ref dim : dims) {
            std::optional<std::int64_t> n = g_.kind(dim) == value_kind::integer ? small_int(dim) : std::nullopt;
            if (!n || *n < 0) return "its subarray shape holds " + describe_scalar(dim) + ", not a non-negative int";
            count *= static_cast<std::uint64_t>(*n);  // both under 2**31 here: no overflow
            if (count > (std::uint64_t{1} << 31)) return "its subarray holds more than 2**31 items";
        }
        if (base.facts->itemsize * count != f.itemsize)
            return "its subarray of " + std::to_string(count) + " x " + std::to_string(base.facts->itemsize) +
                   " bytes is not its elsize " + std::to_string(f.itemsize);
        f.flags = base.facts->flags;
        f.fields = 0;
        f.mask_itemsize = count * base.facts->mask_itemsize;
        return {};
    }
    std::string read_datetime_metadata(value_ref m) const {
        // ({}, (unit, num, den, events)) as arraydescr_reduce writes it
        if (g_.kind(m) != value_kind::tuple || g_.items(m).size() != 2) return "datetime metadata is not (dict, (unit, num, 1, 1))";
        auto t = g_.items(m);
        if (g_.kind(t[0]) != value_kind::dict || !g_.items(t[0]).empty() || g_.kind(t[1]) != value_kind::tuple ||
            g_.items(t[1]).size() != 4)
            return "datetime metadata is not ({}, (unit, num, 1, 1))";
        auto u = g_.items(t[1]);
        static constexpr std::string_view kUnits[] = {"Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as", "generic"};
        value_kind uk = g_.kind(u[0]);
        std::string_view unit = uk == value_kind::str || uk == value_kind::bytes ? g_.text(u[0]) : std::string_view{};
        if (std::find(std::begin(kUnits), std::end(kUnits), unit) == std::end(kUnits)) return "datetime unit is not one numpy knows";
        std::optional<std::int64_t> num = small_int(u[1]), den = small_int(u[2]), ev = small_int(u[3]);
        if (!num || *num < 1 || !den || *den != 1 || !ev || *ev != 1) return "datetime metadata is not (unit, num >= 1, 1, 1)";
        return {};
    }

    // ---- calls: what the callee is given, and what it calls in turn --------

    // The arguments of one call as the callee receives them. `unknown`: some
    // were computed while loading (an args tuple or kwargs dict that is the
    // result of a call), so they cannot be read before loading.
    struct call_args {
        std::span<const value_ref> positional;
        std::vector<value_ref> owned;  // backs `positional` when it is built here
        std::optional<value_ref> keywords;
        bool unknown = false;
        std::string via;  // " (called by X, argument k)" when an allowed callable makes the call
    };
    call_args args_of(const event& e) const {
        call_args a;
        value_kind k = g_.kind(e.operand);
        if (k == value_kind::tuple) a.positional = g_.items(e.operand);
        else if (is_symbolic(k)) a.unknown = true;
        if (e.kind == event_kind::instantiate && e.opcode == op::NEWOBJ_EX && g_.kind(e.result) == value_kind::newobj) {
            auto items = g_.items(e.result);
            if (items.size() == 3) take_keywords(a, items[2]);
        }
        return a;
    }
    void take_keywords(call_args& a, value_ref kw) const {
        value_kind k = g_.kind(kw);
        if (k == value_kind::dict) a.keywords = kw;
        else if (is_symbolic(k)) a.unknown = true;
    }

    // A call or instantiation of the named global `callee`, and the calls
    // its entry says it makes itself with the arguments it was given
    // (invokes): those are judged exactly as if the stream had made them.
    // A worklist, not recursion: the chain follows the input.
    void check_call(const event& e, std::size_t callee, call_args first) {
        struct pending {
            std::size_t callee;
            call_args args;
            int depth;
        };
        std::vector<pending> work;
        work.push_back({callee, std::move(first), 0});
        while (!work.empty()) {
            pending job = std::move(work.back());
            work.pop_back();
            if (!job.args.owned.empty()) job.args.positional = job.args.owned;
            const global_name& gn = named(job.callee);
            const allow_entry* entry = p_.find(gn.module, gn.name);
            check_arg_values(e, gn, entry, job.args);
            if (entry && entry->state_arg && *entry->state_arg < job.args.positional.size())
                check_state_keys(e, job.args.positional[*entry->state_arg], qualified(gn.module, gn.name));
            std::span<const invoked_arg> invokes;
            if (entry && !entry->invokes.empty()) invokes = entry->invokes;
            else
                for (const instance_maker& m : kInstanceMakers)
                    if (gn.module == m.module && gn.name == m.name) invokes = std::span(&m.how, 1);
            // invokes name arguments by position; a keyword can bind the
            // same parameter when it is not given by position
            // (partial(F, func=x)), and which keyword binds it is the
            // callee's code, not data we have. (One given by position too is
            // a TypeError, "got multiple values".)
            const bool keyword_may_bind =
                job.args.keywords && !g_.items(*job.args.keywords).empty() &&
                std::any_of(invokes.begin(), invokes.end(),
                            [&](const invoked_arg& inv) { return inv.arg >= job.args.positional.size(); });
            if (keyword_may_bind)
                add(rule::call_of_computed_value, severity::critical,
                    opcode_name(e.opcode) + " gives " + qualified(gn.module, gn.name) + job.args.via +
                        " keyword arguments, and it calls or instantiates arguments it is given (invokes, by "
                        "position): a keyword may bind the parameter it calls, which cannot be checked",
                    &e);
            for (const invoked_arg& inv : invokes) {
                const auto& given = job.args.positional;
                if (inv.arg >= given.size()) continue;  // the callable's default, not the stream's
                value_ref target = given[inv.arg];
                const std::string caller = qualified(gn.module, gn.name);
                auto i = named_index(target);
                if (!i) {
                    if (is_symbolic(g_.kind(target)))
                        add(rule::call_of_computed_value, severity::critical,
                            caller + " " + (inv.use == uses::call ? "calls" : "instantiates") + " its argument " +
                                std::to_string(inv.arg) + ", " + describe(target) +
                                ", a value made while loading rather than a named global; no policy can allow this",
                            &e);
                    continue;  // plain data: calling it raises TypeError
                }
                uses_[*i] |= inv.use;
                if (inv.use == uses::instantiate && job.depth == 0) made_from_[e.result.index()] = target;
                if (job.depth >= kMaxInvokeDepth) {
                    add(rule::call_of_computed_value, severity::high,
                        "allowed callables hand each other arguments to call more than " +
                            std::to_string(kMaxInvokeDepth) + " deep (" + caller + "); the chain is not followed further",
                        &e);
                    continue;
                }
                call_args sub;
                sub.via = " (" + std::string(inv.use == uses::call ? "called" : "instantiated") + " by " + caller +
                          ", its argument " + std::to_string(inv.arg) + ")";
                if (inv.pass_arg) {
                    if (*inv.pass_arg < given.size()) sub.owned.push_back(given[*inv.pass_arg]);
                } else if (inv.rest_args) {
                    if (*inv.rest_args < given.size()) sub.owned.assign(given.begin() + *inv.rest_args, given.end());
                } else if (inv.star_args && *inv.star_args < given.size()) {
                    value_ref star = given[*inv.star_args];
                    value_kind sk = g_.kind(star);
                    if (sk == value_kind::tuple || sk == value_kind::list) {
                        auto it = g_.items(star);
                        sub.owned.assign(it.begin(), it.end());
                    } else if (is_symbolic(sk)) {
                        sub.unknown = true;
                    }
                }
                if (inv.star_kwargs && *inv.star_kwargs < given.size()) take_keywords(sub, given[*inv.star_kwargs]);
                if (job.args.unknown) sub.unknown = true;
                sub.positional = sub.owned;
                work.push_back({*i, std::move(sub), job.depth + 1});
            }
        }
    }
    static constexpr int kMaxInvokeDepth = 32;

    // An entry's bounds on arguments: max_int_arg, str_arg_pattern (what
    // bytes(n) would make the loader allocate, what Fraction('1e999999999')
    // compute), max_int_bytes (Fraction(a, b) runs a gcd quadratic in their
    // size), max_iter_len; and for every call, lazy values (range) the
    // callee would expand, bounded by max_iter_len or [limits]
    // max_lazy_items. Keyword arguments are checked as positional ones.
    void check_arg_values(const event& e, const global_name& gn, const allow_entry* entry, const call_args& a) {
        const bool value_bounds = entry && (entry->max_int_arg || !entry->str_arg_pattern.empty());
        if (a.unknown && entry &&
            (value_bounds || entry->max_int_bytes || entry->max_iter_len || entry->has_position_bounds())) {
            argument_finding(e, gn, *entry, "the arguments", "values computed while loading, which cannot be checked before loading",
                             "only arguments it can check (max_int_arg, max_int_bytes, str_arg_pattern, max_iter_len, "
                             "min_args, max_args, args", a.via, rule::argument_not_allowed);
        }
        if (entry && entry->has_position_bounds() && !a.unknown) check_positions(e, gn, *entry, a);
        auto one = [&](value_ref v, const std::string& label) {
            value_kind ak = g_.kind(v);
            if (entry && (ak == value_kind::integer || ak == value_kind::big_integer)) {
                if (entry->max_int_arg) {
                    bool over = ak == value_kind::big_integer;
                    std::string what;
                    if (!over) {
                        std::int64_t x = g_.as_int(v);
                        std::uint64_t magnitude = x < 0 ? 0 - static_cast<std::uint64_t>(x) : static_cast<std::uint64_t>(x);
                        over = magnitude > *entry->max_int_arg;
                        what = std::to_string(x);
                    } else {
                        what = "an integer of " + std::to_string(g_.big_int_bytes(v).size()) + " bytes";
                    }
                    if (over)
                        argument_finding(e, gn, *entry, label, what,
                                         "integer arguments up to " + std::to_string(*entry->max_int_arg) + " (max_int_arg",
                                         a.via, rule::argument_not_allowed);
                }
                if (entry->max_int_bytes) {
                    std::uint64_t size = ak == value_kind::big_integer ? g_.big_int_bytes(v).size() : 8;
                    if (size > *entry->max_int_bytes)
                        argument_finding(e, gn, *entry, label, "an integer of " + std::to_string(size) + " bytes",
                                         "integer arguments of up to " + std::to_string(*entry->max_int_bytes) +
                                             " bytes (max_int_bytes",
                                         a.via, rule::call_cost_exceeded);
                }
            } else if (entry && ak == value_kind::str && !entry->str_arg_pattern.empty()) {
                std::string_view text = g_.text(v);
                if (!p_.accepts_str_arg(*entry, text))
                    argument_finding(e, gn, *entry, label,
                                     "'" + std::string(text.substr(0, 60)) + (text.size() > 60 ? "...'" : "'"),
                                     "str arguments matching " + entry->str_arg_pattern + " (str_arg_pattern", a.via,
                                     rule::argument_not_allowed);
            } else if (value_bounds && is_symbolic(ak) && !lazy_length(v)) {
                argument_finding(e, gn, *entry, label, describe(v) + ", which cannot be checked before loading",
                                 "only arguments it can check (max_int_arg, str_arg_pattern", a.via, rule::argument_not_allowed);
            }
            // What the callee would iterate: the value itself, and lazy
            // values among its items (OrderedDict([range(...)]) turns each
            // item into a sequence, PySequence_Fast).
            std::uint64_t bound = entry && entry->max_iter_len ? *entry->max_iter_len : lim_.max_lazy_items;
            const char* bound_name = entry && entry->max_iter_len ? "max_iter_len" : "[limits] max_lazy_items";
            std::optional<std::uint64_t> len = entry && entry->max_iter_len ? length_of(v) : lazy_length(v);
            std::uint64_t inner = lazy_within(v);
            if (inner > bound && (!len || *len <= bound)) len = inner;
            const bool lazy = lazy_length(v) || inner > bound;
            if (len && *len > bound)
                argument_finding(e, gn, entry ? *entry : no_entry_, label,
                                 std::string(lazy ? "a lazy builtins.range, or one among its items, of "
                                                  : "an iterable of ") + items_text(*len),
                                 "iterables of up to " + std::to_string(bound) + " items (" + bound_name, a.via,
                                 rule::call_cost_exceeded);
            consume_lazy(e, gn, std::max(lazy_length(v).value_or(0), inner));
        };
        for (std::size_t k = 0; k < a.positional.size(); ++k) one(a.positional[k], "argument " + std::to_string(k));
        if (a.keywords) {
            auto kv = g_.items(*a.keywords);
            for (std::size_t k = 0; k + 1 < kv.size(); k += 2) {
                std::string name = g_.kind(kv[k]) == value_kind::str ? std::string(g_.text(kv[k]).substr(0, 40)) : "?";
                one(kv[k + 1], "keyword argument '" + name + "'");
            }
        }
    }
    // Bounds by position: how many arguments (min_args, max_args) and what
    // the argument at a position may be (args: a codec name, an array
    // shape). A keyword could bind a bounded parameter (scalar(dtype,
    // obj=...)), and which one it binds is the callee's code: refused.
    void check_positions(const event& e, const global_name& gn, const allow_entry& entry, const call_args& a) {
        const std::size_t n = a.positional.size();
        if (a.keywords && !g_.items(*a.keywords).empty())
            argument_finding(e, gn, entry, "keyword arguments", std::to_string(g_.items(*a.keywords).size() / 2) + " of them",
                             "only positional arguments (its bounds name arguments by position: min_args, max_args, args",
                             a.via, rule::argument_not_allowed);
        if (entry.min_args && n < *entry.min_args)
            argument_finding(e, gn, entry, "the arguments", std::to_string(n) + " positional",
                             "at least " + std::to_string(*entry.min_args) + " (min_args", a.via, rule::argument_not_allowed);
        if (entry.max_args && n > *entry.max_args)
            argument_finding(e, gn, entry, "the arguments", std::to_string(n) + " positional",
                             "at most " + std::to_string(*entry.max_args) + " (max_args", a.via, rule::argument_not_allowed);
        for (std::size_t r = 0; r < entry.args.size(); ++r) {
            const arg_rule& rule = entry.args[r];
            if (rule.pos >= n) continue;  // the callable's default, not the stream's (min_args requires it)
            value_ref v = a.positional[rule.pos];
            const std::string label = "argument " + std::to_string(rule.pos);
            const std::string at = " (args pos " + std::to_string(rule.pos);
            if (!rule.pattern.empty()) {
                value_kind k = g_.kind(v);
                bool text = k == value_kind::str || k == value_kind::bytes;
                std::string_view t = text ? g_.text(v) : std::string_view{};
                if (!text || !p_.accepts_arg_text(entry, r, t))
                    argument_finding(e, gn, entry, label,
                                     text ? "'" + std::string(t.substr(0, 60)) + (t.size() > 60 ? "...'" : "'") : describe(v),
                                     "a str or bytes constant matching " + rule.pattern + at + " pattern", a.via,
                                     rule::argument_not_allowed);
            }
            if (rule.array_items && g_.kind(v) != value_kind::str && g_.kind(v) != value_kind::bytes) {
                auto it = array_items_.find(v.index());
                if (it == array_items_.end() || it->second != *rule.array_items)
                    argument_finding(
                        e, gn, entry, label,
                        it == array_items_.end()
                            ? describe(v) + ", not an ndarray built in the stream whose one BUILD was read whole before this call"
                            : "an ndarray of " + std::to_string(it->second) + " items",
                        "a str or bytes constant, or an ndarray of exactly " + std::to_string(*rule.array_items) +
                            " items (numpy reads that many from its buffer without checking its size; a zero-size "
                            "array is read past its end)" + at + " array_items",
                        a.via, rule::argument_not_allowed);
            }
            if (rule.empty && !empty_container(v))
                argument_finding(e, gn, entry, label, describe(v),
                                 "only an empty container nothing in the stream fills (EMPTY_DICT, or "
                                 "collections.OrderedDict() called without arguments and never given items): what it "
                                 "holds is called later (torch stores it as a Parameter's backward hooks, which "
                                 "backward() calls with the gradient)" + at + " empty",
                                 a.via, rule::argument_not_allowed);
            if (rule.max_int)
                if (std::string what = int_outside(v, *rule.max_int); !what.empty())
                    argument_finding(e, gn, entry, label, what,
                                     "an integer or a tuple or list of integers, each up to " +
                                         std::to_string(*rule.max_int) + at + " max_int",
                                     a.via, rule::call_cost_exceeded);
        }
    }
    // What in `v` is not an integer within `bound` (either sign), nested in
    // tuples and lists (a shape); empty when nothing. Anything else is
    // refused: bytes are a sequence of integers to numpy, a computed value
    // could be any size. Shared items are visited once.
    std::string int_outside(value_ref root, std::uint64_t bound) const {
        std::vector<value_ref> todo{root};
        std::unordered_set<std::uint32_t> seen;
        while (!todo.empty()) {
            value_ref v = todo.back();
            todo.pop_back();
            switch (g_.kind(v)) {
                case value_kind::boolean:
                    if (g_.as_bool(v) && bound < 1) return "True (1)";
                    break;
                case value_kind::integer: {
                    std::int64_t x = g_.as_int(v);
                    std::uint64_t magnitude = x < 0 ? 0 - static_cast<std::uint64_t>(x) : static_cast<std::uint64_t>(x);
                    if (magnitude > bound) return v == root ? std::to_string(x) : "an item " + std::to_string(x);
                    break;
                }
                case value_kind::big_integer:
                    return "an integer of " + std::to_string(g_.big_int_bytes(v).size()) + " bytes";
                case value_kind::tuple:
                case value_kind::list:
                    if (!seen.insert(v.index()).second) break;
                    for (value_ref item : g_.items(v)) todo.push_back(item);
                    break;
                default:
                    return v == root ? describe(v) : "an item " + describe(v);
            }
        }
        return {};
    }
    void argument_finding(const event& e, const global_name& gn, const allow_entry& entry, const std::string& label,
                          const std::string& what, const std::string& bound, const std::string& via, const char* rule) {
        const bool cost = std::string_view(rule) == rule::call_cost_exceeded;
        finding& f = add(rule, severity::medium,
                         opcode_name(e.opcode) + " gives " + qualified(gn.module, gn.name) + via + " " + label + " = " +
                             what + "; the policy '" + p_.name() + "' allows " + bound +
                             (entry.origin.empty() ? std::string(")") : ", entry at " + entry.origin + ")") +
                             (cost ? ": the loader would spend more than that bound" : ": loading would cost that much time or memory"),
                         &e);
        f.module = gn.module;
        f.name = gn.name;
    }
    static std::string items_text(std::uint64_t n) {
        return n == UINT64_MAX ? std::string("unbounded length (more than 2**64 items, or not computable)")
                               : std::to_string(n) + " items";
    }

    // Lazy values: what builtins.range(...) returns, whose length costs
    // nothing to describe and everything to expand. The only lazy producer
    // any shipped policy allows. Its length as CPython computes it; a big
    // or computed bound counts as unbounded.
    std::optional<std::uint64_t> lazy_length(value_ref v) const {
        if (g_.kind(v) != value_kind::reduce) return std::nullopt;
        auto parts = g_.items(v);
        if (parts.size() < 2) return std::nullopt;
        auto i = named_index(parts[0]);
        if (!i || named(*i).module != "builtins" || named(*i).name != "range") return std::nullopt;
        if (g_.kind(parts[1]) != value_kind::tuple) return UINT64_MAX;
        auto args = g_.items(parts[1]);
        if (args.empty() || args.size() > 3) return 0;  // TypeError
        __int128 n[3] = {0, 0, 1};
        for (std::size_t k = 0; k < args.size(); ++k) {
            value_kind ak = g_.kind(args[k]);
            if (ak == value_kind::big_integer) return UINT64_MAX;
            if (ak != value_kind::integer && ak != value_kind::boolean) return UINT64_MAX;
            n[args.size() == 1 ? 1 : k] = g_.as_int(args[k]);
        }
        __int128 start = n[0], stop = n[1], step = n[2];
        if (step == 0) return 0;  // ValueError
        __int128 len = step > 0 ? (start < stop ? (stop - start - 1) / step + 1 : 0)
                                : (start > stop ? (start - stop - 1) / (-step) + 1 : 0);
        return len > static_cast<__int128>(UINT64_MAX - 1) ? UINT64_MAX : static_cast<std::uint64_t>(len);
    }
    // How many items a callee iterating `v` meets: a container's, a
    // string's, a lazy value's; nothing for other computed values, whose
    // producer's own bounds apply.
    std::optional<std::uint64_t> length_of(value_ref v) const {
        if (auto lazy = lazy_length(v)) return lazy;
        switch (g_.kind(v)) {
            case value_kind::list:
            case value_kind::tuple:
            case value_kind::set:
            case value_kind::frozenset: return g_.items(v).size();
            case value_kind::dict: return g_.items(v).size() / 2;
            case value_kind::str:
            case value_kind::bytes:
            case value_kind::bytearray: return g_.text(v).size();
            default: return std::nullopt;
        }
    }
    // The longest lazy value among the items of a container (one level),
    // cached per node: a list reused through the memo is walked once.
    std::uint64_t lazy_within(value_ref v) {
        value_kind k = g_.kind(v);
        if (k != value_kind::list && k != value_kind::tuple && k != value_kind::dict && k != value_kind::set &&
            k != value_kind::frozenset)
            return 0;
        auto [it, inserted] = lazy_within_.try_emplace(v.index(), 0);
        if (!inserted) return it->second;
        std::uint64_t most = 0;
        for (value_ref item : g_.items(v))
            if (item.is_compound()) most = std::max(most, lazy_length(item).value_or(0));
        lazy_within_[v.index()] = most;
        return most;
    }
    // Lazy items expanded over the whole pickle: the memo lets one small
    // range be handed to a million calls.
    void consume_lazy(const event& e, const global_name& gn, std::uint64_t n) {
        if (n == 0 || lazy_total_reported_) return;
        lazy_total_ = n > UINT64_MAX - lazy_total_ ? UINT64_MAX : lazy_total_ + n;
        if (lazy_total_ <= lim_.max_lazy_items) return;
        lazy_total_reported_ = true;
        finding& f = add(rule::call_cost_exceeded, severity::medium,
                         opcode_name(e.opcode) + " brings the items the pickle's calls draw from lazy values (range) to " +
                             items_text(lazy_total_) + " at " + qualified(gn.module, gn.name) +
                             "; [limits] max_lazy_items allows " + std::to_string(lim_.max_lazy_items) +
                             " in one pickle: the loader would spend more than that bound",
                         &e);
        f.module = gn.module;
        f.name = gn.name;
    }

    // __setstate__ consumes its state: pandas' BlockManager tests
    // "0.14.1" in state[3], numpy's ndarray converts its shape to a
    // sequence. Lazy values in the state, its items and theirs are bounded
    // as call arguments are (the class's max_iter_len, or max_lazy_items).
    void check_state_cost(const event& e) {
        value_ref state = e.operand;
        std::uint64_t most = std::max(lazy_length(state).value_or(0), lazy_within(state));
        value_kind sk = g_.kind(state);
        if (sk == value_kind::tuple || sk == value_kind::list || sk == value_kind::dict)
            for (value_ref item : g_.items(state)) most = std::max(most, lazy_within(item));
        if (most == 0) return;
        const allow_entry* entry = nullptr;
        std::string whose = "the object";
        value_ref t = e.target;
        if (g_.kind(t) == value_kind::reduce || g_.kind(t) == value_kind::newobj) {
            auto made = made_from_.find(t.index());
            value_ref origin = made != made_from_.end() ? made->second : g_.items(t)[0];
            if (auto o = named_index(origin)) {
                entry = p_.find(named(*o).module, named(*o).name);
                whose = "an object made by " + qualified(named(*o).module, named(*o).name);
            }
        }
        std::uint64_t bound = entry && entry->max_iter_len ? *entry->max_iter_len : lim_.max_lazy_items;
        if (most > bound)
            add(rule::call_cost_exceeded, severity::medium,
                "BUILD gives " + whose + " state holding a lazy value (range) of " + items_text(most) +
                    ", which its __setstate__ may iterate; the policy '" + p_.name() + "' allows " + std::to_string(bound) +
                    (entry && entry->max_iter_len ? " (max_iter_len, entry at " + entry->origin + ")"
                                                  : std::string(" ([limits] max_lazy_items)")) +
                    ": the loader would spend more than that bound",
                &e);
    }

    // State applied with setattr, key by key: BUILD's dict state (load_build
    // in _pickle.c updates the instance __dict__), and what a callable such
    // as torch's _rebuild_from_type_v2 applies (state_arg: its dict state
    // and its slot state). A key naming the loader's own protocol
    // (loader_hook_name) stores a value that the loader calls later.
    void check_state_keys(const event& e, value_ref state, const std::string& by) {
        value_ref dicts[2];
        std::size_t count = 0;
        const bool build = by == "BUILD";
        if (g_.kind(state) == value_kind::dict || is_symbolic(g_.kind(state))) {
            dicts[count++] = state;
        } else if (g_.kind(state) == value_kind::tuple && g_.items(state).size() == 2) {
            dicts[count++] = g_.items(state)[0];
            if (!build) dicts[count++] = g_.items(state)[1];  // BUILD's slot state: dunder-slot-state
        }
        for (std::size_t d = 0; d < count; ++d) {
            if (is_symbolic(g_.kind(dicts[d]))) {
                // load_build takes any mapping (PyDict_Check: an OrderedDict
                // made by an allowed call is one) and stores its items: keys
                // we cannot see may be __setstate__.
                computed_state(e, dicts[d], by, "dict state");
                continue;
            }
            if (g_.kind(dicts[d]) != value_kind::dict) continue;
            auto kv = g_.items(dicts[d]);
            for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
                if (g_.kind(kv[i]) != value_kind::str) {
                    // A computed key may be a str subclass (numpy.str_('__setstate__')).
                    if (is_symbolic(g_.kind(kv[i]))) computed_state(e, kv[i], by, "a key of the dict state");
                    continue;
                }
                std::string_view key = g_.text(kv[i]);
                if (!loader_hook_name(key)) continue;
                // An instance's __doc__ is read by help(), never called, and
                // a str or None stored there cannot be: scipy's frozen
                // distributions and astropy's units keep their docstring in
                // __dict__. Any other value (a global, a made object) may be
                // callable and stays a finding.
                if (key == "__doc__" &&
                    (g_.kind(kv[i + 1]) == value_kind::str || g_.kind(kv[i + 1]) == value_kind::none))
                    continue;
                add(rule::dunder_build_state, severity::critical,
                    (build ? std::string("BUILD") : opcode_name(e.opcode) + " calls " + by + ", which") +
                        " sets the instance attribute '" + std::string(key) + "' to " + describe(kv[i + 1]) +
                        " from state; the loader looks such names up on the instance (__setstate__ by the next "
                        "BUILD, append/extend/add by APPENDS/ADDITEMS, the __reduce__ family when copied) and calls "
                        "what is stored there with arguments the pickle chose, past every bound of the policy; no "
                        "policy can allow this",
                    &e);
            }
        }
    }

    // State whose keys are computed while loading (an OrderedDict([...])
    // made by an allowed call, a numpy.str_ key): the names it sets cannot be
    // checked against loader_hook_name, so it is judged as if it set one.
    void computed_state(const event& e, value_ref what, const std::string& by, const char* part) {
        add(rule::dunder_build_state, severity::critical,
            (by == "BUILD" ? std::string("BUILD") : opcode_name(e.opcode) + " calls " + by + ", which") +
                " applies " + part + " computed while loading (" + describe(what) +
                "): the attribute names it sets are not known before the loader runs, and one named __setstate__ "
                "(or append/extend/add) would be called by the loader with arguments the pickle chose; state whose "
                "names cannot be read is never safe",
            &e);
    }

    // BUILD's (state, slotstate) form calls setattr for each slot key:
    // "__class__" there swaps the object's class, "__dict__" its namespace.
    void check_slot_state(const event& e) {
        value_ref state = e.operand;
        if (g_.kind(state) != value_kind::tuple || g_.items(state).size() != 2) return;
        value_ref slots = g_.items(state)[1];
        if (is_symbolic(g_.kind(slots))) return computed_state(e, slots, "BUILD", "slot state");
        if (g_.kind(slots) != value_kind::dict) return;
        auto kv = g_.items(slots);
        for (std::size_t i = 0; i < kv.size(); i += 2) {
            if (g_.kind(kv[i]) != value_kind::str) {
                if (is_symbolic(g_.kind(kv[i]))) computed_state(e, kv[i], "BUILD", "a key of the slot state");
                continue;
            }
            std::string_view key = g_.text(kv[i]);
            if (key.size() >= 4 && key.starts_with("__") && key.ends_with("__"))
                add(rule::dunder_slot_state, severity::critical,
                    "BUILD sets the attribute '" + std::string(key) + "' through slot state (setattr), which can "
                    "replace the object's class or internals; no policy can allow this",
                    &e);
        }
    }

    // ---- state an entry constrains (build-dict, empty_state_keys) ----------
    //
    // load_build without __setstate__ (_pickle.c and pickle.py alike) writes
    // dict state into inst.__dict__ item by item (PyObject_SetItem; str keys
    // interned first): no setattr, so no __setattr__, no property setter, no
    // descriptor __set__, whatever the keys. The second item of a (state,
    // slotstate) pair is applied with setattr, which runs them all. Dict state
    // is a plain dict the judge reads (EMPTY_DICT...), or (dict, None):
    // pickle.py skips the None, _pickle.c raises "slot state is not a
    // dictionary" after the dict is written, neither calls setattr. Anything
    // else (slot state, a state computed while loading, an OrderedDict made
    // by a call) is not known to be dict state: under build-dict, a finding.
    bool dict_state(value_ref state) const {
        if (g_.kind(state) == value_kind::dict) return true;
        if (g_.kind(state) != value_kind::tuple || g_.items(state).size() != 2) return false;
        return g_.kind(g_.items(state)[0]) == value_kind::dict && g_.kind(g_.items(state)[1]) == value_kind::none;
    }
    static std::string key_of(const global_name& gn) { return std::string(gn.module) + '\n' + std::string(gn.name); }

    void check_constrained_state(const event& e, std::size_t cls) {
        const global_name& gn = named(cls);
        const allow_entry* entry = p_.find(gn.module, gn.name);
        if (!entry) return;  // global-not-allowed says it
        const std::string q = qualified(gn.module, gn.name);
        if ((entry->uses & uses::build_dict) && !(entry->uses & uses::build) && !dict_state(e.operand)) {
            const bool slots = g_.kind(e.operand) == value_kind::tuple && g_.items(e.operand).size() == 2 &&
                               g_.kind(g_.items(e.operand)[1]) != value_kind::none;
            refuse_state(e, gn,
                         "BUILD gives an instance of " + q + " " +
                             (slots ? "slot state (" + describe(g_.items(e.operand)[1]) +
                                          " as the second item of its state), which the loader applies with setattr: "
                                          "that runs " + q + "'s __setattr__ and property setters with the pickle's "
                                          "values"
                                    : "state that is not a plain dict the judge can read (" + describe(e.operand) +
                                          "), so it cannot tell that the loader writes it to __dict__ rather than "
                                          "setattr()ing it") +
                             "; the policy '" + p_.name() + "' allows only build-dict (dict state) for it (entry at " +
                             entry->origin + "): its setters were not found safe to run with a pickle's values",
                         entry);
        }
        if (!entry->empty_state_keys.empty() || !entry->required_state_keys.empty()) {
            if (!keyed_state_readable(e, gn, *entry)) return;
            if (!entry->empty_state_keys.empty()) check_empty_state_keys(e, gn, *entry);
            if (!entry->required_state_keys.empty()) check_required_state_keys(e, gn, *entry);
        }
    }

    // State whose keys an entry constrains must be a plain dict (or (dict,
    // None)) as it was at this BUILD: a class with __setstate__ gets the
    // state whole, and nn.Module's __dict__.update((d1, d2)) would read each
    // 2-key dict of a pair as a (name, value) pair of its keys, setting
    // attributes no key check saw.
    bool keyed_state_readable(const event& e, const global_name& gn, const allow_entry& entry) {
        value_ref d = e.operand;
        if (g_.kind(d) == value_kind::tuple && dict_state(d)) d = g_.items(d)[0];
        if (g_.kind(d) == value_kind::dict && g_.builds_before_change(d) < build_ordinal_ + 1) return true;
        refuse_state(e, gn,
                     "BUILD gives an instance of " + qualified(gn.module, gn.name) +
                         (g_.kind(d) == value_kind::dict
                              ? " a state dict the pickle changes after this BUILD (" + describe(d) +
                                    "): the keys the loader applied are not the ones the stream ends with"
                              : " state that is not a plain dict (" + describe(e.operand) +
                                    "), whose keys the policy constrains: it cannot be told which attributes it "
                                    "sets") +
                         " (state keys of the entry at " + entry.origin + ")",
                     &entry);
        return false;
    }

    // A required key absent from the state is looked up elsewhere when the
    // class reads it (nn.Module.__getattr__ searches _modules, _parameters
    // and _buffers, which the pickle fills): it must be set by the state.
    void check_required_state_keys(const event& e, const global_name& gn, const allow_entry& entry) {
        value_ref d = g_.kind(e.operand) == value_kind::tuple ? g_.items(e.operand)[0] : e.operand;
        auto kv = g_.items(d);
        for (const std::string& want : entry.required_state_keys) {
            bool found = false;
            for (std::size_t i = 0; i + 1 < kv.size() && !found; i += 2)
                found = g_.kind(kv[i]) == value_kind::str && g_.text(kv[i]) == want;
            if (!found)
                refuse_state(e, gn,
                             "BUILD gives an instance of " + qualified(gn.module, gn.name) + " state without '" + want +
                                 "': the class then finds that name elsewhere (for nn.Module, in _modules, "
                                 "_parameters or _buffers, which the pickle fills) and calls what it holds "
                                 "(required_state_keys of the entry at " + entry.origin + ")",
                             &entry);
        }
    }

    void refuse_state(const event& e, const global_name& gn, std::string message, const allow_entry* entry) {
        (void)entry;
        finding& f = add(rule::state_not_allowed, severity::high, std::move(message), &e);
        f.module = gn.module;
        f.name = gn.name;
        state_refused_.insert(key_of(gn));
    }

    // An empty container nothing fills: EMPTY_DICT whose node never got an
    // item (SETITEM(S) on a plain dict adds to the node itself, through the
    // memo or not, before or after the BUILD: the graph holds the items the
    // dict ends with, and none is ever removed), or a call of
    // collections.OrderedDict / builtins.dict with an empty argument tuple
    // that nothing (BUILD, SETITEM(S), APPEND(S), ADDITEMS) was applied to.
    bool empty_container(value_ref v) const {
        if (g_.kind(v) == value_kind::dict) return g_.items(v).empty();
        if (g_.kind(v) != value_kind::reduce || g_.applied(v) != nullptr) return false;
        auto parts = g_.items(v);
        auto o = named_index(parts[0]);
        if (!o) return false;
        const global_name& c = named(*o);
        const bool maker = (c.module == "collections" && c.name == "OrderedDict") ||
                           (c.module == "builtins" && c.name == "dict");
        return maker && g_.kind(parts[1]) == value_kind::tuple && g_.items(parts[1]).empty();
    }

    void check_empty_state_keys(const event& e, const global_name& gn, const allow_entry& entry) {
        const std::string q = qualified(gn.module, gn.name);
        const std::string tail = " (empty_state_keys of the entry at " + entry.origin + ")";
        value_ref parts[2];
        std::size_t count = 0;
        value_ref state = e.operand;
        if (g_.kind(state) == value_kind::tuple && g_.items(state).size() == 2) {
            parts[count++] = g_.items(state)[0];
            parts[count++] = g_.items(state)[1];
        } else {
            parts[count++] = state;
        }
        for (std::size_t p = 0; p < count; ++p) {
            value_kind k = g_.kind(parts[p]);
            if (k == value_kind::none) continue;
            if (k != value_kind::dict) {
                // __setstate__ gets it whole: keys we cannot read may be any of them.
                refuse_state(e, gn,
                             "BUILD gives an instance of " + q + " state whose keys cannot be read (" +
                                 describe(parts[p]) + "), so it cannot be told that " + entry.empty_state_keys.front() +
                                 " and the other constrained keys hold empty containers" + tail,
                             &entry);
                continue;
            }
            auto kv = g_.items(parts[p]);
            for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
                if (is_symbolic(g_.kind(kv[i]))) {
                    refuse_state(e, gn,
                                 "BUILD gives an instance of " + q + " state with a key computed while loading (" +
                                     describe(kv[i]) + "), which may be one of its empty_state_keys" + tail,
                                 &entry);
                    continue;
                }
                if (g_.kind(kv[i]) != value_kind::str) continue;
                std::string_view key = g_.text(kv[i]);
                if (std::find(entry.empty_state_keys.begin(), entry.empty_state_keys.end(), key) ==
                    entry.empty_state_keys.end())
                    continue;
                if (empty_container(kv[i + 1])) continue;
                refuse_state(e, gn,
                             "BUILD gives an instance of " + q + " the state item '" + std::string(key) + "' = " +
                                 describe(kv[i + 1]) +
                                 ", which is not an empty container nothing in the pickle fills (EMPTY_DICT, or "
                                 "OrderedDict()/dict() called without arguments, never given items by SETITEM(S), "
                                 "APPEND(S), ADDITEMS or BUILD): the class calls what it holds (hooks) with values "
                                 "nobody judged" + tail,
                             &entry);
            }
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
            return;
        }
        add(rule::persistent_id_not_allowed, severity::high,
            opcode_name(e.opcode) + " asks the loader's persistent_load for an object the policy '" + p_.name() +
                "' does not describe" +
                (p_.persistent_ids().empty() ? std::string(" (it allows no persistent ids)")
                                             : std::string(" (it allows only PyTorch storages: ('storage', type, key, location, numel))")),
            &e);
    }

    // Bytes handed to a nested loader (pickle.loads and friends) are a pickle
    // too: judge them, and report what they hold under this one.
    void scan_nested(const event& e) {
        if (g_.kind(e.operand) != value_kind::tuple) return;
        scan_nested(e, g_.global(e.target), g_.items(e.operand));
    }
    // The same for a call made through a partial, with the combined arguments.
    void scan_nested(const event& e, const global_name& gn, std::span<const value_ref> args) {
        const known_global* k = kb_.find(gn.module, gn.name);
        if (!k || k->category != "nested-loader") return;
        for (std::size_t i = 0; i < args.size(); ++i) {
            value_kind ak = g_.kind(args[i]);
            if (ak != value_kind::bytes && ak != value_kind::bytearray) continue;
            std::string_view data = g_.text(args[i]);
            nested_(std::as_bytes(std::span(data.data(), data.size())),
                    member_.argument(qualified(gn.module, gn.name), i, e.offset));
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
            bool storage_only = !entry && (needed & ~uses::reference) == 0 && p_.allows_storage_type(qualified(gn.module, gn.name));
            // build-dict allows BUILD; each BUILD whose state is not dict
            // state was refused on its own (check_constrained_state), and so
            // was a key of empty_state_keys holding what it may not.
            const std::uint8_t entry_uses =
                entry ? static_cast<std::uint8_t>(entry->uses | (entry->uses & uses::build_dict ? uses::build : 0)) : 0;
            const bool state_ok = !state_refused_.contains(key_of(gn));
            bool allowed = storage_only || (entry && (needed & ~entry_uses) == 0 && state_ok) || consumed[i];

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
                add(rule::fix_imports_remap, severity::info,
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
                    auto& f = add(rule::dotted_name, severity::medium,
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
                f = &add(rule::global_not_allowed, k ? k->severity : severity::high,
                         q + " is not allowed by policy '" + p_.name() + "'" + why +
                             (needed ? " (the pickle would " + describe_uses(needed) + " it)" : std::string()) +
                             // The "how to allow it" snippet only where a policy may
                             // reasonably allow the global: never for what the knowledge
                             // base calls high or critical (os.system), which `policy
                             // infer` refuses too without --allow-dangerous.
                             (k && k->severity >= severity::high
                                  ? ". No policy should allow it: it is a known gadget, which `pickleguard policy "
                                    "infer` refuses too; do not load this file"
                                  : ". If you trust the code that wrote this file, allow it in a policy file: [[allow]] "
                                    "module = \"" +
                                        std::string(gn.module) + "\" name = \"" + std::string(gn.name) + "\"" +
                                        (needed ? " uses = [\"" + replace_all(describe_uses(needed), ", ", "\", \"") +
                                                      "\"]"
                                                : "") +
                                        " (see `pickleguard policy infer`)"),
                         &at);
            } else if ((needed & ~entry_uses) == 0) {
                continue;  // only its state was refused: state-not-allowed says where and why
            } else {
                std::uint8_t missing = needed & ~entry_uses;
                f = &add(rule::use_not_allowed, k ? std::max(k->severity, severity::high) : severity::high,
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
            f.rule = rule::limit_exceeded;
            f.severity = severity::medium;
            f.message = "decoding stopped at a resource limit (" + reason +
                        "); the rest of the file was not checked, so it cannot be called safe. Raise the limit in the "
                        "policy's [limits] if the file is trusted to be this large";
        } else {
            f.rule = rule::malformed_pickle;
            f.severity = severity::high;
            f.message = "the pickle could not be fully decoded: " + reason +
                        ". CPython would have run everything before this point (any findings above); a file that "
                        "cannot be read whole is never safe";
        }
        out_.findings.push_back(std::move(f));
    }

    const decoding& d_;
    const value_graph& g_;
    std::span<const std::byte> input_;
    const policy& p_;
    const knowledge_base& kb_;
    const location& member_;
    file_report& out_;
    const nested_pickle_sink& nested_;
    std::vector<std::uint8_t> uses_;
    limits lim_;
    std::uint64_t lazy_total_ = 0;  // items drawn from lazy values by all calls so far
    bool lazy_total_reported_ = false;
    std::unordered_map<std::uint32_t, std::uint64_t> lazy_within_;  // container node -> longest lazy item
    const allow_entry no_entry_{};  // bounds of a global no entry allows: none but the limits
    std::unordered_map<std::uint32_t, partial_call> partials_;  // exact partial node -> the call it makes
    std::unordered_set<std::string> state_refused_;  // key_of(class) whose BUILD state an entry refused
    std::unordered_map<std::uint32_t, value_ref> made_from_;  // result node -> class an instance maker was given
    std::unordered_map<std::uint32_t, std::size_t> fetched_;   // getattr result node -> named global index
    std::unordered_map<std::size_t, value_ref> getattr_nodes_;  // builtins.getattr global index -> its node
    std::deque<global_name> fetched_names_;                    // named globals past g_.globals(); a deque, so
                                                               // references to them stay valid as it grows
    std::deque<std::string> fetched_text_;                     // their names (a deque: views stay valid)
};

}  // namespace

void judge_pickle(const judge_input& in, file_report& out, const nested_pickle_sink& nested) {
    judge j(in, out, nested);
    j.run();
}

}  // namespace pickleguard
