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
#include <span>
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

// numpy.random state layouts (judge::check_rng_state): see there.
enum class rng_value : std::uint8_t { index, u128, array, real };
struct rng_field {
    std::string_view key;
    rng_value kind;
    std::uint64_t n;  // index: the largest value (from 0); array: the item count
};
struct rng_layout {
    std::string_view name;                // 'bit_generator'
    std::span<const rng_field> outer;     // keys besides 'bit_generator' and 'state'
    std::span<const rng_field> inner;     // the keys of 'state'
};
static constexpr rng_field kMtInner[] = {{"key", rng_value::array, 624}, {"pos", rng_value::index, 624}};
static constexpr rng_field kUintOuter[] = {{"has_uint32", rng_value::index, 1},
                                           {"uinteger", rng_value::index, 0xffffffffu}};
static constexpr rng_field kPhiloxOuter[] = {{"buffer", rng_value::array, 4}, {"buffer_pos", rng_value::index, 4},
                                             {"has_uint32", rng_value::index, 1},
                                             {"uinteger", rng_value::index, 0xffffffffu}};
static constexpr rng_field kPhiloxInner[] = {{"counter", rng_value::array, 4}, {"key", rng_value::array, 2}};
static constexpr rng_field kPcgInner[] = {{"state", rng_value::u128, 0}, {"inc", rng_value::u128, 0}};
static constexpr rng_field kSfcInner[] = {{"state", rng_value::array, 4}};
static constexpr rng_layout kRngLayouts[] = {
    {"MT19937", {}, kMtInner},   {"PCG64", kUintOuter, kPcgInner}, {"PCG64DXSM", kUintOuter, kPcgInner},
    {"Philox", kPhiloxOuter, kPhiloxInner}, {"SFC64", kUintOuter, kSfcInner},
};
// RandomState.get_state(legacy=False) adds these to its bit generator's.
static constexpr rng_field kGaussOuter[] = {{"has_gauss", rng_value::index, 1}, {"gauss", rng_value::real, 0}};

