// pickleguard/policy.hpp — allow-list policies and the knowledge base.
//
// A policy names every global a pickle may use and what it may do with it.
// It is a TOML file:
//
//     name = "numpy"
//     description = "numpy arrays, dtypes and scalars"
//     include = ["python"]
//
//     [[allow]]
//     module = "numpy.core.multiarray"
//     name = "_reconstruct"
//     uses = ["call", "build"]
//
// `module`/`name` are matched exactly against the name CPython's find_class
// resolves (after fix_imports; a dotted name whole). `module_pattern` and
// `name_pattern` are RE2 expressions matched against the whole module and the
// whole name; a pattern never matches a dotted name, which must be listed
// itself, so allowing all of `numpy` can never allow numpy + "os.system".
//
// Uses: "reference" (the global itself is a value the loader hands on: an
// argument, an item, state, or the result), "call" (REDUCE, INST, OBJ), "new"
// (NEWOBJ, NEWOBJ_EX), and for objects made from the global: "build" (BUILD),
// "build-dict" (BUILD with dict state only: a plain dict or (dict, None),
// never slot state; "build" implies it), "append" (APPEND(S)), "setitem"
// (SETITEM(S)), "additems" (ADDITEMS). Each
// is explicit: an entry that allows only "call" does not allow the bare value,
// which an allowed callable could call with arguments nobody checks. An
// entry without `uses` allows "reference" only.
//
// What an allowed call may consume (see docs/policies.md, "The cost of
// allowed calls"): max_int_arg, max_int_bytes, str_arg_pattern and
// max_iter_len bound its arguments, and `invokes` says which argument it
// calls or instantiates itself, with which of its other arguments:
//
//     [[allow]]
//     module = "torch._tensor"
//     name = "_rebuild_from_type_v2"
//     uses = ["call"]
//     invokes = [{ arg = 0, use = "call", star_args = 2 }]   # func(*args)
//     state_arg = 3                                          # setattr per key
//
// Bounds that name an argument by its position, for callables whose cost
// depends on which argument a value is (a codec name, an array shape):
// min_args/max_args bound how many positional arguments the call is given,
// and each item of `args` constrains the argument at `pos`, when given:
// `pattern` (RE2, whole text) requires a str or bytes constant matching it,
// `max_int` bounds every integer in it, the argument itself or any item of
// tuples and lists within it (either sign), `array_items` requires, unless
// the argument is a str or bytes constant, an ndarray the judge read whole
// (built in the stream, its one BUILD judged before the call) holding
// exactly that many items, `empty = true` an empty container nothing in the
// stream fills, and `module` with `name` requires that named global itself
// (and the argument to be given). With min_args, max_args, a pattern, a
// max_int, array_items or empty, keyword arguments are refused (which
// parameter a keyword binds is the callee's code); with any of them,
// arguments computed while loading are:
//
//     [[allow]]
//     module = "_codecs"
//     name = "encode"
//     uses = ["call"]
//     max_args = 2
//     args = [{ pos = 1, pattern = "latin1|latin-1" }]  # not 'punycode' (quadratic)
//
//     [[allow]]
//     module = "numpy.core.multiarray"
//     name = "_reconstruct"
//     uses = ["call", "build"]
//     min_args = 3
//     max_args = 3
//     args = [{ pos = 1, max_int = 0 }]  # shape (0,): not (2**31,)
//
//     [[allow]]
//     module = "numpy.core.multiarray"
//     name = "scalar"
//     uses = ["call"]
//     min_args = 2
//     args = [{ pos = 1, array_items = 1 }]  # one item to read, not a zero-size array
//
//     [[allow]]                           # functools.partial(Symbol.__new__, Symbol, 'x', **assumptions)()
//     module = "sympy.core.symbol"        # at protocol 2: the NEWOBJ_EX it stands for, only of Symbol
//     name = "Symbol.__new__"
//     uses = ["call"]
//     invokes = [{ arg = 0, use = "new" }]
//     args = [{ pos = 0, module = "sympy.core.symbol", name = "Symbol" }]
//
//     auto p = pickleguard::load_shipped_policy("default");
//     auto q = pickleguard::load_policy_file("team.toml");
#pragma once

