// pickleguard/value.hpp — the value graph a pickle describes.
//
// Decoding builds a graph of values instead of Python objects. Data values
// (None, bool, int, float, str, bytes, bytearray, list, tuple, dict, set,
// frozenset) are modelled exactly; everything a real loader would import or
// call is a symbolic node: a `global` reference, a `reduce` (REDUCE, INST and
// OBJ), a `newobj` (NEWOBJ, NEWOBJ_EX), a persistent id or an extension code.
// Nothing is ever imported or called. BUILD, APPEND(S), SETITEM(S) and
// ADDITEMS applied to a symbolic node are recorded on it (`applied`).
//
// Nodes are shared exactly as the stream shares them (memo GET, DUP), so the
// graph can hold cycles. Strings and bytes are views into the input wherever
// the bytes are used as they are.
//
//     const pickleguard::value_graph& g = decoding.graph;
//     if (g.kind(v) == pickleguard::value_kind::list)
//         for (pickleguard::value_ref item : g.items(v)) ...
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace pickleguard {

enum class value_kind : std::uint8_t {
    none, boolean, integer, big_integer, floating,
    str, bytes, bytearray,
    list, tuple, dict, set, frozenset,
    global, reduce, newobj, persid, ext,
    buffer,      // an out-of-band buffer (NEXT_BUFFER), only when allowed
    memoryview,  // READONLY_BUFFER applied to a bytearray
};

const char* to_string(value_kind kind) noexcept;

// True for the kinds a real loader produces by importing or calling.
constexpr bool is_symbolic(value_kind k) noexcept {
    return k == value_kind::global || k == value_kind::reduce || k == value_kind::newobj ||
           k == value_kind::persid || k == value_kind::ext || k == value_kind::buffer;
}

// A handle to a value: 8 bytes. Ints in [-2^62, 2^62) are stored in the
// handle itself, so a list of five million ints costs five million handles
// and no nodes. Handles of nodes that hold other values (containers and
// symbolic nodes) or are unhashable say so, so the decoder can skip looking
// up plain scalars.
class value_ref {
public:
    constexpr value_ref() = default;
    static constexpr value_ref node(std::uint32_t index, bool compound = false) {
        return value_ref(index | (compound ? kCompoundTag : 0));
    }
    static constexpr bool fits_small(std::int64_t v) { return v >= -(1ll << 62) && v < (1ll << 62); }
    static constexpr value_ref small_int(std::int64_t v) {
        return value_ref(kSmallTag | (static_cast<std::uint64_t>(v) & ~kSmallTag));
    }
    constexpr bool is_small_int() const { return (bits_ & kSmallTag) != 0; }
    constexpr std::int64_t small_value() const {
        return static_cast<std::int64_t>(bits_ << 1) >> 1;  // sign-extend 63 bits
    }
    // A node holding other values (list, dict, symbolic, ...) or a bytearray.
    constexpr bool is_compound() const { return (bits_ & (kSmallTag | kCompoundTag)) == kCompoundTag; }
    constexpr std::uint32_t index() const { return static_cast<std::uint32_t>(bits_); }
    constexpr std::uint64_t bits() const { return bits_; }
    friend constexpr bool operator==(value_ref, value_ref) = default;

private:
    static constexpr std::uint64_t kSmallTag = std::uint64_t{1} << 63;
    static constexpr std::uint64_t kCompoundTag = std::uint64_t{1} << 62;
    constexpr explicit value_ref(std::uint64_t bits) : bits_(bits) {}
    std::uint64_t bits_ = 0;  // node 0 is None
};

// Kinds whose handles carry the compound tag.
constexpr bool is_compound(value_kind k) noexcept {
    return !(k == value_kind::none || k == value_kind::boolean || k == value_kind::integer ||
             k == value_kind::big_integer || k == value_kind::floating || k == value_kind::str ||
             k == value_kind::bytes);
}

// A global as the stream names it and as CPython's find_class resolves it.
struct global_name {
    std::string_view raw_module, raw_name;  // as written in the stream
    std::string_view module, name;          // after fix_imports; dotted names whole
    std::uint64_t offset = 0;               // opcode that named it
    std::uint8_t opcode = 0;                // GLOBAL, STACK_GLOBAL or INST
    std::uint8_t protocol = 0;              // protocol in force at that opcode
    bool remapped = false;  // fix_imports (protocol < 3) changed the name
    bool dotted = false;    // protocol >= 4 and name has '.': attribute traversal
};

// What the stream did to a symbolic node after creating it.
struct applied_ops {
    std::vector<value_ref> states;    // BUILD states, in order
    std::vector<value_ref> appended;  // APPEND(S) items
    std::vector<value_ref> setitems;  // SETITEM(S) as key, value, key, value...
    std::vector<value_ref> added;     // ADDITEMS items
    bool readonly = false;            // READONLY_BUFFER applied
};

class value_graph {
public:
    value_graph();
    ~value_graph();
    value_graph(value_graph&&) noexcept;
    value_graph& operator=(value_graph&&) noexcept;

    value_kind kind(value_ref v) const;
    bool as_bool(value_ref v) const;                 // boolean
    std::int64_t as_int(value_ref v) const;          // integer
    std::span<const std::uint8_t> big_int_bytes(value_ref v) const;  // little-endian two's complement
    double as_float(value_ref v) const;              // floating
    // str: the code points as UTF-8, where lone surrogates (which Python
    // strings may hold) are encoded as 3-byte sequences like any other code
    // point. bytes/bytearray/memoryview: the raw bytes.
    std::string_view text(value_ref v) const;
    // list/tuple/set/frozenset: items; dict: key, value, key, value...;
    // reduce: callable, args; newobj: cls, args[, kwargs]; persid: pid.
    std::span<const value_ref> items(value_ref v) const;
    const global_name& global(value_ref v) const;    // global
    std::int64_t ext_code(value_ref v) const;        // ext
    // Operations recorded on a symbolic node, or nullptr when there were none.
    const applied_ops* applied(value_ref v) const;
    // True when the value was placed anywhere but the stack and the memo (a
    // container, an argument tuple, state or items applied to an object, a
    // persistent id), or is what an attribute fetch returned: a global the
    // loader hands on as a value, not only calls.
    bool held(value_ref v) const;
    // list, dict and set: how many BUILDs on symbolic nodes the stream had
    // run when APPEND(S), SETITEM(S) or ADDITEMS last changed its items (0
    // when none ever did; other kinds: 0). The graph holds a container as
    // it is at the end of the stream: the state the n-th BUILD (counting
    // from 1, in event order) was handed held it as it is here only when
    // this is below n.
    std::uint64_t builds_before_change(value_ref v) const;

    std::size_t node_count() const;
    // Every global the stream named, in stream order.
    std::span<const global_name> globals() const;

    struct storage;  // implementation detail
    storage& impl() { return *s_; }
    const storage& impl() const { return *s_; }

private:
    std::unique_ptr<storage> s_;
};

}  // namespace pickleguard