class judge {
public:
    judge(const judge_input& in, file_report& out, const nested_pickle_sink& nested)
        : d_(in.decoded), g_(in.decoded.graph), input_(in.bytes), p_(in.p), kb_(in.kb), member_(in.member),
          out_(out), nested_(nested), uses_(g_.globals().size(), 0), lim_(in.limit),
          budget_(in.budget ? in.budget : &own_budget_) {}

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
                mark_handed_to_code(e.operand);
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
                        if (e.kind == event_kind::build) {
                            check_constrained_state(e, *o);
                            if (const allow_entry* be = p_.find(named(*o).module, named(*o).name))
                                charge_cost(e, named(*o), *be, "applies state to an object made by ", {});
                        }
                    } else
                        add(rule::mutation_of_computed_value, severity::high,
                            opcode_name(e.opcode) + " modifies " + describe(t) + ", whose class is not a named global", &e);
                } else {
                    add(rule::mutation_of_computed_value, severity::high,
                        opcode_name(e.opcode) + " modifies " + describe(t) + "; no policy can allow this", &e);
                }
                if (e.kind == event_kind::build) {
                    ++build_ordinal_;
                    first_build_at_.try_emplace(t.index(), build_ordinal_);
                    check_native_state(e);
                    build_partial(t, e.operand);
                    check_slot_state(e);
                    check_state_keys(e, e.operand, "BUILD");
                    check_state_cost(e);
                }
                mark_handed_to_code(e.operand);
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
             keyword_sensitive(*entry)))
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
    // One named field of a structured dtype, for readers of array contents.
    struct field_facts {
        std::string_view name;  // into the input (the names tuple's str)
        std::uint64_t offset = 0, itemsize = 0;
        char kind = 0;        // numpy's type character; 'V' for a nested structure or subarray
        char byteorder = '|';  // '<', '>' or '|'
    };
    struct dtype_facts {
        std::uint64_t itemsize = 0;
        std::uint8_t flags = 0;
        std::uint64_t fields = 0;         // named fields; 0 for an unstructured dtype
        std::uint64_t mask_itemsize = 1;  // numpy.ma.make_mask_descr: one bool per leaf field
        std::uint64_t alignment = 1;
        char kind = 0;                     // numpy's type character ('i', 'f', 'V', ...)
        char byteorder = '|';              // '<' or '>' ('=' read as '<': x86_64 and arm64 loaders), '|'
        bool subarray = false;
        std::vector<field_facts> field_list;  // in the names tuple's order
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
            {"sklearn-tree", &judge::check_tree_state},
            {"scipy-sparse", &judge::check_sparse_state},
            {"numpy-bit-generator", &judge::check_bit_generator_state},
            {"numpy-random-state", &judge::check_random_state},
            {"numpy-seed-sequence", &judge::check_seed_sequence_state},
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
                "the library writes (docs/policies.md, \"State that native code trusts\"). Do not load this file unless " +
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
    // Every node reachable from what the stream has handed to library code
    // so far: call arguments (partials' too), and the operands of BUILD,
    // APPEND(S), SETITEM(S) and ADDITEMS on made objects (__setstate__,
    // append, __setitem__ get them). That code may have changed a dict in
    // it (state.setdefault(k, v)) in ways the graph does not show: a state
    // whose forbidden keys are checked must not be in it at its BUILD.
    std::unordered_set<std::uint32_t> handed_to_code_;
    void mark_handed_to_code(value_ref v0) {
        std::vector<value_ref> stack{v0};
        while (!stack.empty()) {
            value_ref v = stack.back();
            stack.pop_back();
            if (v.is_small_int() || !handed_to_code_.insert(v.index()).second) continue;
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
            arrays_built_[made.index()] = state;  // its elements can be read (read_array)
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
            if (it == array_shapes_.end() || !a.is_compound()) {
                // protocol 5's _frombuffer(bytes, dtype, shape, 'C'): read whole by read_array
                array_reading ra = read_array(a);
                if (!ra.view || ra.view->shape.size() != 1 || ra.view->shape[0] < 0) return std::nullopt;
                return static_cast<std::uint64_t>(ra.view->shape[0]);
            }
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

    // ---- numpy.random states -------------------------------------------
    //
    // The state setters of numpy 1.24's bit generators (Cython) store what
    // the dict holds without checking it: MT19937 keeps `pos` as the index
    // of its next key word (2**30 or a negative one is read and written out
    // of bounds on the first draw), Philox keeps `buffer_pos` as the index
    // into its 4-word buffer. Generator.__setstate__ and
    // RandomState.set_state hand the state to them. What numpy writes is a
    // fixed layout per bit generator: anything else is refused.

    // An ndarray's entry in array_items_ (end() for a value not an array):
    // small ints have no node index to look up.
    std::unordered_map<std::uint32_t, std::uint64_t>::const_iterator array_read_whole(value_ref v) const {
        if (g_.kind(v) != value_kind::reduce && g_.kind(v) != value_kind::newobj) return array_items_.end();
        return array_items_.find(v.index());
    }
    // "numpy-bit-generator": Generator and bit generator BUILD state.
    void check_bit_generator_state(const event& e, value_ref, const allow_entry& entry) {
        check_rng_state(e, entry, false);
    }
    // "numpy-random-state": RandomState.__setstate__ (set_state) state.
    void check_random_state(const event& e, value_ref, const allow_entry& entry) { check_rng_state(e, entry, true); }

    // A plain dict's str keys and values as the BUILD reads it, or why not.
    std::string read_str_dict(value_ref d, std::vector<std::pair<std::string_view, value_ref>>& out) const {
        if (g_.kind(d) != value_kind::dict) return "it is " + describe(d) + ", not a plain dict";
        if (!unchanged_since_build(d))
            return "the dict is changed after the BUILD (SETITEM through the memo): the setter read other values";
        auto kv = g_.items(d);
        for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
            if (g_.kind(kv[i]) != value_kind::str) return "a key is " + describe(kv[i]) + ", not a str";
            for (const auto& [k, v] : out)
                if (k == g_.text(kv[i])) return "key '" + std::string(k) + "' is set twice";
            out.emplace_back(g_.text(kv[i]), kv[i + 1]);
        }
        return {};
    }
    // Why `v` is not what numpy writes for field `f`, or nothing.
    std::string rng_field_wrong(const rng_field& f, value_ref v) const {
        switch (f.kind) {
            case rng_value::index:
                if (g_.kind(v) != value_kind::integer || g_.as_int(v) < 0 ||
                    static_cast<std::uint64_t>(g_.as_int(v)) > f.n)
                    return describe_scalar(v) + ", not an int from 0 to " + std::to_string(f.n);
                return {};
            case rng_value::u128: {
                if (g_.kind(v) == value_kind::integer && g_.as_int(v) >= 0) return {};
                if (g_.kind(v) == value_kind::big_integer) {
                    auto b = g_.big_int_bytes(v);  // little-endian two's complement
                    std::size_t n = b.size();
                    if (n > 0 && (b[n - 1] & 0x80) == 0) {
                        while (n > 0 && b[n - 1] == 0) --n;
                        if (n <= 16) return {};
                    }
                }
                return describe_scalar(v) + ", not an int from 0 to 2**128 - 1";
            }
            case rng_value::array: {
                auto it = array_read_whole(v);
                if (it == array_items_.end())
                    return describe(v) + ", not an ndarray whose one BUILD the judge read whole before this one";
                if (it->second != f.n)
                    return "an ndarray of " + std::to_string(it->second) + " items, not " + std::to_string(f.n);
                return {};
            }
            case rng_value::real:
                if (g_.kind(v) != value_kind::floating) return describe_scalar(v) + ", not a float";
                return {};
        }
        return "unknown field";
    }
    // The dict `d` has exactly the fields of `fields` and `extra` (plus the
    // keys in `also`, checked by the caller), each as numpy writes it.
    bool check_rng_fields(const event& e, const allow_entry& entry, const std::string& where,
                          const std::vector<std::pair<std::string_view, value_ref>>& d,
                          std::initializer_list<std::span<const rng_field>> fields,
                          std::initializer_list<std::string_view> also) {
        std::size_t expected = also.size();
        for (auto part : fields) expected += part.size();
        std::string names;
        for (auto part : fields)
            for (const rng_field& f : part) names += (names.empty() ? "'" : ", '") + std::string(f.key) + "'";
        for (std::string_view a : also) names += (names.empty() ? "'" : ", '") + std::string(a) + "'";
        for (auto part : fields)
            for (const rng_field& f : part) {
                value_ref v{};
                bool found = false;
                for (const auto& kv : d)
                    if (kv.first == f.key) { v = kv.second; found = true; }
                if (!found) {
                    native_state_finding(e, entry, where + "without '" + std::string(f.key) + "'",
                                         "numpy writes the keys " + names);
                    return false;
                }
                if (std::string why = rng_field_wrong(f, v); !why.empty()) {
                    native_state_finding(e, entry, where + "'" + std::string(f.key) + "' " + describe_scalar(v),
                                         "it is " + why + " (numpy's setter stores it unchecked: an index out of "
                                         "range is read and written past the generator's buffers on the first draw)");
                    return false;
                }
            }
        if (d.size() != expected) {
            native_state_finding(e, entry, where + "with " + std::to_string(d.size()) + " keys",
                                 "numpy writes exactly the keys " + names);
            return false;
        }
        return true;
    }
    void check_rng_state(const event& e, const allow_entry& entry, bool random_state) {
        std::vector<std::pair<std::string_view, value_ref>> outer;
        if (std::string why = read_str_dict(e.operand, outer); !why.empty())
            return native_state_finding(e, entry, "state " + describe(e.operand),
                                        "numpy writes a plain dict {'bit_generator': name, 'state': {...}, ...} and " +
                                            why + " (a legacy tuple state is not what a pickle holds)");
        value_ref name{}, inner{};
        bool has_name = false, has_inner = false;
        for (const auto& kv : outer) {
            if (kv.first == "bit_generator") { name = kv.second; has_name = true; }
            if (kv.first == "state") { inner = kv.second; has_inner = true; }
        }
        const rng_layout* layout = nullptr;
        if (has_name && g_.kind(name) == value_kind::str)
            for (const rng_layout& l : kRngLayouts)
                if (l.name == g_.text(name)) layout = &l;
        if (!layout)
            return native_state_finding(e, entry, "state with bit_generator " + (has_name ? describe_scalar(name) : "missing"),
                                        "numpy writes one of MT19937, PCG64, PCG64DXSM, Philox, SFC64, whose layouts "
                                        "the judge knows");
        const std::string gen = std::string(layout->name) + " state ";
        std::vector<std::pair<std::string_view, value_ref>> in;
        if (!has_inner)
            return native_state_finding(e, entry, gen + "without 'state'", "numpy writes the generator's words there");
        if (std::string why = read_str_dict(inner, in); !why.empty())
            return native_state_finding(e, entry, gen + "'state' " + describe(inner), "numpy writes a plain dict, and " + why);
        if (!check_rng_fields(e, entry, gen, outer,
                              {layout->outer, random_state ? std::span<const rng_field>(kGaussOuter)
                                                           : std::span<const rng_field>()},
                              {"bit_generator", "state"}))
            return;
        check_rng_fields(e, entry, gen + "'state' ", in, {layout->inner}, {});
    }

    // "numpy-seed-sequence": the Cython state of SeedSequence, (entropy,
    // n_children_spawned, pool, pool_size, spawn_key), stored unchecked.
    // spawn() makes children of pool_size words, mixing each word into
    // every other (pool_size**2 steps): 10**8 over a 1-word pool runs for
    // minutes. numpy's default is 4; the judge allows up to kMaxPoolSize.
    static constexpr std::int64_t kMaxPoolSize = 1024;
    static constexpr std::size_t kMaxSeedInts = 1024, kMaxSeedIntBytes = 1024;
    bool seed_int(value_ref v) const {
        if (g_.kind(v) == value_kind::integer) return g_.as_int(v) >= 0;
        if (g_.kind(v) != value_kind::big_integer) return false;
        auto b = g_.big_int_bytes(v);
        return !b.empty() && b.size() <= kMaxSeedIntBytes && (b.back() & 0x80) == 0;
    }
    bool seed_ints(value_ref v) const {
        if (g_.kind(v) == value_kind::list && !unchanged_since_build(v)) return false;
        if (g_.kind(v) != value_kind::tuple && g_.kind(v) != value_kind::list) return false;
        if (g_.items(v).size() > kMaxSeedInts) return false;
        for (value_ref item : g_.items(v))
            if (!seed_int(item)) return false;
        return true;
    }
    void check_seed_sequence_state(const event& e, value_ref, const allow_entry& entry) {
        value_ref state = e.operand;
        if (g_.kind(state) != value_kind::tuple || g_.items(state).size() != 5)
            return native_state_finding(e, entry, "state " + describe(state),
                                        "numpy writes a tuple (entropy, n_children_spawned, pool, pool_size, spawn_key)");
        auto s = g_.items(state);
        std::string limits = " (at most " + std::to_string(kMaxSeedInts) + " ints of up to " +
                             std::to_string(kMaxSeedIntBytes) + " bytes)";
        if (!seed_int(s[0]) && !seed_ints(s[0]))
            return native_state_finding(e, entry, "entropy " + describe_scalar(s[0]),
                                        "numpy writes a non-negative int or a tuple or list of them" + limits);
        if (g_.kind(s[1]) != value_kind::integer || g_.as_int(s[1]) < 0 || g_.as_int(s[1]) > 0xffffffffll)
            return native_state_finding(e, entry, "n_children_spawned " + describe_scalar(s[1]),
                                        "it is a uint32 numpy writes as an int");
        if (g_.kind(s[3]) != value_kind::integer || g_.as_int(s[3]) < 4 || g_.as_int(s[3]) > kMaxPoolSize)
            return native_state_finding(e, entry, "pool_size " + describe_scalar(s[3]),
                                        "numpy's SeedSequence takes at least 4, and the judge allows up to " +
                                            std::to_string(kMaxPoolSize) +
                                            ": spawn() mixes a child's pool_size words into each other, pool_size**2 "
                                            "steps each");
        auto it = array_read_whole(s[2]);
        if (it == array_items_.end() || it->second != static_cast<std::uint64_t>(g_.as_int(s[3])))
            return native_state_finding(e, entry, "pool " + describe(s[2]),
                                        "numpy writes an ndarray of pool_size (" + std::to_string(g_.as_int(s[3])) +
                                            ") words, whose one BUILD the judge read whole before this one");
        if (g_.kind(s[4]) != value_kind::tuple || !seed_ints(s[4]))
            return native_state_finding(e, entry, "spawn_key " + describe(s[4]),
                                        "numpy writes a tuple of non-negative ints" + limits);
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
        f.kind = kind;
        // Without a BUILD the dtype has the native byte order (numpy.dtype('i8')).
        f.byteorder = bt->byteorder ? bt->byteorder : n == 1 ? '|' : '<';
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
        f.byteorder = bo[0] == '=' ? '<' : bo[0];
        const bool subarray = g_.kind(s[2]) != value_kind::none;
        f.subarray = subarray;
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
            f.field_list.push_back({g_.text(name), start, fd.facts->itemsize,
                                    fd.facts->fields || fd.facts->subarray ? 'V' : fd.facts->kind,
                                    fd.facts->byteorder});
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

    // ---- array contents: state that native code indexes memory with ---------
    //
    // Some native __setstate__ methods copy arrays from their state into C
    // structures, and the code that uses the object later follows the
    // indices in them with no bounds check (sklearn's Tree, below). Their
    // checkers read the elements. An array is read only when the judge knows
    // every byte of it before loading: numpy.core.multiarray._reconstruct(
    // numpy.ndarray, ...) with the one BUILD the numpy-ndarray checker
    // accepted earlier in the stream, C order and bytes data; protocol 5's
    // numpy.core.numeric._frombuffer(bytes, dtype, shape, 'C'); or joblib's
    // NumpyArrayWrapper with the bytes joblib reads after its one BUILD.
    // Anything else is not read, and the checker refuses it.
    struct array_view {
        std::vector<std::int64_t> shape;
        dtype_facts dtype;
        std::string_view data;  // prod(shape) x itemsize bytes in C order, a view of the input
    };
    struct array_reading {
        std::optional<array_view> view;
        std::string why;
    };
    std::unordered_map<std::uint32_t, value_ref> arrays_built_;       // ndarray node -> its accepted BUILD state
    std::unordered_map<std::uint32_t, std::uint64_t> first_build_at_;  // node -> ordinal of its first BUILD

    array_reading read_array(value_ref v) {
        array_reading r;
        auto fail = [&](std::string why) {
            r.view.reset();
            r.why = std::move(why);
            return r;
        };
        const value_kind k = g_.kind(v);
        if (k != value_kind::reduce && k != value_kind::newobj)
            return fail("it is " + describe(v) + ", not an array made in the stream");
        auto parts = g_.items(v);
        auto maker = named_index(parts[0]);
        auto is = [&](std::optional<std::size_t> i, std::string_view module, std::string_view name) {
            return i && named(*i).module == module && named(*i).name == name;
        };
        array_view a;
        value_ref shape, dtype;
        if (k == value_kind::reduce && (is(maker, "numpy.core.numeric", "_frombuffer") ||
                                        is(maker, "numpy._core.numeric", "_frombuffer"))) {
            // Protocol 5: _frombuffer(buf, dtype, shape, order) is
            // frombuffer(buf, dtype).reshape(shape, order=order), a view of
            // an in-band PickleBuffer (bytes, or a bytearray: APPENDS that
            // grow it after the call raise BufferError, so the graph's final
            // bytes are the ones the array sees; reshape raises unless they
            // are exactly prod(shape) items).
            auto fa = parts.size() > 1 && g_.kind(parts[1]) == value_kind::tuple ? g_.items(parts[1])
                                                                                  : std::span<const value_ref>{};
            if (fa.size() != 4) return fail("numpy pickles _frombuffer(buffer, dtype, shape, order)");
            if (g_.kind(fa[0]) != value_kind::bytes && g_.kind(fa[0]) != value_kind::bytearray)
                return fail("its buffer is " + describe(fa[0]) + ", not bytes in the stream (an out-of-band buffer is not read)");
            if (g_.kind(fa[3]) != value_kind::str || g_.text(fa[3]) != "C")
                return fail("its order is not 'C', the order the library reads");
            a.data = g_.text(fa[0]);
            dtype = fa[1];
            shape = fa[2];
        } else if (k == value_kind::reduce) {
            if (!is(maker, "numpy.core.multiarray", "_reconstruct") && !is(maker, "numpy._core.multiarray", "_reconstruct"))
                return fail("it is made by " + describe(parts[0]) + ", not by numpy's _reconstruct or _frombuffer");
            auto it = arrays_built_.find(v.index());
            if (it == arrays_built_.end())
                return fail("it is not an ndarray whose one BUILD the numpy-ndarray checker accepted before this BUILD");
            // _reconstruct(subtype, ...): only ndarray's own layout is read.
            if (parts.size() < 2 || g_.kind(parts[1]) != value_kind::tuple || g_.items(parts[1]).empty() ||
                !is(named_index(g_.items(parts[1])[0]), "numpy", "ndarray"))
                return fail("its class is not numpy.ndarray");
            auto s = g_.items(it->second);
            const std::size_t at = s.size() == 5 ? 1 : 0;
            shape = s[at];
            dtype = s[at + 1];
            if (small_int(s[at + 2]).value_or(1) != 0)
                return fail("it is in Fortran order (is_fortran), not the C order the library writes and reads");
            if (g_.kind(s[at + 3]) != value_kind::bytes)
                return fail("its data is not bytes (a latin-1 str is not read)");
            a.data = g_.text(s[at + 3]);
        } else {
            // joblib.dump's placeholder: NEWOBJ, one BUILD of its __dict__,
            // then NumpyUnpickler.load_build reads the array's bytes from the
            // stream (read/joblib.cpp; decoding::raw_after_build).
            if (!is(maker, "joblib.numpy_pickle", "NumpyArrayWrapper"))
                return fail("it is made by " + describe(parts[0]) + ", not by numpy's _reconstruct or _frombuffer or joblib's "
                            "NumpyArrayWrapper");
            const applied_ops* ops = g_.applied(v);
            auto built = first_build_at_.find(v.index());
            if (!ops || ops->states.size() != 1 || built == first_build_at_.end())
                return fail("the NumpyArrayWrapper does not have exactly one BUILD before this one");
            value_ref st = ops->states[0];
            if (g_.kind(st) != value_kind::dict || g_.builds_before_change(st) >= built->second)
                return fail("the NumpyArrayWrapper's state is not a dict left as it was at its BUILD");
            std::optional<value_ref> sub, order, align;
            auto kv = g_.items(st);
            for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
                if (g_.kind(kv[i]) != value_kind::str) return fail("a key of the NumpyArrayWrapper's state is not a str");
                std::string_view key = g_.text(kv[i]);
                if (key == "subclass") sub = kv[i + 1];
                else if (key == "shape") shape = kv[i + 1];
                else if (key == "order") order = kv[i + 1];
                else if (key == "dtype") dtype = kv[i + 1];
                else if (key == "numpy_array_alignment_bytes") align = kv[i + 1];
                else if (key != "allow_mmap") return fail("the NumpyArrayWrapper's state sets '" + std::string(key) + "', which joblib does not write");
            }
            if (!sub || !is(named_index(*sub), "numpy", "ndarray"))
                return fail("the NumpyArrayWrapper's subclass is not numpy.ndarray");
            if (!order || g_.kind(*order) != value_kind::str || g_.text(*order) != "C")
                return fail("the NumpyArrayWrapper's order is not 'C'");
            if (shape == value_ref{} || dtype == value_ref{}) return fail("the NumpyArrayWrapper's state has no shape or dtype");
            const decoding::raw_span* span = nullptr;
            for (const decoding::raw_span& rs : d_.raw_after_build)
                if (rs.node == v.index()) {
                    if (span) return fail("joblib read raw bytes after more than one BUILD of it");
                    span = &rs;
                }
            if (!span || span->offset + span->size > input_.size())
                return fail("the judge has no record of the bytes joblib reads after its BUILD");
            // joblib >= 1.2 (numpy_array_alignment_bytes set): a padding-length byte and the padding, then the data.
            std::uint64_t pad = 0;
            if (align && g_.kind(*align) != value_kind::none)
                pad = 1 + static_cast<std::uint64_t>(input_[static_cast<std::size_t>(span->offset)]);
            if (pad > span->size) return fail("the bytes joblib reads after its BUILD are shorter than their padding");
            a.data = std::string_view(reinterpret_cast<const char*>(input_.data()) + span->offset + pad, span->size - pad);
        }
        if (g_.kind(shape) != value_kind::tuple || g_.items(shape).size() > kMaxDims)
            return fail("its shape is not a tuple of at most " + std::to_string(kMaxDims) + " ints");
        std::uint64_t count = 1;
        for (value_ref dim : g_.items(shape)) {
            std::optional<std::int64_t> n = g_.kind(dim) == value_kind::integer ? small_int(dim) : std::nullopt;
            if (!n || *n < 0) return fail("its shape holds " + describe_scalar(dim) + ", not a non-negative int");
            if (*n != 0 && count > INT64_MAX / static_cast<std::uint64_t>(*n)) return fail("its size overflows");
            count *= static_cast<std::uint64_t>(*n);
            a.shape.push_back(*n);
        }
        dtype_reading d = read_dtype(dtype);
        if (!d.facts) return fail("its dtype: " + d.why);
        a.dtype = std::move(*d.facts);
        if (a.dtype.list_pickle() || (a.dtype.flags & 0x01) != 0)  // NPY_ITEM_REFCOUNT: objects
            return fail("its dtype holds objects, whose items are not bytes the judge can read");
        if (a.dtype.itemsize != 0 && count > INT64_MAX / a.dtype.itemsize) return fail("its size overflows");
        if (a.data.size() != count * a.dtype.itemsize)
            return fail("its data is " + std::to_string(a.data.size()) + " bytes, not prod(shape) x itemsize = " +
                        std::to_string(count * a.dtype.itemsize));
        r.view = std::move(a);
        return r;
    }
    // A signed int of `size` bytes (1, 2, 4 or 8) at `at` in `data`, in the
    // byte order '<' or '>' (the caller checked both bounds).
    static std::int64_t load_int(std::string_view data, std::uint64_t at, std::uint64_t size, char order) {
        std::uint64_t x = 0;
        for (std::uint64_t b = 0; b < size; ++b)
            x = (x << 8) | static_cast<std::uint8_t>(data[at + (order == '>' ? b : size - 1 - b)]);
        if (size < 8 && ((x >> (8 * size - 1)) & 1) != 0) x |= ~std::uint64_t{0} << (8 * size);
        return static_cast<std::int64_t>(x);
    }
    static bool ordered(char byteorder) { return byteorder == '<' || byteorder == '>'; }

    // "sklearn-tree": sklearn.tree._tree.Tree(n_features, n_classes,
    // n_outputs), then Tree.__setstate__({max_depth, node_count, nodes,
    // values}) as Tree.__reduce__ writes it (sklearn 1.2.1, _tree.pyx).
    // __cinit__ copies n_outputs class counts from n_classes; __setstate__
    // checks the nodes' dtype and the values' shape and dtype (converting
    // other byte orders and bitness), then memcpys both; it never reads a
    // node. Later use trusts them, compiled with boundscheck=False: apply()
    // and predict() walk from node 0 along left_child/right_child until
    // left_child is -1 (TREE_LEAF), reading column `feature` of X; an index
    // past node_count reads past the node array, one that points back loops
    // forever; decision_path() writes each sample's path into
    // n_samples x (1 + max_depth) slots; compute_feature_importances() walks
    // node_count nodes and adds into n_features slots at each `feature`.
    static constexpr std::uint64_t kTreeNodeSize = 56;
    struct tree_node_field {
        std::string_view name;
        char kind;
        std::uint64_t offset;
    };
    static constexpr tree_node_field kTreeNodeFields[] = {
        {"left_child", 'i', 0},  {"right_child", 'i', 8}, {"feature", 'i', 16},         {"threshold", 'f', 24},
        {"impurity", 'f', 32}, {"n_node_samples", 'i', 40}, {"weighted_n_node_samples", 'f', 48},
    };
    void check_tree_state(const event& e, value_ref made, const allow_entry& entry) {
        auto bad = [&](const std::string& what, const std::string& why) { native_state_finding(e, entry, what, why); };
        if (++builds_seen_[made.index()] > 1)
            return bad("a second state", "sklearn writes one per Tree, and this checker reads only the first");
        auto parts = g_.items(made);
        if (g_.kind(made) != value_kind::reduce || parts.size() < 2 || g_.kind(parts[1]) != value_kind::tuple ||
            g_.items(parts[1]).size() != 3)
            return bad("its constructor arguments",
                       "Tree.__reduce__ writes the call Tree(n_features, n_classes, n_outputs), which the checker reads");
        auto args = g_.items(parts[1]);
        auto int_of = [&](value_ref v) { return g_.kind(v) == value_kind::integer ? small_int(v) : std::nullopt; };
        const std::optional<std::int64_t> n_features = int_of(args[0]), n_outputs = int_of(args[2]);
        if (!n_features || *n_features < 1)
            return bad("n_features " + describe_scalar(args[0]) + " (argument 0 of Tree)",
                       "it must be a positive int below 2**31: split nodes' features index below it");
        if (!n_outputs || *n_outputs < 1)
            return bad("n_outputs " + describe_scalar(args[2]) + " (argument 2 of Tree)", "it must be a positive int below 2**31");
        // n_classes: __cinit__ reads n_outputs counts (_check_n_classes: a
        // 1-d int32 or int64 array, converted to intp). An array whose BUILD
        // comes after the call is still _reconstruct's empty int8 array
        // there (shape and dtype pinned by the policy): _check_n_classes raises.
        array_reading nc = read_array(args[1]);
        if (!nc.view) return bad("n_classes " + describe(args[1]) + " (argument 1 of Tree)", nc.why);
        const array_view& c = *nc.view;
        if (c.shape.size() != 1 || c.shape[0] != *n_outputs || c.dtype.kind != 'i' || c.dtype.fields ||
            c.dtype.subarray || (c.dtype.itemsize != 4 && c.dtype.itemsize != 8) || !ordered(c.dtype.byteorder))
            return bad("n_classes (argument 1 of Tree)",
                       "sklearn writes a 1-d int64 (or int32) array of exactly n_outputs = " + std::to_string(*n_outputs) +
                           " class counts");
        std::int64_t max_n_classes = 0;
        for (std::int64_t k = 0; k < *n_outputs; ++k) {
            std::int64_t n = load_int(c.data, static_cast<std::uint64_t>(k) * c.dtype.itemsize, c.dtype.itemsize, c.dtype.byteorder);
            if (n < 1 || n > INT32_MAX)
                return bad("n_classes[" + std::to_string(k) + "] = " + std::to_string(n),
                           "each output has a positive number of classes (1 for a regressor), below 2**31");
            max_n_classes = std::max(max_n_classes, n);
        }
        // The state: exactly the dict Tree.__getstate__ writes, as it is at this BUILD.
        value_ref state = e.operand;
        if (g_.kind(state) != value_kind::dict || !unchanged_since_build(state))
            return bad("state " + describe(state),
                       "Tree.__setstate__ takes the dict {max_depth, node_count, nodes, values} Tree.__getstate__ "
                       "writes, not changed after the BUILD");
        std::optional<value_ref> max_depth_v, node_count_v, nodes_v, values_v;
        auto kv = g_.items(state);
        for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
            std::string_view key = g_.kind(kv[i]) == value_kind::str ? g_.text(kv[i]) : std::string_view{};
            std::optional<value_ref>* slot = key == "max_depth" ? &max_depth_v : key == "node_count" ? &node_count_v
                                           : key == "nodes"     ? &nodes_v     : key == "values"     ? &values_v
                                                                                                     : nullptr;
            if (!slot || *slot)
                return bad("state key " + describe_scalar(kv[i]),
                           "the state holds each of max_depth, node_count, nodes and values once, and nothing else");
            *slot = kv[i + 1];
        }
        if (!max_depth_v || !node_count_v || !nodes_v || !values_v)
            return bad("state", "it lacks one of max_depth, node_count, nodes, values");
        const std::optional<std::int64_t> max_depth = int_of(*max_depth_v), node_count = int_of(*node_count_v);
        if (!node_count || *node_count < 1)
            return bad("node_count " + describe_scalar(*node_count_v),
                       "a fitted tree has at least its root; apply() reads node 0 whatever node_count says");
        if (!max_depth || *max_depth < 0) return bad("max_depth " + describe_scalar(*max_depth_v), "it must be a non-negative int");
        // The arrays' contents are read here, at the Tree's BUILD: a call
        // they were handed to before it could have changed them.
        for (value_ref arr : {*nodes_v, *values_v})
            if (handed_to_call_.count(arr.index()))
                return bad("the array " + describe(arr), "it was handed to a call before this BUILD, which may have changed its contents");
        array_reading nr = read_array(*nodes_v);
        if (!nr.view) return bad("nodes " + describe(*nodes_v), nr.why);
        const array_view& nodes = *nr.view;
        bool layout = nodes.shape.size() == 1 && nodes.dtype.itemsize == kTreeNodeSize &&
                      nodes.dtype.field_list.size() == std::size(kTreeNodeFields) && !nodes.dtype.subarray;
        for (std::size_t i = 0; layout && i < std::size(kTreeNodeFields); ++i) {
            const field_facts& f = nodes.dtype.field_list[i];
            const tree_node_field& want = kTreeNodeFields[i];
            layout = f.name == want.name && f.kind == want.kind && f.offset == want.offset && f.itemsize == 8 &&
                     f.byteorder == nodes.dtype.field_list[0].byteorder && ordered(f.byteorder);
        }
        if (!layout)
            return bad("nodes",
                       "sklearn 1.2.1 on a 64-bit machine writes a 1-d array of its Node struct: 56 bytes of left_child, "
                       "right_child, feature (int64), threshold, impurity (float64), n_node_samples (int64), "
                       "weighted_n_node_samples (float64) at offsets 0, 8, ... 48, one byte order");
        if (nodes.shape[0] != *node_count)
            return bad("node_count " + std::to_string(*node_count),
                       "the nodes array holds " + std::to_string(nodes.shape[0]) + " nodes; sklearn writes node_count "
                       "of them, and _get_node_ndarray and compute_feature_importances read node_count nodes");
        array_reading vr = read_array(*values_v);
        if (!vr.view) return bad("values " + describe(*values_v), vr.why);
        const array_view& values = *vr.view;
        if (values.shape != std::vector<std::int64_t>{*node_count, *n_outputs, max_n_classes} || values.dtype.kind != 'f' ||
            values.dtype.itemsize != 8 || values.dtype.fields || values.dtype.subarray || !ordered(values.dtype.byteorder))
            return bad("values", "sklearn writes a float64 array of shape (node_count, n_outputs, max(n_classes)) = (" +
                                     std::to_string(*node_count) + ", " + std::to_string(*n_outputs) + ", " +
                                     std::to_string(max_n_classes) + ")");
        // Every node but the root is the child of exactly one split node
        // before it (sklearn's builders add children after their parent):
        // no index past node_count, no cycle, each node's depth known when
        // it is reached. One allocation: node_count is bounded by the
        // stream's bytes (56 each).
        constexpr std::uint32_t kUnreached = UINT32_MAX;
        std::vector<std::uint32_t> depth(static_cast<std::size_t>(*node_count), kUnreached);
        depth[0] = 0;
        std::uint32_t deepest = 0;
        const char order = nodes.dtype.field_list[0].byteorder;
        for (std::int64_t i = 0; i < *node_count; ++i) {
            const std::string where = "node " + std::to_string(i);
            if (depth[static_cast<std::size_t>(i)] == kUnreached)
                return bad(where, "no split node before it names it as a child: sklearn's builders add every node but "
                                  "the root as a child of one node before it");
            const std::uint64_t at = static_cast<std::uint64_t>(i) * kTreeNodeSize;
            const std::int64_t left = load_int(nodes.data, at, 8, order), right = load_int(nodes.data, at + 8, 8, order);
            const std::int64_t feature = load_int(nodes.data, at + 16, 8, order);
            if (left == -1 && right == -1) continue;  // a leaf (TREE_LEAF); its feature is never read
            for (std::int64_t child : {left, right}) {
                if (child <= i || child >= *node_count)
                    return bad(where + "'s child " + std::to_string(child) + " (of " + std::to_string(left) + ", " +
                                   std::to_string(right) + ")",
                               "a split node's two children come after it and below node_count = " +
                                   std::to_string(*node_count) + ", and a leaf has -1 (TREE_LEAF) for both: apply() "
                                   "follows right_child whenever left_child is not -1, with no bounds check (past "
                                   "node_count or at -1 it reads outside the node array; at or before its parent it "
                                   "makes a cycle, and apply() loops forever)");
                if (depth[static_cast<std::size_t>(child)] != kUnreached)
                    return bad(where + "'s child " + std::to_string(child),
                               "another split node names the same child: sklearn writes a tree, each node the child of one");
                depth[static_cast<std::size_t>(child)] = depth[static_cast<std::size_t>(i)] + 1;
                deepest = std::max(deepest, depth[static_cast<std::size_t>(child)]);
            }
            if (feature < 0 || feature >= *n_features)
                return bad(where + "'s feature " + std::to_string(feature),
                           "a split node's feature is a column of X below n_features = " + std::to_string(*n_features) +
                               ": apply() reads that column of each sample, and compute_feature_importances() adds into "
                               "slot `feature` of n_features, with no bounds check");
        }
        if (*max_depth != static_cast<std::int64_t>(deepest))
            return bad("max_depth " + std::to_string(*max_depth),
                       "sklearn writes the depth of the deepest node, here " + std::to_string(deepest) +
                           ": decision_path() allocates n_samples x (1 + max_depth) slots and writes each sample's "
                           "path into them, so a tree deeper than max_depth writes past them");
    }

    // "scipy-sparse": BUILD of the __dict__ of scipy 1.10.1's csr, csc and
    // coo matrices and arrays (NEWOBJ, no __setstate__). __init__ runs
    // check_format; unpickling does not, and the first ordinary use
    // (toarray, dot, a scikit-learn predict) hands indptr, indices, row and
    // col to native sparsetools, which indexes memory with them unchecked
    // (a csr_matrix whose indptr points past its indices segfaults in
    // toarray). The checker accepts what check_format(full_check=True)
    // accepts of a pruned matrix, read from the arrays' elements.
    struct sparse_layout {
        std::string_view name;  // the class, without the _matrix / _array suffix
        bool compressed;        // csr/csc: indptr + indices; coo: row + col
        bool rows_major;        // csr: indptr over rows; csc: over columns
    };
    void check_sparse_state(const event& e, value_ref made, const allow_entry& entry) {
        auto bad = [&](const std::string& what, const std::string& why) { native_state_finding(e, entry, what, why); };
        static constexpr sparse_layout kLayouts[] = {{"csr", true, true}, {"csc", true, false}, {"coo", false, true}};
        const sparse_layout* layout = nullptr;
        for (const sparse_layout& l : kLayouts)
            if (entry.name == std::string(l.name) + "_matrix" || entry.name == std::string(l.name) + "_array") layout = &l;
        if (!layout)
            return bad("state", "the scipy-sparse checker reads csr, csc and coo matrices and arrays, not " + entry.name);
        if (++builds_seen_[made.index()] > 1) return bad("a second state", "scipy writes one per matrix, and this checker reads only the first");
        value_ref state = e.operand;
        if (g_.kind(state) != value_kind::dict || !unchanged_since_build(state))
            return bad("state " + describe(state), "a sparse matrix pickles its __dict__: a dict, not changed after the BUILD");
        std::optional<value_ref> shape_v, data_v, a_v, b_v, sorted_v, canonical_v;
        const std::string_view a_key = layout->compressed ? "indptr" : "row", b_key = layout->compressed ? "indices" : "col";
        auto kv = g_.items(state);
        for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
            std::string_view key = g_.kind(kv[i]) == value_kind::str ? g_.text(kv[i]) : std::string_view{};
            std::optional<value_ref>* slot = nullptr;
            if (key == "_shape") slot = &shape_v;
            else if (key == "data") slot = &data_v;
            else if (key == a_key) slot = &a_v;
            else if (key == b_key) slot = &b_v;
            else if (layout->compressed && key == "_has_sorted_indices") slot = &sorted_v;
            else if (key == (layout->compressed ? "_has_canonical_format" : "has_canonical_format")) slot = &canonical_v;
            if (key == "maxprint" && g_.kind(kv[i + 1]) == value_kind::integer) continue;
            if (!slot || *slot)
                return bad("state key " + describe_scalar(kv[i]),
                           "the state holds _shape, maxprint, data, " + std::string(a_key) + ", " + std::string(b_key) +
                               " and the format flags once each, and nothing else");
            *slot = kv[i + 1];
        }
        if (!shape_v || !data_v || !a_v || !b_v)
            return bad("state", "it lacks one of _shape, data, " + std::string(a_key) + ", " + std::string(b_key));
        std::optional<bool> sorted, canonical;
        for (auto [flag, out] : {std::pair{sorted_v, &sorted}, std::pair{canonical_v, &canonical}}) {
            if (!flag) continue;
            if (g_.kind(*flag) != value_kind::boolean) return bad("a format flag " + describe(*flag), "it must be a bool");
            *out = g_.as_bool(*flag);
        }
        // _shape: (M, N), non-negative ints (check_shape writes Python ints)
        if (g_.kind(*shape_v) != value_kind::tuple || g_.items(*shape_v).size() != 2)
            return bad("_shape " + describe(*shape_v), "a sparse matrix's _shape is a tuple of two ints");
        std::int64_t dims[2];
        for (int d = 0; d < 2; ++d) {
            value_ref dim = g_.items(*shape_v)[static_cast<std::size_t>(d)];
            if (g_.kind(dim) != value_kind::integer || g_.as_int(dim) < 0 || g_.as_int(dim) > INT64_MAX / 2)
                return bad("_shape item " + describe_scalar(dim), "each dimension is a non-negative int");
            dims[d] = g_.as_int(dim);
        }
        for (value_ref arr : {*data_v, *a_v, *b_v})
            if (handed_to_call_.count(arr.index()))
                return bad("the array " + describe(arr), "it was handed to a call before this BUILD, which may have changed its contents");
        array_reading ar = read_array(*a_v), br = read_array(*b_v), dr = read_array(*data_v);
        if (!ar.view) return bad(std::string(a_key) + " " + describe(*a_v), ar.why);
        if (!br.view) return bad(std::string(b_key) + " " + describe(*b_v), br.why);
        if (!dr.view) return bad("data " + describe(*data_v), dr.why);
        const array_view &a = *ar.view, &b = *br.view, &data = *dr.view;
        // sparsetools is compiled for int32 and int64 indices, one type for both arrays.
        auto index_array = [&](const array_view& v) {
            return v.shape.size() == 1 && v.dtype.kind == 'i' && !v.dtype.fields && !v.dtype.subarray &&
                   (v.dtype.itemsize == 4 || v.dtype.itemsize == 8) && ordered(v.dtype.byteorder);
        };
        if (!index_array(a) || !index_array(b) || a.dtype.itemsize != b.dtype.itemsize || a.dtype.byteorder != b.dtype.byteorder)
            return bad(std::string(a_key) + " and " + std::string(b_key),
                       "they are 1-d arrays of one index type, int32 or int64, as scipy's get_index_dtype makes them");
        // data: one number per stored entry (sparsetools' types: bool, ints, floats, complex)
        const char dk = data.dtype.kind;
        if (data.shape.size() != 1 || data.dtype.fields || data.dtype.subarray ||
            (dk != 'b' && dk != 'i' && dk != 'u' && dk != 'f' && dk != 'c'))
            return bad("data", "it is a 1-d array of bools or numbers, one per stored entry");
        const std::int64_t nnz = b.shape[0];
        if (data.shape[0] != nnz)
            return bad("data", "it holds " + std::to_string(data.shape[0]) + " entries, not len(" + std::string(b_key) +
                                   ") = " + std::to_string(nnz) + " (check_format: indices and data have the same size)");
        const std::uint64_t w = a.dtype.itemsize;
        const char order = a.dtype.byteorder;
        auto at = [&](const array_view& v, std::int64_t k) {
            return load_int(v.data, static_cast<std::uint64_t>(k) * w, w, order);
        };
        if (layout->compressed) {
            const std::int64_t major = layout->rows_major ? dims[0] : dims[1], minor = layout->rows_major ? dims[1] : dims[0];
            if (a.shape[0] != major + 1)
                return bad("indptr", "it holds " + std::to_string(a.shape[0]) + " offsets, not " +
                                         std::string(layout->rows_major ? "rows" : "columns") + " + 1 = " +
                                         std::to_string(major + 1) + " (sparsetools reads indptr[i + 1] for each)");
            if (at(a, 0) != 0) return bad("indptr[0] " + std::to_string(at(a, 0)), "the first offset is 0");
            if (at(a, major) != nnz)
                return bad("indptr[-1] " + std::to_string(at(a, major)),
                           "the last offset is the number of stored entries, len(indices) = " + std::to_string(nnz) +
                               ": sparsetools reads indices and data up to it");
            for (std::int64_t i = 0; i < major; ++i) {
                const std::int64_t lo = at(a, i), hi = at(a, i + 1);
                if (hi < lo)
                    return bad("indptr[" + std::to_string(i + 1) + "] " + std::to_string(hi),
                               "offsets never decrease (indptr[" + std::to_string(i) + "] is " + std::to_string(lo) +
                                   "): sparsetools would read indices outside the row");
                std::int64_t prev = -1;
                for (std::int64_t jj = lo; jj < hi; ++jj) {
                    const std::int64_t j = at(b, jj);
                    if (j < 0 || j >= minor)
                        return bad("indices[" + std::to_string(jj) + "] " + std::to_string(j),
                                   "an index lies in [0, " + std::to_string(minor) + "): sparsetools writes out[i * N + "
                                   "indices[jj]] and reads x[indices[jj]] with no bounds check");
                    if ((sorted.value_or(false) && j < prev) || (canonical.value_or(false) && j <= prev))
                        return bad("indices[" + std::to_string(jj) + "] " + std::to_string(j),
                                   "the state says its indices are sorted (canonical: no duplicates) and they are not; "
                                   "sparsetools' canonical routines trust it");
                    prev = j;
                }
            }
        } else {
            if (a.shape[0] != nnz) return bad("row", "row, col and data hold one item per stored entry, as many each");
            std::int64_t prev_r = -1, prev_c = -1;
            for (std::int64_t k = 0; k < nnz; ++k) {
                const std::int64_t r = at(a, k), c = at(b, k);
                if (r < 0 || r >= dims[0] || c < 0 || c >= dims[1])
                    return bad("entry " + std::to_string(k) + " at (" + std::to_string(r) + ", " + std::to_string(c) + ")",
                               "row and col lie inside _shape (" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) +
                                   "): coo_todense writes out[row * N + col] with no bounds check");
                // scipy 1.10.1's _sum_duplicates sorts with np.lexsort((row, col)): by col, then row.
                if (canonical.value_or(false) && (c < prev_c || (c == prev_c && r <= prev_r)))
                    return bad("entry " + std::to_string(k),
                               "the state says has_canonical_format (sorted by col, then row, no duplicates, as "
                               "_sum_duplicates leaves it) and it is not");
                prev_r = r;
                prev_c = c;
            }
        }
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
            if (entry)
                charge_cost(e, gn, *entry,
                            job.depth ? "runs " : e.kind == event_kind::instantiate ? "instantiates " : "calls ",
                            job.args.via, handed_units(*entry, job.args));
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
        // __pyx_unpickle_SeedSequence(cls, checksum, state) sets a state that
        // is not None itself, with no BUILD for the checker to read: numpy
        // writes None there and the state as BUILD's.
        if (entry && entry->state == "numpy-seed-sequence" &&
            (a.unknown || (a.keywords && !g_.items(*a.keywords).empty()) ||
             (a.positional.size() > 2 && g_.kind(a.positional[2]) != value_kind::none)))
            argument_finding(e, gn, *entry, "the state argument",
                             a.positional.size() > 2 ? describe(a.positional[2]) : std::string("not a plain argument"),
                             "only None there (numpy writes the state as BUILD's, which its state checker reads: "
                             "state = \"numpy-seed-sequence\"",
                             a.via, rule::argument_not_allowed);
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
        if (a.keywords && !g_.items(*a.keywords).empty() && keyword_sensitive(entry))
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
            const std::string label = "argument " + std::to_string(rule.pos);
            const std::string at = " (args pos " + std::to_string(rule.pos);
            const std::string pinned = qualified(rule.global_module, rule.global_name);
            if (rule.pins_global() && rule.pos >= n)
                // Left out, the parameter is bound by a keyword or its default:
                // not the global the entry's reading assumed.
                argument_finding(e, gn, entry, label, "not given by position",
                                 "only the global " + pinned + " there" + at + " module, name", a.via,
                                 rule::argument_not_allowed);
            if (rule.pos >= n) continue;  // the callable's default, not the stream's (min_args requires it)
            value_ref v = a.positional[rule.pos];
            if (rule.pins_global()) {
                auto i = named_index(v);
                if (!i || named(*i).module != rule.global_module || named(*i).name != rule.global_name)
                    argument_finding(e, gn, entry, label, describe(v),
                                     "only the global " + pinned + " there" + at + " module, name", a.via,
                                     rule::argument_not_allowed);
            }
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
    // Whether a keyword argument could bind a parameter the entry bounds:
    // counts (min_args, max_args) and values (pattern, max_int) are by
    // position. A pinned global is not: it must be given by position, and a
    // keyword for the same parameter is then a TypeError.
    static bool keyword_sensitive(const allow_entry& entry) {
        return entry.min_args || entry.max_args ||
               std::any_of(entry.args.begin(), entry.args.end(),
                           [](const arg_rule& r) {
                               return !r.pattern.empty() || r.max_int.has_value() || r.array_items.has_value() || r.empty;
                           });
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

    // ---- a budget over all the calls of a pickle ----------------------------
    //
    // Each allowed call, instantiation and BUILD is bounded on its own; the
    // memo lets a pickle repeat one for a few bytes each (BINGET, BINGET,
    // REDUCE): 10,000 re._compile calls of patterns its entry allows compile
    // for seconds. Each charges its entry's cost (about a microsecond a
    // unit, default 1) to a counter shared by the streams of one load, and
    // past [limits] max_call_cost the pickle is refused, once.
    // (`verb` and `via` are only read for the finding: nothing is built per call.)
    void charge_cost(const event& e, const global_name& gn, const allow_entry& entry, const char* verb,
                     std::string_view via, std::uint64_t handed = 0) {
        if (!budget_->charge(call_cost_budget::plus(entry.call_cost(), handed), lim_.max_call_cost)) return;
        finding& f = add(rule::call_cost_exceeded, severity::medium,
                         opcode_name(e.opcode) + " " + verb + qualified(gn.module, gn.name) + std::string(via) +
                             " (cost " + std::to_string(entry.call_cost()) + (entry.cost ? "" : ", the default") +
                             (entry.origin.empty() ? std::string() : ", entry at " + entry.origin) +
                             (handed ? ", plus " + cost_text(handed) +
                                           " for what it is handed: a unit per item of each container argument, per " +
                                           std::to_string(call_cost_budget::kBytesPerUnit) +
                                           " bytes of each str or bytes argument and of each size an allocator is given"
                                     : std::string()) +
                             "), which brings the cost of the calls, instantiations and BUILDs the policy '" + p_.name() +
                             "' allows to " + cost_text(budget_->spent) +
                             " units in one load (this pickle, those after its STOP and those it hands to nested "
                             "loaders); [limits] max_call_cost allows " + std::to_string(lim_.max_call_cost) +
                             ". Each is bounded on its own, but together they would keep the loader busy for about as "
                             "many microseconds (docs/policies.md, \"A budget over all the calls of a pickle\"). If "
                             "you trust the file, raise the budget: max_call_cost in the policy's [limits] and "
                             "--limit max_call_cost=N (a scan takes the smaller of the two)",
                         &e);
        f.module = gn.module;
        f.name = gn.name;
    }
    // The size of what a call is handed (call_cost_budget::kBytesPerUnit):
    // each argument's own length, read from its node (no walk, nothing
    // built), so an argument the memo hands to many calls costs each of
    // them what that call iterates, copies or allocates.
    std::uint64_t handed_units(const allow_entry& entry, const call_args& a) const {
        std::uint64_t units = 0;
        auto one = [&](value_ref v) {
            switch (g_.kind(v)) {
                case value_kind::list:
                case value_kind::tuple:
                case value_kind::set:
                case value_kind::frozenset: units = call_cost_budget::plus(units, g_.items(v).size()); break;
                case value_kind::dict: units = call_cost_budget::plus(units, g_.items(v).size() / 2); break;
                case value_kind::str:
                case value_kind::bytes:
                case value_kind::bytearray:
                    units = call_cost_budget::plus(units, call_cost_budget::byte_units(g_.text(v).size()));
                    break;
                case value_kind::integer:
                    if (entry.max_int_arg) {  // a size: bytes(n), bytearray(n); beyond max_int_arg it is refused
                        std::int64_t x = g_.as_int(v);
                        std::uint64_t magnitude = x < 0 ? 0 - static_cast<std::uint64_t>(x) : static_cast<std::uint64_t>(x);
                        units = call_cost_budget::plus(units, call_cost_budget::byte_units(magnitude));
                    }
                    break;
                default: break;
            }
        };
        for (value_ref v : a.positional) one(v);
        if (a.keywords) {
            auto kw = g_.items(*a.keywords);
            for (std::size_t k = 1; k < kw.size(); k += 2) one(kw[k]);
        }
        return units;
    }
    static std::string cost_text(std::uint64_t n) {
        return n == UINT64_MAX ? std::string("more than 2**64") : std::to_string(n);
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
        if (build && (g_.kind(state) == value_kind::tuple || g_.kind(state) == value_kind::list))
            check_pair_state(e, state);
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
    // A __setstate__ that runs self.__dict__.update(state) (statsmodels'
    // ResultsWrapper, torch's Module) takes a sequence of pairs as well as a
    // dict: [("__setstate__", f)] stores f where the next BUILD of the same
    // object looks __setstate__ up and calls it with that BUILD's state; a
    // 2-key dict in the sequence is read as the pair of its keys. So in a
    // BUILD state that is a tuple or list, each 2-item tuple or list is a
    // (name, value) pair and each dict's keys may be names: a loader hook
    // name among them is the same finding as in dict state.
    void check_pair_state(const event& e, value_ref state) {
        for (value_ref item : g_.items(state)) {
            value_kind k = g_.kind(item);
            std::vector<value_ref> names;
            if ((k == value_kind::tuple || k == value_kind::list) && g_.items(item).size() == 2) {
                names.push_back(g_.items(item)[0]);
            } else if (k == value_kind::dict) {
                auto kv = g_.items(item);
                for (std::size_t i = 0; i + 1 < kv.size(); i += 2) names.push_back(kv[i]);
            }
            for (value_ref n : names) {
                // Only names the stream spells out: a pair whose first item
                // was made while loading is not judged here (numpy's dtype
                // states hold (dtype, shape) pairs), though a str subclass
                // made by an allowed call would work as a name (open: docs).
                if (g_.kind(n) != value_kind::str || !loader_hook_name(g_.text(n))) continue;
                add(rule::dunder_build_state, severity::critical,
                    "BUILD gives state with the pair ('" + std::string(g_.text(n)) +
                        "', ...): a __setstate__ that runs self.__dict__.update(state) sets that instance attribute "
                        "from it, which the loader looks up and calls (__setstate__ by the next BUILD of the same "
                        "object); no policy can allow this",
                    &e);
            }
        }
    }

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
        const bool called = !entry->called_state_keys.empty() || !entry->called_state_values.empty();
        if (!entry->empty_state_keys.empty() || !entry->required_state_keys.empty() ||
            !entry->forbidden_state_keys.empty() || called) {
            if (!keyed_state_readable(e, gn, *entry)) return;
            if (!entry->empty_state_keys.empty()) check_empty_state_keys(e, gn, *entry);
            if (!entry->required_state_keys.empty()) check_required_state_keys(e, gn, *entry);
            if (!entry->forbidden_state_keys.empty()) check_forbidden_state_keys(e, gn, *entry);
            if (called) check_called_state(e, gn, *entry);
        }
    }

    // The class's __setstate__ is safe only on the path where its state
    // lacks these keys (`if "k" in state:`, `state.get("k")`,
    // `state.pop("k", None)` guard the rest). __setstate__ gets the state
    // object itself, so the test is the one it runs, on the dict as it is at
    // this BUILD: a plain dict (a subclass's __contains__ or get would
    // answer for itself; a (dict, None) pair is not what the guard was read
    // with), its items as at this BUILD (keyed_state_readable), every key a
    // str (an object key's __eq__ could equal "k" under str's hash), no key
    // one of them, and the dict handed to no code before (a scanned
    // __setstate__ that got it first may have added a key the graph does
    // not show).
    void check_forbidden_state_keys(const event& e, const global_name& gn, const allow_entry& entry) {
        const std::string q = qualified(gn.module, gn.name);
        const std::string tail = " (forbidden_state_keys of the entry at " + entry.origin + ")";
        value_ref d = e.operand;
        if (g_.kind(d) != value_kind::dict) {
            refuse_state(e, gn,
                         "BUILD gives an instance of " + q + " state that is not a plain dict (" + describe(d) +
                             "): its __setstate__ tests the state for " + entry.forbidden_state_keys.front() +
                             " and the other forbidden keys, and on another object that test is not the one read "
                             "safe" + tail,
                         &entry);
            return;
        }
        if (handed_to_code_.count(d.index())) {
            refuse_state(e, gn,
                         "BUILD gives an instance of " + q + " a state dict (" + describe(d) +
                             ") that the stream handed to other code before (a call's argument or another "
                             "object's state, through the memo): that code may have added a forbidden key the "
                             "pickle does not show" + tail,
                         &entry);
            return;
        }
        auto kv = g_.items(d);
        for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
            if (g_.kind(kv[i]) != value_kind::str) {
                refuse_state(e, gn,
                             "BUILD gives an instance of " + q + " state with a key that is not a str (" +
                                 describe(kv[i]) + "): its __eq__ may answer true for a forbidden key when "
                                 "__setstate__ tests for it" + tail,
                             &entry);
                continue;
            }
            std::string_view key = g_.text(kv[i]);
            if (std::find(entry.forbidden_state_keys.begin(), entry.forbidden_state_keys.end(), key) ==
                entry.forbidden_state_keys.end())
                continue;
            refuse_state(e, gn,
                         "BUILD gives an instance of " + q + " the state key '" + std::string(key) +
                             "', on which its __setstate__ runs code that is unsafe with a pickle's values (the "
                             "generator read it unsafe and allowed the class only without this key); remove the "
                             "key, or do not load this file unless you trust whoever wrote it" + tail,
                         &entry);
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

    // ---- stored values the class calls (called_state_keys/values) ---------
    //
    // nn.Module.forward calls what BUILD's state stored (`self.conv1(x)`,
    // Sequential's `for module in self: input = module(input)`). An attacker
    // writes that state: a stored "module" could be an allowed function, a
    // class, a partial, a builtin, called after loading with the caller's
    // tensor. What such a call may find is None (calling it raises
    // TypeError) or an instance NEWOBJ made of a class whose entry sets
    // callable_instances: calling it runs only code the generator scanned,
    // and its own BUILD is judged by its own entry. Nothing else: not a
    // REDUCE result, not an instance made through copyreg or an `invokes`.
    // Empty when v is such a value, else why not.
    std::string not_callable_instance(value_ref v) const {
        if (g_.kind(v) == value_kind::none) return {};
        if (g_.kind(v) != value_kind::newobj)
            return describe(v) + " is not an instance made by NEWOBJ (it may be a function, a class, a partial or any "
                                 "value a call returned)";
        auto o = named_index(g_.items(v)[0]);
        if (!o) return describe(v) + " is an instance of a class that is not a named global";
        const global_name& c = named(*o);
        const allow_entry* ce = p_.find(c.module, c.name);
        if (!ce || !(ce->uses & uses::instantiate) || !ce->callable_instances)
            return describe(v) + " is an instance of " + qualified(c.module, c.name) +
                   ", whose entry does not set callable_instances (calling it may run code nobody scanned)";
        return {};
    }

    // The key/value items of a mapping the judge reads whole, as it ends the
    // stream (what the class reads after loading): a dict (EMPTY_DICT and
    // SETITEM(S), through the memo or not), or collections.OrderedDict() /
    // builtins.dict() called with an empty argument tuple and then given
    // only SETITEM(S) (its BUILD, APPEND(S) or ADDITEMS would be code the
    // judge does not follow). nullopt for anything else.
    std::optional<std::vector<value_ref>> mapping_items(value_ref v) const {
        if (g_.kind(v) == value_kind::dict) {
            auto kv = g_.items(v);
            return std::vector<value_ref>(kv.begin(), kv.end());
        }
        if (g_.kind(v) != value_kind::reduce) return std::nullopt;
        auto parts = g_.items(v);
        auto o = named_index(parts[0]);
        if (!o) return std::nullopt;
        const global_name& c = named(*o);
        const bool maker = (c.module == "collections" && c.name == "OrderedDict") ||
                           (c.module == "builtins" && c.name == "dict");
        if (!maker || g_.kind(parts[1]) != value_kind::tuple || !g_.items(parts[1]).empty()) return std::nullopt;
        const applied_ops* ops = g_.applied(v);
        if (!ops) return std::vector<value_ref>{};
        if (!ops->states.empty() || !ops->appended.empty() || !ops->added.empty()) return std::nullopt;
        return ops->setitems;
    }

    void check_called_state(const event& e, const global_name& gn, const allow_entry& entry) {
        const std::string q = qualified(gn.module, gn.name);
        const std::string tail = " (called_state_keys/called_state_values of the entry at " + entry.origin + ")";
        value_ref d = g_.kind(e.operand) == value_kind::tuple ? g_.items(e.operand)[0] : e.operand;
        auto kv = g_.items(d);
        auto has = [](const std::vector<std::string>& v, std::string_view k) {
            return std::find(v.begin(), v.end(), k) != v.end();
        };
        auto refuse = [&](const std::string& what) {
            refuse_state(e, gn, "BUILD gives an instance of " + q + " " + what + tail, &entry);
        };
        auto check_value = [&](value_ref v, const std::string& where) {
            std::string why = not_callable_instance(v);
            if (!why.empty())
                refuse(where + " = " + describe(v) + ", which the class calls after loading: " + why);
        };
        // Checks the items of mapping m (held under state key `table`) whose
        // key is one of called_state_keys; a key computed while loading may
        // be any of them.
        auto check_table = [&](const std::vector<value_ref>& m, const std::string& table) {
            for (std::size_t j = 0; j + 1 < m.size(); j += 2) {
                if (is_symbolic(g_.kind(m[j]))) {
                    refuse("a key computed while loading in its state item '" + table + "' (" + describe(m[j]) +
                           "), which may name a value the class calls");
                    continue;
                }
                if (g_.kind(m[j]) == value_kind::str && has(entry.called_state_keys, g_.text(m[j])))
                    check_value(m[j + 1], "the item '" + std::string(g_.text(m[j])) + "' of its state item '" + table + "'");
            }
        };
        std::vector<bool> found(entry.called_state_values.size(), false);
        for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
            if (is_symbolic(g_.kind(kv[i]))) {
                refuse("state with a key computed while loading (" + describe(kv[i]) +
                       "), which may name a value the class calls");
                continue;
            }
            if (g_.kind(kv[i]) != value_kind::str) continue;
            const std::string key(g_.text(kv[i]));
            value_ref v = kv[i + 1];
            if (has(entry.called_state_keys, key)) check_value(v, "the state item '" + key + "'");
            if (has(entry.attribute_tables, key)) {
                // Where the class's __getattr__ finds a name the instance
                // does not hold (nn.Module: _parameters, _buffers, _modules).
                auto m = mapping_items(v);
                if (!m)
                    refuse("the state item '" + key + "' = " + describe(v) +
                           ", a table its __getattr__ looks names up in, which is not a dict the judge can read "
                           "whole (EMPTY_DICT, or OrderedDict()/dict() given only SETITEM(S))");
                else
                    check_table(*m, key);
            }
            for (std::size_t c = 0; c < entry.called_state_values.size(); ++c) {
                if (entry.called_state_values[c] != key) continue;
                found[c] = true;
                if (g_.kind(v) == value_kind::list || g_.kind(v) == value_kind::tuple) {
                    for (value_ref x : g_.items(v)) check_value(x, "an item of its state item '" + key + "'");
                    continue;
                }
                auto m = mapping_items(v);
                if (!m) {
                    refuse("the state item '" + key + "' = " + describe(v) +
                           ", whose every value the class calls, which is not a list, tuple or dict the judge can "
                           "read whole");
                    continue;
                }
                for (std::size_t j = 0; j + 1 < m->size(); j += 2)
                    check_value((*m)[j + 1], "a value of its state item '" + key + "'");
            }
        }
        for (std::size_t c = 0; c < found.size(); ++c)
            if (!found[c])
                refuse("state without '" + entry.called_state_values[c] +
                       "', whose every value the class calls: the class then finds that name elsewhere (for "
                       "nn.Module, in _parameters, _buffers or _modules, which the pickle fills)");
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
    call_cost_budget own_budget_;   // when the caller shares none
    call_cost_budget* budget_;      // the cost of the allowed calls so far, shared by the streams of one load
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