#include "pickleguard/error.hpp"
#include "pickleguard/limits.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard {

namespace uses {
inline constexpr std::uint8_t reference = 64;  // explicit: see above
inline constexpr std::uint8_t call = 1;
inline constexpr std::uint8_t instantiate = 2;  // "new"
inline constexpr std::uint8_t build = 4;
inline constexpr std::uint8_t append = 8;
inline constexpr std::uint8_t setitem = 16;
inline constexpr std::uint8_t additems = 32;
// BUILD with dict state only: a plain dict, or (dict, None). load_build
// (with no __setstate__) writes dict state straight into the instance
// __dict__ (no setattr, no __setattr__, no property setter); slot state,
// the second item, is applied with setattr, which runs them. "build"
// implies it. A class whose setters are unsafe to run with the pickle's
// values (scipy's sparse matrices: the shape setter reaches native code
// with the pickle's indptr) can still be built from dict state.
inline constexpr std::uint8_t build_dict = 128;
}  // namespace uses

// The word a policy and a report spell each use with, in the order reports
// list them ("reference" last). This is the one list: the policy parser, the
// report writers, `policy infer`/`generate`, the Python package
// (`_pickleguard.report_schema["uses"]`) and the wire seeds read it.
struct use_word {
    std::uint8_t bit;
    std::string_view word;
};
inline constexpr std::array<use_word, 8> use_words{{
    {uses::call, "call"},
    {uses::instantiate, "new"},
    {uses::build, "build"},
    {uses::build_dict, "build-dict"},
    {uses::append, "append"},
    {uses::setitem, "setitem"},
    {uses::additems, "additems"},
    {uses::reference, "reference"},
}};

namespace detail {
constexpr bool use_words_cover_each_bit_once() {
    std::uint8_t all = 0;
    for (const use_word& u : use_words) {
        if (u.bit == 0 || (u.bit & (u.bit - 1)) != 0 || (all & u.bit)) return false;
        all |= u.bit;
        for (const use_word& v : use_words)
            if (&u != &v && u.word == v.word) return false;
    }
    return all == (uses::call | uses::instantiate | uses::build | uses::build_dict | uses::append | uses::setitem |
                   uses::additems | uses::reference);
}
}  // namespace detail
static_assert(detail::use_words_cover_each_bit_once(), "use_words: one distinct word for each bit of pickleguard::uses");

// The bit `word` names; 0 for a word that is not a use.
constexpr std::uint8_t use_bit(std::string_view word) noexcept {
    for (const use_word& u : use_words)
        if (u.word == word) return u.bit;
    return 0;
}

// "call, build" for a set of use bits ("reference" for none).
std::string describe_uses(std::uint8_t bits);

// One argument an allowed callable calls or instantiates itself, and what it
// passes: torch's _rebuild_from_type_v2(func, type, args, state) returns
// func(*args) = { arg 0, call, star_args 2 }; pandas' _new_Index(cls, d)
// returns cls.__new__(cls, **d) = { arg 0, new, star_kwargs 1 }; numpy's
// __generator_ctor(name, ctor) calls ctor(name) = { arg 1, call, pass_arg 0 }.
struct invoked_arg {
    std::size_t arg = 0;
    std::uint8_t use = uses::call;  // uses::call or uses::instantiate
    std::optional<std::size_t> pass_arg;     // that argument, as the only positional one
    std::optional<std::size_t> star_args;    // the items of that tuple argument, as positional ones
    std::optional<std::size_t> star_kwargs;  // the items of that dict argument, as keywords
    std::optional<std::size_t> rest_args;    // the arguments from that position on, as positional ones
};

