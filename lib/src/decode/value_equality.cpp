#include "value_equality.hpp"

#include "../common/bigint.hpp"

#include <bit>
#include <cmath>
#include <vector>

namespace pickleguard {
namespace {

std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

std::uint64_t hash_bytes(std::string_view s, std::uint64_t seed) {
    std::uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return mix(h);
}

constexpr std::uint64_t kStrSeed = 0x5157, kBytesSeed = 0xb7e5, kBigSeed = 0xb19, kNoneHash = 0x9e3779b97f4a7c15ull;
constexpr std::uint64_t kTupleSeed = 0x7091e;

}  // namespace

std::string value_equality::exact_integer_bytes(double d) {
    // d is integral with |d| >= 2^63: d = mantissa * 2^exp exactly.
    int exp = 0;
    double m = std::frexp(std::fabs(d), &exp);  // m in [0.5, 1)
    auto mantissa = static_cast<std::uint64_t>(std::ldexp(m, 53));
    exp -= 53;
    bigint::magnitude mag;
    mag.negative = d < 0;
    mag.limbs = {static_cast<std::uint32_t>(mantissa), static_cast<std::uint32_t>(mantissa >> 32)};
    for (int k = 0; k < exp; ++k) bigint::mul_add(mag, 2, 0);
    while (!mag.limbs.empty() && mag.limbs.back() == 0) mag.limbs.pop_back();
    return bigint::to_twos_complement(mag);
}

value_equality::number value_equality::as_number(value_ref v) const {
    number n;
    if (v.is_small_int()) {
        n.kind = number::small;
        n.i = v.small_value();
        return n;
    }
    const node& x = g_.nodes[v.index()];
    switch (x.kind) {
        case value_kind::boolean:
        case value_kind::integer:
            n.kind = number::small;
            n.i = x.i;
            break;
        case value_kind::big_integer:
            n.kind = number::big;
            n.bytes = {x.p, static_cast<std::size_t>(x.len)};
            break;
        case value_kind::floating:
            n.kind = number::real;
            n.f = x.f;
            break;
        default:
            break;
    }
    return n;
}

bool value_equality::numbers_equal(const number& a, const number& b) {
    if (a.kind == number::real && b.kind == number::real) return a.f == b.f;
    if (a.kind == number::real || b.kind == number::real) {
        const number& r = a.kind == number::real ? a : b;
        const number& o = a.kind == number::real ? b : a;
        if (!std::isfinite(r.f) || r.f != std::trunc(r.f)) return false;
        if (std::fabs(r.f) < 9223372036854775808.0) return o.kind == number::small && static_cast<std::int64_t>(r.f) == o.i;
        if (o.kind != number::big) return false;
        scratch_a_ = exact_integer_bytes(r.f);
        return scratch_a_ == o.bytes;
    }
    if (a.kind != b.kind) return false;  // a big int never fits int64: minimal form
    return a.kind == number::small ? a.i == b.i : a.bytes == b.bytes;
}

std::uint64_t value_equality::hash_number(const number& n) {
    switch (n.kind) {
        case number::small: return mix(static_cast<std::uint64_t>(n.i));
        case number::big: return hash_bytes(n.bytes, kBigSeed);
        case number::real:
            if (std::isfinite(n.f) && n.f == std::trunc(n.f)) {
                if (std::fabs(n.f) < 9223372036854775808.0) return mix(static_cast<std::uint64_t>(static_cast<std::int64_t>(n.f)));
                return hash_bytes(exact_integer_bytes(n.f), kBigSeed);
            }
            return mix(std::bit_cast<std::uint64_t>(n.f == 0 ? 0.0 : n.f));
        default: return 0;
    }
}

std::uint64_t value_equality::hash_one(value_ref v) {
    number n = as_number(v);
    if (n.kind != number::none) return hash_number(n);
    const node& x = g_.nodes[v.index()];
    switch (x.kind) {
        case value_kind::none: return kNoneHash;
        case value_kind::str: return hash_bytes({x.p, static_cast<std::size_t>(x.len)}, kStrSeed);
        case value_kind::bytes: return hash_bytes({x.p, static_cast<std::size_t>(x.len)}, kBytesSeed);
        default: return mix(0x1d0000000000ull + v.index());  // identity
    }
}

namespace {
bool is_hashed_container(value_kind k) { return k == value_kind::tuple || k == value_kind::frozenset; }
}  // namespace

std::uint64_t value_equality::hash(value_ref v) {
    if (v.is_small_int() || !is_hashed_container(g_.nodes[v.index()].kind)) return hash_one(v);
    // Tuples combine item hashes in order, frozensets in any order; nested
    // ones are walked with an explicit stack (nesting follows the input) and
    // each one's hash is cached in the node.
    struct frame {
        value_ref t;
        std::size_t next;
        std::uint64_t h;
    };
    auto combine = [&](frame& f, std::uint64_t child) {
        if (g_.nodes[f.t.index()].kind == value_kind::frozenset) f.h += mix(child);  // order-free
        else f.h = mix(f.h ^ child);
        ++f.next;
    };
    std::vector<frame> stack{{v, 0, kTupleSeed}};
    std::uint64_t result = 0;
    while (!stack.empty()) {
        frame& f = stack.back();
        node& tn = g_.nodes[f.t.index()];
        if (tn.flags & node_flag::hash_cached) {
            result = tn.len;
            stack.pop_back();
            if (!stack.empty()) combine(stack.back(), result);
            continue;
        }
        const auto& items = g_.containers[tn.aux].items;
        if (f.next == items.size()) {
            result = tn.kind == value_kind::frozenset ? mix(f.h ^ 0xf502e7) : f.h;
            tn.len = result;
            tn.flags |= node_flag::hash_cached;
            stack.pop_back();
            if (!stack.empty()) combine(stack.back(), result);
            continue;
        }
        value_ref item = items[f.next];
        if (!item.is_small_int() && is_hashed_container(g_.nodes[item.index()].kind)) {
            stack.push_back({item, 0, kTupleSeed});
        } else {
            combine(f, hash_one(item));
        }
    }
    return result;
}

bool value_equality::equal(value_ref a, value_ref b) {
    // The common cases without the stack: the same value, two small ints, two strings.
    if (a == b) return true;
    if (a.is_small_int() && b.is_small_int()) return false;
    if (!a.is_small_int() && !b.is_small_int()) {
        const node& p = g_.nodes[a.index()];
        const node& q = g_.nodes[b.index()];
        if (p.kind == q.kind && (p.kind == value_kind::str || p.kind == value_kind::bytes))
            return std::string_view(p.p, p.len) == std::string_view(q.p, q.len);
    }
    std::vector<std::pair<value_ref, value_ref>> todo{{a, b}};
    while (!todo.empty()) {
        auto [x, y] = todo.back();
        todo.pop_back();
        if (x == y) continue;  // identity first, as CPython's dict lookup does
        number nx = as_number(x), ny = as_number(y);
        if (nx.kind != number::none || ny.kind != number::none) {
            if (nx.kind == number::none || ny.kind == number::none || !numbers_equal(nx, ny)) return false;
            continue;
        }
        const node& p = g_.nodes[x.index()];
        const node& q = g_.nodes[y.index()];
        if (p.kind != q.kind) return false;
        switch (p.kind) {
            case value_kind::str:
            case value_kind::bytes:
                if (std::string_view(p.p, p.len) != std::string_view(q.p, q.len)) return false;
                break;
            case value_kind::tuple: {
                const auto& pi = g_.containers[p.aux].items;
                const auto& qi = g_.containers[q.aux].items;
                if (pi.size() != qi.size()) return false;
                for (std::size_t k = 0; k < pi.size(); ++k) todo.emplace_back(pi[k], qi[k]);
                break;
            }
            case value_kind::frozenset: {
                // Equal sets: same size, every item of one equal to an item of
                // the other. Nested frozensets recurse, so the depth is capped;
                // past it they count as different (display only: the policy
                // never depends on this).
                const auto& pi = g_.containers[p.aux].items;
                const auto& qi = g_.containers[q.aux].items;
                if (pi.size() != qi.size() || hash(x) != hash(y)) return false;
                if (depth_ >= 16) return false;
                ++depth_;
                bool all = true;
                for (value_ref e : pi) {
                    bool any = false;
                    for (value_ref f : qi)
                        if (hash(e) == hash(f) && equal(e, f)) { any = true; break; }
                    if (!any) { all = false; break; }
                }
                --depth_;
                if (!all) return false;
                break;
            }
            default:
                return false;  // identity only, and they are not identical
        }
    }
    return true;
}

}  // namespace pickleguard
