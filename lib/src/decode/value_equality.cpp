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

constexpr std::uint64_t kStrSeed = 0x5157, kBytesSeed = 0xb7e5;

}  // namespace

// ---- CPython's hash() -----------------------------------------------------
//
// Written from the algorithms of Python/pyhash.c, Objects/longobject.c,
// Objects/tupleobject.c and Objects/setobject.c (CPython 3.8-3.13, 64-bit).

namespace {

constexpr std::uint64_t kPyModulus = (std::uint64_t{1} << 61) - 1;
constexpr int kPyHashBits = 61;
constexpr std::uint64_t kMinusOne = ~std::uint64_t{0};
constexpr std::uint64_t kMinusTwo = ~std::uint64_t{1};

// A hash computed as a signed residue: -1 is CPython's error value, so it becomes -2.
std::uint64_t signed_hash(bool negative, std::uint64_t residue) {
    std::uint64_t h = negative ? 0 - residue : residue;
    return h == kMinusOne ? kMinusTwo : h;
}

std::uint64_t int_hash(std::int64_t v) {
    bool negative = v < 0;
    std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
    return signed_hash(negative, magnitude % kPyModulus);
}

// |n| mod 2**61-1 of a little-endian two's complement integer, by Horner's
// rule from its most significant byte (the same residue long_hash reaches
// digit by digit).
std::uint64_t big_int_hash(std::string_view le) {
    if (le.empty()) return 0;
    const bool negative = static_cast<unsigned char>(le.back()) & 0x80;
    // The magnitude of a negative number: invert and add one, byte by byte from the low end.
    std::uint64_t residue = 0;
    if (!negative) {
        for (std::size_t k = le.size(); k-- > 0;)
            residue = static_cast<std::uint64_t>((static_cast<unsigned __int128>(residue) << 8 |
                                                  static_cast<unsigned char>(le[k])) % kPyModulus);
        return signed_hash(false, residue);
    }
    std::string magnitude(le);
    unsigned carry = 1;
    for (char& c : magnitude) {
        unsigned b = static_cast<unsigned char>(~static_cast<unsigned char>(c)) + carry;
        c = static_cast<char>(b & 0xff);
        carry = b >> 8;
    }
    for (std::size_t k = magnitude.size(); k-- > 0;)
        residue = static_cast<std::uint64_t>((static_cast<unsigned __int128>(residue) << 8 |
                                              static_cast<unsigned char>(magnitude[k])) % kPyModulus);
    return signed_hash(true, residue);
}

// _Py_HashDouble: the float's exact rational value modulo 2**61-1, so that
// an integral float hashes as the int it equals. CPython takes the mantissa
// 28 bits at a time through frexp; the value is mantissa * 2**e, and as
// 2**61 = 1 modulo 2**61-1, that residue is the 53-bit mantissa rotated by e
// within 61 bits, read here straight from the IEEE bits (the same result,
// without libm on the decoder's hot path).
std::optional<std::uint64_t> float_hash(double v) {
    const auto bits = std::bit_cast<std::uint64_t>(v);
    const bool negative = bits >> 63;
    const auto biased = static_cast<int>((bits >> 52) & 0x7ff);
    const std::uint64_t fraction = bits & ((std::uint64_t{1} << 52) - 1);
    if (biased == 0x7ff) {
        if (fraction) return std::nullopt;  // NaN hashes by object address
        return negative ? 0 - std::uint64_t{314159} : std::uint64_t{314159};
    }
    const std::uint64_t mantissa = biased ? fraction | (std::uint64_t{1} << 52) : fraction;
    if (mantissa == 0) return 0;
    const int e = biased ? biased - 1075 : -1074;
    const int r = ((e % kPyHashBits) + kPyHashBits) % kPyHashBits;
    const std::uint64_t x = r ? ((mantissa << r) & kPyModulus) | mantissa >> (kPyHashBits - r) : mantissa;
    return signed_hash(negative, x);
}

// tuplehash (3.8+): an xxHash-style accumulation of the item hashes.
constexpr std::uint64_t kXXPrime1 = 11400714785074694791ull;
constexpr std::uint64_t kXXPrime2 = 14029467366897019727ull;
constexpr std::uint64_t kXXPrime5 = 2870177450012600261ull;
std::uint64_t tuple_step(std::uint64_t acc, std::uint64_t lane) {
    acc += lane * kXXPrime2;
    acc = std::rotl(acc, 31);
    return acc * kXXPrime1;
}
std::uint64_t tuple_finish(std::uint64_t acc, std::uint64_t length) {
    acc += length ^ (kXXPrime5 ^ 3527539ull);
    return acc == kMinusOne ? 1546275796ull : acc;
}

// frozenset_hash: the XOR of the items' shuffled hashes (order-free),
// mixed with the size. Empty and dummy slots cancel out of CPython's loop.
std::uint64_t shuffle_bits(std::uint64_t h) { return ((h ^ 89869747ull) ^ (h << 16)) * 3644798167ull; }
std::uint64_t frozenset_finish(std::uint64_t acc, std::uint64_t size) {
    std::uint64_t h = acc ^ ((size + 1) * 1927868237ull);
    h ^= (h >> 11) ^ (h >> 25);
    h = h * 69069u + 907133923ull;
    return h == kMinusOne ? 590923713ull : h;
}

constexpr std::uint64_t kPyNoneHash = 0xFCA86420ull;  // CPython 3.12+ (_Py_HashPointer before)

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

// Numbers hash with CPython's own functions: equal numbers of any type
// share them by design (hash(1) == hash(1.0) == hash(True)), and keys that
// collide in CPython collide in our index too, where insert_keyed counts
// what CPython would pay (limits::max_hash_collisions).
std::uint64_t value_equality::hash_number(const number& n) {
    switch (n.kind) {
        case number::small: return int_hash(n.i);
        case number::big: return big_int_hash(n.bytes);
        case number::real:
            if (auto h = float_hash(n.f)) return *h;
            return mix(std::bit_cast<std::uint64_t>(n.f));  // NaN: equal to nothing, not even itself
        default: return 0;
    }
}

std::uint64_t value_equality::hash_one(value_ref v) {
    number n = as_number(v);
    if (n.kind != number::none) return hash_number(n);
    const node& x = g_.nodes[v.index()];
    switch (x.kind) {
        case value_kind::none: return kPyNoneHash;
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
    // CPython's tuplehash and frozenset_hash over the items' hashes (ours
    // for str and bytes, which CPython salts): for tuples and frozensets of
    // numbers and None this is CPython's hash() itself.
    auto combine = [&](frame& f, std::uint64_t child) {
        if (g_.nodes[f.t.index()].kind == value_kind::frozenset) f.h ^= shuffle_bits(child);  // order-free
        else f.h = tuple_step(f.h, child);
        ++f.next;
    };
    auto seed = [&](value_ref t) { return g_.nodes[t.index()].kind == value_kind::frozenset ? 0 : kXXPrime5; };
    std::vector<frame> stack{{v, 0, seed(v)}};
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
            result = tn.kind == value_kind::frozenset ? frozenset_finish(f.h, items.size()) : tuple_finish(f.h, items.size());
            tn.len = result;
            tn.flags |= node_flag::hash_cached;
            stack.pop_back();
            if (!stack.empty()) combine(stack.back(), result);
            continue;
        }
        value_ref item = items[f.next];
        if (!item.is_small_int() && is_hashed_container(g_.nodes[item.index()].kind)) {
            stack.push_back({item, 0, seed(item)});
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

std::optional<std::uint64_t> value_equality::python_hash(value_ref root) {
    auto scalar = [&](value_ref v, bool& container) -> std::optional<std::uint64_t> {
        container = false;
        if (v.is_small_int()) return int_hash(v.small_value());
        const node& x = g_.nodes[v.index()];
        switch (x.kind) {
            case value_kind::boolean:
            case value_kind::integer: return int_hash(x.i);
            case value_kind::big_integer: return big_int_hash({x.p, static_cast<std::size_t>(x.len)});
            case value_kind::floating: return float_hash(x.f);
            case value_kind::none: return kPyNoneHash;
            case value_kind::tuple:
            case value_kind::frozenset: container = true; return std::nullopt;
            default: return std::nullopt;  // salted or by identity
        }
    };
    bool container = false;
    if (auto h = scalar(root, container); h || !container) return h;
    // Nested tuples and frozensets, with an explicit stack (nesting follows the input).
    struct frame {
        value_ref t;
        std::size_t next;
        std::uint64_t acc;
        bool frozen;
    };
    auto start = [&](value_ref t) {
        bool frozen = g_.nodes[t.index()].kind == value_kind::frozenset;
        return frame{t, 0, frozen ? 0 : kXXPrime5, frozen};
    };
    std::vector<frame> stack{start(root)};
    std::optional<std::uint64_t> result;
    auto feed = [&](frame& f, std::uint64_t h) {
        f.acc = f.frozen ? f.acc ^ shuffle_bits(h) : tuple_step(f.acc, h);
        ++f.next;
    };
    while (!stack.empty()) {
        frame& f = stack.back();
        const auto& items = g_.containers[g_.nodes[f.t.index()].aux].items;
        bool done = f.next == items.size();
        std::optional<std::uint64_t> child;
        bool failed = false;
        if (!done) {
            value_ref item = items[f.next];
            bool nested = false;
            child = scalar(item, nested);
            if (nested) {
                auto cached = python_hashes_.find(item.index());
                if (cached == python_hashes_.end()) {
                    stack.push_back(start(item));
                    continue;
                }
                child = cached->second;
            }
            if (!child) failed = true;
        }
        if (!done && !failed) {
            feed(f, *child);
            continue;
        }
        // This container is finished (or holds an item without a fixed hash).
        std::optional<std::uint64_t> h;
        if (!failed) h = f.frozen ? frozenset_finish(f.acc, items.size()) : tuple_finish(f.acc, items.size());
        python_hashes_[f.t.index()] = h;
        stack.pop_back();
        result = h;
        if (!stack.empty()) {
            if (!h) {
                // The parent has no fixed hash either: unwind it on the next turn.
                frame& parent = stack.back();
                python_hashes_[parent.t.index()] = std::nullopt;
                stack.pop_back();
                result = std::nullopt;
                while (!stack.empty()) {
                    python_hashes_[stack.back().t.index()] = std::nullopt;
                    stack.pop_back();
                }
                break;
            }
            feed(stack.back(), *h);
        }
    }
    return result;
}

}  // namespace pickleguard