// A bound on the argument at one position (see the header comment).
struct arg_rule {
    std::size_t pos = 0;
    std::string pattern;                 // empty: not checked; else a str or bytes constant matching it
    std::optional<std::uint64_t> max_int;  // every integer in the argument, nested in tuples and lists
    // Unless a str or bytes constant, the argument must be an ndarray the
    // judge read whole (_reconstruct of numpy.ndarray, its one BUILD judged
    // by "numpy-ndarray" before the call) of exactly this many items:
    // numpy's scalar(structured object dtype, arr) reads one item from arr's
    // buffer without checking its size (a zero-size array is read past).
    std::optional<std::uint64_t> array_items;
    // The argument must be an empty container nothing in the stream fills
    // (EMPTY_DICT, or OrderedDict()/dict() with no arguments): torch's
    // _rebuild_parameter stores its backward_hooks argument as the
    // parameter's hooks, which backward() calls with the gradient.
    bool empty = false;
    // Non-empty: the argument must be this named global itself, given by
    // position (`C.__new__(C, ...)`: the class whose __new__ reading holds).
    std::string global_module, global_name;
    bool pins_global() const { return !global_name.empty(); }
    bool operator==(const arg_rule&) const = default;
};

struct allow_entry {
    std::string module, name;        // exact, or RE2 patterns when the flags say so
    bool module_is_pattern = false;
    bool name_is_pattern = false;
    std::uint8_t uses = 0;
    // Arguments of calls and instantiations (positional, top level): an
    // integer must be within max_int_arg (either sign), a str must match
    // str_arg_pattern (RE2, whole string); with either set, an argument
    // computed while loading is refused. bytes(n) makes the loader allocate
    // n bytes; Fraction('1e999999999') compute 10**999999999.
    std::optional<std::uint64_t> max_int_arg;
    std::string str_arg_pattern;  // empty: str arguments are not checked
    // Integer arguments of more than this many bytes (two's complement) are
    // refused: Fraction(a, b) runs a gcd quadratic in their size.
    std::optional<std::uint64_t> max_int_bytes;
    // Iterable arguments (and their items, for constructors that iterate
    // pairs) longer than this are refused: set(range(10**12)) is 10**12
    // steps. Without it, lazy values (range) are bounded by
    // limits::max_lazy_items.
    std::optional<std::uint64_t> max_iter_len;
    // How many positional arguments a call may have, and bounds on the
    // argument at a position; with any of them, keyword arguments and
    // computed arguments are refused.
    std::optional<std::size_t> min_args, max_args;
    std::vector<arg_rule> args;
    bool has_position_bounds() const { return min_args || max_args || !args.empty(); }
    // What each call, instantiation and BUILD of what it makes costs the
    // loader, in units of about a microsecond (docs/policies.md, "A budget
    // over all the calls of a pickle"); without it, 1. The judge sums them
    // over a pickle and refuses more than [limits] max_call_cost: a bound
    // on each call is not a bound on ten thousand of them.
    std::optional<std::uint64_t> cost;
    std::uint64_t call_cost() const { return cost.value_or(1); }
    std::vector<invoked_arg> invokes;
    // An argument the callable applies as instance state, key by key with
    // setattr (as BUILD does): judged like BUILD state.
    std::optional<std::size_t> state_arg;
    // The checker of the BUILD state applied to what this entry makes (its
    // calls' results, its instances), by name (state_checkers): a state
    // native code reads unchecked (numpy's ndarray.__setstate__ trusts an
    // object item list to be as long as the shape) is judged by the code
    // that knows its layout; a state it cannot read is a finding.
    std::string state;
    // Keys of BUILD's state that, when present, must hold an empty container
    // (EMPTY_DICT, or OrderedDict()/dict() called without arguments) that
    // nothing in the stream fills, before or after the BUILD: torch's
    // nn.Module keeps its hooks there (_forward_hooks), which forward() calls.
    std::vector<std::string> empty_state_keys;
    // Keys BUILD's dict state must set: where an absent key would be looked
    // up elsewhere (nn.Module.__getattr__ finds a missing _forward_hooks in
    // _modules, which the pickle fills), "empty if present" is not enough.
    std::vector<std::string> required_state_keys;
    // Keys BUILD's state may not have: the class's __setstate__ runs code
    // unsafe for a pickle's values only on a branch guarded by the key
    // (`if "restore_design_info" in d:` hands statsmodels' formula to patsy,
    // which evaluates it). The state must be a plain dict the judge reads
    // whole, with str keys only, as it is at that BUILD, handed to no code
    // before it (docs/policies.md, "forbidden_state_keys").
    std::vector<std::string> forbidden_state_keys;
    // Stored values the class calls after loading (nn.Module.forward's
    // `self.conv1(x)`, Sequential's loop over `self._modules.values()`):
    // each value BUILD's dict state can make `self.NAME` find (its own item
    // NAME, or item NAME of a dict under one of attribute_tables, where a
    // __getattr__ looks), and each value of the container under a key of
    // called_state_values (which must be set), must be None or an instance
    // NEWOBJ made of a class whose entry sets callable_instances. State the
    // judge cannot read whole is refused.
    std::vector<std::string> called_state_keys;
    std::vector<std::string> called_state_values;
    std::vector<std::string> attribute_tables;
    // Calling an instance of this class after loading runs only code the
    // generator scanned, under this entry's own state constraints: such an
    // instance may be stored where called_state_keys/values are.
    bool callable_instances = false;
    std::string note;
    std::string origin;              // "policies/numpy.toml:12"
};

