// pickleguard/limits.hpp — resource limits for decoding untrusted pickles.
//
// Every limit has a safe default and can be changed. Reaching one ends
// decoding with an error of kind `error_kind::limit` (never a crash, an
// exception or an allocation failure), and everything decoded before it is
// kept. Memory stays proportional to what the pickle really stores: a memo
// index near 2^32 costs one entry, not a 2^32-slot array as in CPython.
//
// Each limit is described once, in `limit_table` below: its name (the key
// of a policy's [limits] table and of `pickleguard ... --limit NAME=VALUE`),
// its own command-line option if it has one, the member it sets and a line
// of documentation. The policy parser, the command line, `tighter` and the
// limits table of docs/policies.md and the README all come from it
// (tests/unit/limits_test.cpp checks that every member is in it and that the
// docs match it).
//
//     pickleguard::limits l;
//     if (const pickleguard::limit_info* li = pickleguard::find_limit("max_opcodes"))
//         li->set(l, 1'000'000);
//     for (const pickleguard::limit_info& li : pickleguard::all_limits())
//         print(li.name, li.get(l), li.default_value(), li.doc);
//     pickleguard::limits both = pickleguard::tighter(cli_limits, policy_limits);
#pragma once

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pickleguard {

struct limits {
    std::uint64_t max_input_bytes = std::uint64_t{1} << 40;   // 1 TiB: mapped, not copied
    std::uint64_t max_opcodes = std::uint64_t{1} << 32;
    std::uint32_t max_stack_depth = 1u << 22;           // items on the stack at once
    std::uint32_t max_mark_depth = 100'000;             // MARKs open at once
    std::uint32_t max_nesting_depth = 100'000;          // containers inside containers
    std::uint64_t max_memo_entries = std::uint64_t{1} << 28;
    std::uint64_t max_memo_index = std::uint64_t{1} << 28;
    std::uint64_t max_container_items = std::uint64_t{1} << 30;  // items in one container
    std::uint64_t max_nodes = std::uint64_t{1} << 31;            // values created in total
    std::uint64_t max_decoded_bytes = std::uint64_t{1} << 40;    // str/bytes lengths, summed
    // CPython refuses decimal text integers longer than this (sys.int_info,
    // CVE-2020-10735); we mirror its default. Hex/octal/binary text has no
    // such rule in CPython, so it gets a separate, generous limit.
    std::uint32_t max_decimal_int_digits = 4300;
    std::uint32_t max_text_int_chars = 1u << 20;
    std::uint64_t max_json_bytes = std::uint64_t{1} << 34;       // decode output
    // CPython hash collisions among the keys of one dict or set: each key
    // counts the keys already there with the same hash() (for keys whose
    // hash does not depend on PYTHONHASHSEED: int, float, bool, None and
    // tuples/frozensets of them), which is how many probes CPython's
    // insertion makes. 300,000 multiples of 2**61-1 all hash to 0 and cost
    // 4.5e10 probes (minutes); the default is about a second's work.
    std::uint64_t max_hash_collisions = std::uint64_t{1} << 24;
    // Items a loader may draw from lazy values (range) that allowed calls
    // and __setstate__ consume, per call and in total per pickle, unless
    // the entry sets max_iter_len: set(range(10**12)) builds 10**12 items.
    std::uint64_t max_lazy_items = std::uint64_t{1} << 24;
    // The cost of the calls, instantiations and BUILDs the policy allows,
    // summed over one pickle a loader reads (with the pickles after its STOP
    // and those it hands to nested loaders): each charges its entry's `cost`
    // (default 1). A unit is about a microsecond of CPython's time
    // (tests/policy_generate/measure_call_cost.py): 10,000 calls of an
    // allowed re._compile compile for seconds, each bounded on its own.
    std::uint64_t max_call_cost = std::uint64_t{1} << 21;
};

// One limit: a member of `limits`, 32 or 64 bits wide.
struct limit_info {
    std::string_view name;    // [limits] key and `--limit NAME=VALUE`; the member's name
    std::string_view option;  // its own command-line option ("--max-opcodes"), or empty
    std::uint64_t limits::*wide = nullptr;    // exactly one of wide and narrow is set
    std::uint32_t limits::*narrow = nullptr;
    std::string_view doc;     // what it bounds, one line (docs tables and --help)

    constexpr limit_info(std::string_view n, std::string_view opt, std::uint64_t limits::*m, std::string_view d)
        : name(n), option(opt), wide(m), doc(d) {}
    constexpr limit_info(std::string_view n, std::string_view opt, std::uint32_t limits::*m, std::string_view d)
        : name(n), option(opt), narrow(m), doc(d) {}

    constexpr std::uint64_t get(const limits& l) const { return wide ? l.*wide : l.*narrow; }
    // A value wider than a 32-bit limit saturates at its largest, as a
    // policy's [limits] always has: "at most 2^40 MARKs" means "no bound
    // tighter than the type's".
    constexpr void set(limits& l, std::uint64_t v) const {
        if (wide) l.*wide = v;
        else l.*narrow = v > 0xffff'ffffu ? 0xffff'ffffu : static_cast<std::uint32_t>(v);
    }
    constexpr std::uint64_t default_value() const { return get(limits{}); }
    constexpr std::uint64_t max_value() const { return wide ? ~std::uint64_t{0} : 0xffff'ffffu; }
};

// In the order of the members of `limits`.
inline constexpr limit_info limit_table[] = {
    {"max_input_bytes", "", &limits::max_input_bytes, "input size in bytes (mapped, not copied)"},
    {"max_opcodes", "--max-opcodes", &limits::max_opcodes, "opcodes executed"},
    {"max_stack_depth", "--max-stack", &limits::max_stack_depth, "items on the stack at once"},
    {"max_mark_depth", "--max-marks", &limits::max_mark_depth, "MARKs open at once"},
    {"max_nesting_depth", "--max-depth", &limits::max_nesting_depth, "containers inside containers"},
    {"max_memo_entries", "--max-memo-entries", &limits::max_memo_entries, "memo entries"},
    {"max_memo_index", "--max-memo-index", &limits::max_memo_index, "largest memo index"},
    {"max_container_items", "", &limits::max_container_items, "items in one container"},
    {"max_nodes", "", &limits::max_nodes, "values created in total"},
    {"max_decoded_bytes", "", &limits::max_decoded_bytes, "str and bytes lengths, summed"},
    {"max_decimal_int_digits", "", &limits::max_decimal_int_digits,
     "digits of a decimal text integer (CPython's default limit, CVE-2020-10735)"},
    {"max_text_int_chars", "", &limits::max_text_int_chars, "characters of a hex, octal or binary text integer"},
    {"max_json_bytes", "--max-json-bytes", &limits::max_json_bytes, "bytes of JSON that decode writes"},
    {"max_hash_collisions", "", &limits::max_hash_collisions,
     "CPython hash collisions among the keys of one dict or set (rule hash-collisions)"},
    {"max_lazy_items", "", &limits::max_lazy_items,
     "items allowed calls draw from lazy values such as range, per call and per pickle"},
    {"max_call_cost", "", &limits::max_call_cost,
     "cost of the allowed calls, instantiations and BUILDs of a pickle, summed (entries' cost, default 1, and "
     "what each call is handed: an item of a container argument, 64 bytes of a str or bytes or of a size; rule "
     "call-cost-exceeded)"},
};

constexpr std::span<const limit_info> all_limits() { return limit_table; }
// nullptr for a name that is not a limit.
const limit_info* find_limit(std::string_view name);
// "max_input_bytes, max_opcodes, ...": every name, for error messages and help.
std::string limit_names();
// A limit's value as the docs write it: 2^N for powers of two from 1024 on,
// else decimal with thousands separators (100,000).
std::string limit_value_text(std::uint64_t v);

// The element-wise minimum: what a scan uses when both the command line and
// a policy set limits.
limits tighter(const limits& a, const limits& b);

}  // namespace pickleguard
