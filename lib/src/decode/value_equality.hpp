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