// BUILD state checkers an entry's `state` may name (the judge has one each):
//   "numpy-dtype":        dtype.__setstate__: (3, byteorder, None, names, fields, elsize, alignment, flags[, metadata])
//                         as numpy writes it for the type the call named, fields checked against elsize
//   "numpy-ndarray":      ndarray.__setstate__: ([1,] shape, dtype, is_fortran, data), data exactly shape x dtype
//   "numpy-masked-array": MaskedArray.__setstate__: (version, shape, dtype, is_fortran, data, mask, fill_value)
//   "numpy-subtype":      the result is an instance of argument 0 (ndarray.__new__(subtype, ...)), whose own
//                         entry's `state` names the checker: numpy's _reconstruct and _mareconstruct
//   "sklearn-tree":       sklearn.tree._tree.Tree(n_features, n_classes, n_outputs) then {max_depth, node_count,
//                         nodes, values}: the arrays' elements read (child indices, features, depth, shapes)
//   "scipy-sparse":       the __dict__ of a csr, csc or coo matrix or array: check_format(full_check=True) on
//                         the elements (indptr from 0 to nnz, never decreasing; indices, row, col in range)
//   "numpy-bit-generator": a Generator's or bit generator's state dict as numpy 1.24 writes it: bit_generator one of
//                         MT19937, PCG64, PCG64DXSM, Philox, SFC64, and that generator's keys, each in its range
//                         (MT19937 pos 0..624, Philox buffer_pos 0..4), arrays the ndarray checker read whole
//   "numpy-random-state": RandomState's: the same plus has_gauss (0/1) and gauss (a float)
//   "numpy-seed-sequence": SeedSequence's Cython state (entropy, n_children_spawned, pool, pool_size, spawn_key),
//                         pool_size 4..1024 and pool an ndarray of that many items; its helper's state argument None
//   "pandas-single-block-manager": BaseBlockManager.__setstate__ of a SingleBlockManager: one axis whose length
//                         the judge computes and one block whose 1-D values have exactly that many items
inline constexpr std::array<std::string_view, 10> state_checkers{
    "numpy-dtype",         "numpy-ndarray",       "numpy-masked-array", "numpy-subtype",
    "sklearn-tree",        "scipy-sparse",        "numpy-bit-generator", "numpy-random-state",
    "numpy-seed-sequence", "pandas-single-block-manager"};

// Persistent ids a policy accepts. Two shapes, both PyTorch's:
//   "torch-storage":        ('storage', <storage type>, key: str, location: str, numel: int)
//   "torch-storage-legacy": the same plus view metadata: None or (view_key: str, offset: int, size: int)
struct persistent_id_rule {
    std::string shape;                       // "torch-storage" or "torch-storage-legacy"
    std::vector<std::string> storage_types;  // "torch.FloatStorage", ...
};

