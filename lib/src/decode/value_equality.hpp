// Internal: Python's == and hash() for the values a pickle can use as dict
// keys and set items, so that {1: 'a', 1.0: 'b', True: 'c'} decodes to one
// entry as it does in CPython (first key kept, last value wins).
//
// Numbers compare by value across bool, int and float (exactly, also for big
// ints against huge floats); str and bytes by content, never each other;
// tuples item by item, frozensets as sets. Everything else (symbolic nodes)
// compares by identity: we cannot run their __eq__.
#pragma once

#include "graph_storage.hpp"

#include <cstdint>
#include <cstring>
#include <optional>
#include <unordered_map>

namespace pickleguard {

class value_equality {
public:
    explicit value_equality(value_graph::storage& g) : g_(g) {}

    std::uint64_t hash(value_ref v);
    bool equal(value_ref a, value_ref b);
    // equal() with its cheapest answers inline, for dict keys and set items:
    // the same value (CPython's dict and set compare identity first), two
    // small ints, two strings.
    bool equal_keys_inline(value_ref a, value_ref b);

    // CPython's hash() of v (64-bit build, as the Py_hash_t bits), when it
    // does not depend on the process: int and bool (modulo 2**61-1, with
    // the sign; -1 becomes -2), float (_Py_HashDouble; NaN hashes by
    // address, so it has none), None (the constant of CPython 3.12+; 3.11
    // hashes it by address, which is fixed for the process, so collisions
    // among tuples holding it are the same), and tuples (tuplehash, the
    // xxHash-based one of 3.8+) and frozensets (frozenset_hash) of those.
    // str and bytes are salted (PYTHONHASHSEED), other values hash by
    // identity: nullopt. For counting the collisions CPython's dicts and
    // sets would meet, never for equality.
    std::optional<std::uint64_t> python_hash(value_ref v);
    // Small ints hash to themselves, except -1: the common key, inline.
    static bool small_int_hash_is_itself(value_ref v) {
        if (!v.is_small_int()) return false;
        std::int64_t x = v.small_value();
        return x != -1 && x < kModulus && x > -kModulus;
    }
    static constexpr std::int64_t kModulus = (std::int64_t{1} << 61) - 1;  // _PyHASH_MODULUS

private:
    struct number {
        enum { none, small, big, real } kind = none;
        std::int64_t i = 0;
        std::string_view bytes;  // big: minimal two's complement
        double f = 0;
    };
    number as_number(value_ref v) const;
    bool numbers_equal(const number& a, const number& b);
    std::uint64_t hash_number(const number& n);
    std::uint64_t hash_one(value_ref v);  // not for tuples
    // Exact integer bytes of an integral double, for comparing with big ints.
    static std::string exact_integer_bytes(double d);

    value_graph::storage& g_;
    std::string scratch_a_, scratch_b_;
    int depth_ = 0;  // nested frozenset comparisons
    // python_hash of tuples and frozensets, by node: shared (memoised)
    // items are hashed once, as CPython would hash each object once... per
    // insertion, but the walk here must not be exponential in nesting.
    std::unordered_map<std::uint32_t, std::optional<std::uint64_t>> python_hashes_;
};

inline bool value_equality::equal_keys_inline(value_ref a, value_ref b) {
    if (a == b) return true;
    if (a.is_small_int() && b.is_small_int()) return false;
    if (!a.is_small_int() && !b.is_small_int()) {
        const node& p = g_.nodes[a.index()];
        const node& q = g_.nodes[b.index()];
        if (p.kind == value_kind::str && q.kind == value_kind::str)
            return p.len == q.len && std::memcmp(p.p, q.p, p.len) == 0;
    }
    return equal(a, b);
}

}  // namespace pickleguard
