// pickleguard/decode.hpp — the restricted decoder.
//
// `decode` runs a symbolic pickle virtual machine over a byte span: every
// opcode of protocols 0–5 is read exactly as CPython's C unpickler
// (`Modules/_pickle.c`, the one `pickle.loads` uses) reads it, but nothing is
// imported or called. The result is the value graph, the root value when STOP
// was reached, and the security-relevant events in stream order. Where
// pickle.load on a file or the pure-Python pickle._Unpickler would read the
// bytes differently (a read running past a FRAME's end, for one), the input
// is malformed: docs/unpicklers.md lists the differences.
//
// Decoding never throws. When the input is malformed or a limit is reached,
// `failure` says where and why, and everything decoded before it is kept:
// CPython has already executed all of it by then.
//
//     pickleguard::decoding d = pickleguard::decode(bytes);
//     if (d.failure) report(*d.failure);
//     for (const pickleguard::event& e : d.events)
//         if (e.kind == pickleguard::event_kind::global) check(d.graph.global(e.target));
#pragma once

#include "pickleguard/error.hpp"
#include "pickleguard/limits.hpp"
#include "pickleguard/value.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard {

// Operations a real loader performs that reach outside plain data.
enum class event_kind : std::uint8_t {
    global,          // find_class(module, name): GLOBAL, STACK_GLOBAL, INST
    call,            // callable(*args): REDUCE, INST, OBJ
    instantiate,     // cls.__new__(cls, ...): NEWOBJ, NEWOBJ_EX
    build,           // BUILD on a symbolic node (runs __setstate__ or sets attributes)
    append,          // APPEND(S) on a symbolic node (calls its extend/append)
    setitem,         // SETITEM(S) on a symbolic node (calls its __setitem__)
    additems,        // ADDITEMS on a symbolic node (calls its add)
    persistent_id,   // persistent_load(pid): PERSID, BINPERSID
    extension,       // copyreg extension registry lookup: EXT1, EXT2, EXT4
    buffer,          // NEXT_BUFFER, READONLY_BUFFER on a symbolic node
};

const char* to_string(event_kind kind) noexcept;

struct event {
    event_kind kind;
    std::uint8_t opcode;
    std::uint64_t offset;  // of the opcode
    value_ref target;      // global / callable / cls / mutated node / persid / ext node
    value_ref result;      // node created by the operation (call, instantiate), else target
    value_ref operand;     // args, state or pid; None when there is none
};

struct decode_options {
    limits limit{};
    // CPython's pickle.loads without `buffers=` refuses NEXT_BUFFER; so do we
    // unless this is set, in which case each buffer is a symbolic node.
    bool allow_out_of_band_buffers = false;
    // Some loaders read raw bytes from the file in the middle of a pickle:
    // joblib's NumpyUnpickler, after BUILD on a NumpyArrayWrapper, reads the
    // array's bytes (or a nested pickle) straight from the stream, then goes
    // on unpickling after them. When set, this is called after every BUILD on
    // a symbolic node with the whole input, the graph so far, the built node
    // and the offset just past the BUILD; it returns how many bytes the loader
    // consumes there itself (0 for none), and decoding resumes after them.
    // Skipping past the end of the input ends decoding as truncated.
    std::function<std::uint64_t(std::span<const std::byte> input, const value_graph& graph, value_ref node,
                                std::uint64_t offset)>
        after_build;
};

// One executed opcode, for disassemblers and tracers.
struct opcode_step {
    std::uint64_t offset;
    std::uint8_t opcode;
    std::uint8_t protocol;          // protocol in force when it ran
    std::string_view raw_arg;       // the argument bytes as they are in the stream
    std::int64_t int_arg = 0;       // numeric argument (lengths, memo indices, codes)
    bool has_int_arg = false;
    std::int64_t memo_index = -1;   // memo slot read or written, if any
    const global_name* global = nullptr;  // name resolved by this opcode, if any
    std::size_t stack_depth = 0;    // after the opcode
    std::size_t mark_depth = 0;     // after the opcode
};

class decode_observer {
public:
    virtual ~decode_observer() = default;
    virtual void on_opcode(const opcode_step& step) = 0;
};

struct decoding {
    value_graph graph;
    std::optional<value_ref> root;   // the value STOP returned
    std::vector<event> events;
    std::optional<error> failure;    // why decoding ended early, if it did
    std::uint64_t start = 0;         // where this pickle began
    std::uint64_t end = 0;           // just past STOP, or where decoding stopped
    std::uint64_t opcode_count = 0;
    std::uint8_t highest_protocol = 0;  // largest PROTO argument seen
    // Comparisons CPython's dicts and sets would make among keys with equal
    // hash() (limits::max_hash_collisions), and the opcode at which they
    // first passed that limit. Decoding goes on: our index is not slowed.
    std::uint64_t hash_collisions = 0;
    std::optional<std::uint64_t> hash_collisions_offset;
    // Bytes a loader read from the stream itself after a BUILD
    // (decode_options::after_build): the built node's index, the offset just
    // past the BUILD and how many bytes were skipped there, in stream order.
    // joblib's array data ends each such span; a state checker that reads an
    // array's elements finds them here (zero-copy, in the input).
    struct raw_span {
        std::uint32_t node;
        std::uint64_t offset, size;
    };
    std::vector<raw_span> raw_after_build;
    bool complete() const { return root.has_value() && !failure; }
};

// Decodes the pickle that starts at `start` in `input`. Bytes after its STOP
// are not part of it: `end` tells where they begin, so callers can decide
// (another pickle there is how some payloads hide).
decoding decode(std::span<const std::byte> input, const decode_options& options = {},
                std::size_t start = 0, decode_observer* observer = nullptr);

// The graph points into the input: decoding a temporary string is a bug.
decoding decode(std::string&& input, const decode_options& options = {}, std::size_t start = 0,
                decode_observer* observer = nullptr) = delete;

inline decoding decode(std::string_view input, const decode_options& options = {},
                       std::size_t start = 0, decode_observer* observer = nullptr) {
    return decode(std::as_bytes(std::span(input.data(), input.size())), options, start, observer);
}

}  // namespace pickleguard