class policy {
public:
    policy();
    ~policy();
    policy(policy&&) noexcept;
    policy& operator=(policy&&) noexcept;

    const std::string& name() const { return name_; }
    const std::string& description() const { return description_; }
    const std::vector<std::string>& includes() const { return includes_; }
    const std::vector<allow_entry>& entries() const { return entries_; }
    const std::vector<persistent_id_rule>& persistent_ids() const { return persistent_ids_; }
    const pickleguard::limits& limits() const { return limits_; }

    // The entry allowing (module, name), or nullptr. Exact entries are a hash
    // lookup; patterns are tried only when no exact entry matches.
    const allow_entry* find(std::string_view module, std::string_view name) const;

    bool allows_storage_type(std::string_view qualified) const;

    // Whether `text` matches the str_arg_pattern of `entry` (one of this
    // policy's entries); true when it has none.
    bool accepts_str_arg(const allow_entry& entry, std::string_view text) const;
    // Whether `text` matches the `pattern` of rule `rule` of `entry`'s args.
    bool accepts_arg_text(const allow_entry& entry, std::size_t rule, std::string_view text) const;

    struct impl;

private:
    friend result<policy> parse_policy(std::string_view text, const std::string& origin,
                                       const std::string& search_dir);
    std::string name_, description_;
    std::vector<std::string> includes_;
    std::vector<allow_entry> entries_;
    std::vector<persistent_id_rule> persistent_ids_;
    pickleguard::limits limits_{};
    std::unique_ptr<impl> impl_;
};

// Parses policy text; `origin` names it in errors ("file:line: what").
// Includes are resolved against the shipped policies, then `search_dir`.
result<policy> parse_policy(std::string_view text, const std::string& origin, const std::string& search_dir = "");

// A policy file when `name_or_path` is a path (is_policy_path), else the
// shipped policy of that name. A path is never taken for a shipped name.
// Includes in a file are looked for from its folder: a path as that file, a
// name as the shipped policy, else NAME.toml beside the including file.
result<policy> load_policy(const std::string& name_or_path);

// Several policies merged, in order, as if one policy included them all:
// each file is read as itself (`--policy ./numpy.toml --policy team` merges
// that numpy.toml, not the shipped numpy policy, with the shipped `team`).
result<policy> load_policies(const std::vector<std::string>& names_or_paths);

// Whether --policy / include text names a file: it has a '/' or ends in ".toml".
bool is_policy_path(std::string_view name_or_path);

// Shipped policies, compiled into the library from policies/*.toml.
std::vector<std::string> shipped_policy_names();
result<std::string> shipped_policy_text(std::string_view name);
result<policy> load_shipped_policy(std::string_view name);

// ---- the knowledge base ------------------------------------------------------

enum class severity : std::uint8_t { info, low, medium, high, critical };
const char* to_string(severity s) noexcept;
result<severity> parse_severity(std::string_view s);

struct known_global {
    std::string module, name;  // name may be a pattern
    bool name_is_pattern = false;
    pickleguard::severity severity = severity::info;
    std::string category, reason, reference;
};

// Dangerous globals and gadgets, for explaining findings. It never decides
// safety: anything outside the policy is a finding whether or not it is here.
class knowledge_base {
public:
    knowledge_base();
    ~knowledge_base();
    knowledge_base(knowledge_base&&) noexcept;
    knowledge_base& operator=(knowledge_base&&) noexcept;

    const known_global* find(std::string_view module, std::string_view name) const;
    std::size_t size() const;

    struct impl;

private:
    friend result<knowledge_base> parse_knowledge_base(std::string_view text, const std::string& origin);
    friend const knowledge_base& shipped_knowledge_base();
    std::unique_ptr<impl> impl_;
};

result<knowledge_base> parse_knowledge_base(std::string_view text, const std::string& origin);
// The shipped knowledge base (policies/knowledge/dangerous.toml), parsed once,
// on first use (thread-safe).
const knowledge_base& shipped_knowledge_base();

}  // namespace pickleguard
