// The symbolic pickle machine.
//
// One handler per opcode, named after CPython's `load_*` function in
// `Modules/_pickle.c` and checked in the same order, so that we accept and
// reject exactly what `pickle.loads` does. Where CPython would import or call
// something we create a symbolic node instead. The stack, the mark stack and
// the memo behave as CPython's: the mark stack is separate and "fences" the
// object stack, and MEMOIZE writes at the number of filled memo slots.
//
// Nothing here recurses: the depth of the C++ stack never follows the input.
#include "pickleguard/decode.hpp"

#include "../common/bigint.hpp"
#include "global_names.hpp"
#include "graph_storage.hpp"
#include "opcode_table.hpp"
#include "text_numbers.hpp"
#include "text_strings.hpp"
#include "value_equality.hpp"

#include <array>
#include <optional>
#include <bit>
#include <cstring>
#include <unordered_map>

namespace pickleguard {

const char* to_string(error_kind kind) noexcept {
    switch (kind) {
        case error_kind::malformed: return "malformed";
        case error_kind::truncated: return "truncated";
        case error_kind::limit: return "limit";
        case error_kind::unsupported: return "unsupported";
        case error_kind::io: return "io";
        case error_kind::usage: return "usage";
    }
    return "?";
}

std::string describe(const error& e) {
    std::string s;
    if (e.offset != error::no_offset) {
        s += "offset " + std::to_string(e.offset);
        if (e.opcode != error::no_opcode) {
            const opcode_info* op = find_opcode(static_cast<std::uint8_t>(e.opcode));
            s += " (";
            s += op ? std::string(op->name) : "unknown opcode";
            s += ")";
        }
        s += ": ";
    }
    s += e.reason;
    return s;
}

const char* to_string(event_kind kind) noexcept {
    switch (kind) {
        case event_kind::global: return "global";
        case event_kind::call: return "call";
        case event_kind::instantiate: return "instantiate";
        case event_kind::build: return "build";
        case event_kind::append: return "append";
        case event_kind::setitem: return "setitem";
        case event_kind::additems: return "additems";
        case event_kind::persistent_id: return "persistent_id";
        case event_kind::extension: return "extension";
        case event_kind::buffer: return "buffer";
    }
    return "?";
}

namespace {

using storage = value_graph::storage;

// The memo as CPython sees it (index -> value, plus a count of filled slots),
// stored densely while indices stay near the count and sparsely past that, so
// memory follows what is stored, not the largest index.
class memo_table {
public:
    std::uint64_t size() const { return count_; }

    [[gnu::always_inline]] const value_ref* get(std::uint64_t idx) const {
        if (idx < dense_.size()) [[likely]]
            return dense_[idx].bits() == storage::kInvalidIndex ? nullptr : &dense_[idx];
        return get_sparse(idx);
    }

    // Stores v at idx; false (and nothing stored) when that would fill more
    // than max_entries slots.
    [[gnu::always_inline]] bool put(std::uint64_t idx, value_ref v, std::uint64_t max_entries) {
        if (idx >= dense_.size() && idx < 2 * count_ + 1024) [[unlikely]] grow(idx + 1);
        if (idx < dense_.size()) [[likely]] {
            if (dense_[idx].bits() == storage::kInvalidIndex) {
                if (count_ >= max_entries) return false;
                ++count_;
            }
            dense_[idx] = v;
            return true;
        }
        return put_sparse(idx, v, max_entries);
    }

private:
    // Indices far beyond the count (a hostile stream's) live in a hash map,
    // out of line so that the dense path inlines small into every handler.
    [[gnu::noinline]] const value_ref* get_sparse(std::uint64_t idx) const {
        auto it = sparse_.find(idx);
        return it == sparse_.end() ? nullptr : &it->second;
    }
    [[gnu::noinline]] bool put_sparse(std::uint64_t idx, value_ref v, std::uint64_t max_entries) {
        auto it = sparse_.find(idx);
        if (it != sparse_.end()) {
            it->second = v;
            return true;
        }
        if (count_ >= max_entries) return false;
        sparse_.emplace(idx, v);
        ++count_;
        return true;
    }

    [[gnu::noinline]] void grow(std::uint64_t need) {
        std::uint64_t n = std::max<std::uint64_t>(need, dense_.size() * 2);
        n = std::min<std::uint64_t>(n, 2 * count_ + 1024);
        n = std::max(n, need);
        dense_.resize(n, value_ref::node(storage::kInvalidIndex));
        for (auto it = sparse_.begin(); it != sparse_.end();) {
            if (it->first < n) {
                dense_[it->first] = it->second;
                it = sparse_.erase(it);
            } else {
                ++it;
            }
        }
    }

    pod_vector<value_ref> dense_;
    std::unordered_map<std::uint64_t, value_ref> sparse_;
    std::uint64_t count_ = 0;
};

// An opcode's argument as read from the stream.
struct operand {
    std::uint64_t u = 0;       // fixed-size integers, lengths
    std::int64_t i = 0;        // int4
    std::string_view bytes;    // counted data, or the first line (with '\n')
    std::string_view line2;    // second line of GLOBAL/INST (with '\n')
};

inline std::uint64_t read_le(const std::uint8_t* p, std::size_t n) {
    // One unaligned load where the host is little-endian, as CPython's
    // calc_binint reads bytes; compilers fold memcpy of a known size.
    if constexpr (std::endian::native == std::endian::little) {
        switch (n) {
            case 1: return p[0];
            case 2: { std::uint16_t v; std::memcpy(&v, p, 2); return v; }
            case 4: { std::uint32_t v; std::memcpy(&v, p, 4); return v; }
            case 8: { std::uint64_t v; std::memcpy(&v, p, 8); return v; }
            default: break;
        }
    }
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v |= static_cast<std::uint64_t>(p[k]) << (8 * k);
    return v;
}

class machine {
public:
    machine(std::span<const std::byte> input, const decode_options& options, std::size_t start,
            decode_observer* observer, decoding& out)
        : in_(reinterpret_cast<const std::uint8_t*>(input.data())),
          size_(input.size()),
          pos_(start),
          end_(input.size()),
          opt_(options),
          lim_(options.limit),
          observer_(observer),
          out_(out),
          g_(out.graph.impl()) {}

    using handler = bool (*)(machine&);
    void run();
    template <bool Observed>
    void loop();

private:
    friend struct dispatch_table;
    template <std::uint8_t Code, bool (machine::*F)()>
    friend bool call(machine& m);

    // ---- failures -------------------------------------------------------
    bool fail(error_kind kind, std::string reason) {
        error e;
        e.kind = kind;
        e.offset = op_offset_;
        e.opcode = op_;
        e.reason = std::move(reason);
        out_.failure = std::move(e);
        return false;
    }
    bool fail(error e) {
        e.offset = op_offset_;
        e.opcode = op_;
        out_.failure = std::move(e);
        return false;
    }
    // Failures are cold and out of line, so that the checks guarding them
    // cost the hot handlers (push, new_node, memo_put...) one branch each
    // and the handlers stay small enough to inline.
    [[gnu::cold, gnu::noinline]] bool malformed(std::string reason) { return fail(error_kind::malformed, std::move(reason)); }
    [[gnu::cold, gnu::noinline]] bool malformed(const char* reason) { return fail(error_kind::malformed, reason); }
    [[gnu::cold, gnu::noinline]] bool truncated() { return fail(error_kind::truncated, "pickle data was truncated"); }
    [[gnu::cold, gnu::noinline]] bool limit(std::string what) { return fail(error_kind::limit, "limit: " + what); }
    [[gnu::cold, gnu::noinline]] bool limit(const char* what) { return fail(error_kind::limit, std::string("limit: ") + what); }
    [[gnu::cold, gnu::noinline]] bool unsupported(std::string what) { return fail(error_kind::unsupported, "unsupported: " + what); }
    [[gnu::cold, gnu::noinline]] bool unsupported(const char* what) { return fail(error_kind::unsupported, std::string("unsupported: ") + what); }
    [[gnu::cold, gnu::noinline]] bool underflow() {
        // Pdata_stack_underflow: the message depends on whether a MARK is open.
        return malformed(marks_.empty() ? "unpickling stack underflow" : "unexpected MARK found");
    }

    // A list, dict or set whose items APPEND(S), SETITEM(S) or ADDITEMS just
    // changed: it keeps how many BUILDs on symbolic nodes had run by then
    // (value_graph::builds_before_change), in the node's otherwise unused
    // integer field. The graph holds containers as they are at the end of
    // the stream; a state checked at a BUILD must be the state it was then.
    [[gnu::always_inline]] void changed(value_ref container) { at(container).i = static_cast<std::int64_t>(builds_); }
    std::uint64_t builds_ = 0;  // BUILDs on symbolic nodes so far

    // ---- the stack --------------------------------------------------------
    std::size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
    [[gnu::always_inline]] bool push(value_ref v) {
        if (stack_.size() >= lim_.max_stack_depth) [[unlikely]] return limit("stack deeper than max_stack_depth");
        stack_.push_back(v);
        return true;
    }
    // Pdata_pop: refuses to pop below the fence of the innermost MARK.
    [[gnu::always_inline]] bool pop(value_ref& v) {
        if (stack_.size() <= fence()) return underflow();
        v = stack_.back();
        stack_.pop_back();
        return true;
    }
    // marker(): pops the innermost MARK and returns where it was.
    bool marker(std::size_t& at) {
        if (marks_.empty()) return malformed("could not find MARK");
        at = marks_.back();
        marks_.pop_back();
        return true;
    }

    // ---- values -------------------------------------------------------------
    [[gnu::always_inline]] bool new_node(value_kind kind, value_ref& out) {
        if (g_.nodes.size() >= lim_.max_nodes || g_.nodes.size() >= storage::kMaxNodes) [[unlikely]]
            return limit("more values than max_nodes");
        g_.nodes.emplace_back().kind = kind;
        out = value_ref::node(static_cast<std::uint32_t>(g_.nodes.size() - 1), is_compound(kind));
        return true;
    }
    [[gnu::always_inline]] bool new_container(value_kind kind, value_ref& out) {
        if (!new_node(kind, out)) return false;
        node& n = g_.nodes[out.index()];
        n.aux = static_cast<std::uint32_t>(g_.containers.size());
        if (kind == value_kind::list || kind == value_kind::dict || kind == value_kind::set)
            n.flags |= node_flag::unhashable;
        g_.containers.emplace_back(&g_.arena);
        return true;
    }
    node& at(value_ref v) { return g_.nodes[v.index()]; }
    value_kind kind_of(value_ref v) const {
        return v.is_small_int() ? value_kind::integer : g_.nodes[v.index()].kind;
    }
    bool symbolic(value_ref v) const { return v.is_compound() && is_symbolic(g_.nodes[v.index()].kind); }
    container& items_of(value_ref v) { return g_.containers[g_.nodes[v.index()].aux]; }
    std::uint32_t depth_of(value_ref v) const {
        if (!v.is_compound()) return 0;
        const node& n = g_.nodes[v.index()];
        switch (n.kind) {
            case value_kind::list: case value_kind::tuple: case value_kind::dict: case value_kind::set:
            case value_kind::frozenset: case value_kind::reduce: case value_kind::newobj:
            case value_kind::persid:
                return g_.containers[n.aux].depth;
            default:
                return 0;
        }
    }
    bool hashable(value_ref v) const {
        return !v.is_compound() || !(g_.nodes[v.index()].flags & node_flag::unhashable);
    }
    const char* type_name(value_ref v) const { return to_string(kind_of(v)); }

    // Adds items to a container, keeping depth and size within limits. Depth
    // is tracked at insertion: a cheap, conservative bound, since items that
    // grow later do not update their parents (and cycles need no bound).
    // The first `used` items are not held (a REDUCE's callable, a NEWOBJ's
    // class: see node_flag::held).
    bool add_items(value_ref target, const value_ref* first, std::size_t count, std::size_t used = 0) {
        container& c = items_of(target);
        if (c.items.size() + count > lim_.max_container_items)
            return limit("container larger than max_container_items");
        std::uint32_t depth = c.depth;
        // Scalars are depth 0, and a container is at least 1: only items
        // holding others can deepen it. A branch-free pass (vectorised)
        // finds whether there are any, so a list of scalars looks up none.
        bool any_compound = false;
        for (std::size_t k = 0; k < count; ++k) any_compound |= first[k].is_compound();
        if (any_compound)
            for (std::size_t k = 0; k < count; ++k) held_item(first[k], depth, k >= used);
        if (depth > lim_.max_nesting_depth) return limit("values nested deeper than max_nesting_depth");
        c.depth = depth;
        c.items.append(first, count);
        return true;
    }
    // Sets node_flag::held on the globals among these values (judge: a
    // global that is only ever called may need no policy entry).
    void mark_held(const value_ref* first, std::size_t count) {
        for (std::size_t k = 0; k < count; ++k)
            if (first[k].is_compound() && (g_.nodes[first[k].index()].kind == value_kind::global ||
                                           g_.nodes[first[k].index()].kind == value_kind::reduce))
                g_.nodes[first[k].index()].flags |= node_flag::held;
    }
    // An item going into a container: its depth bounds the container's, and
    // a global is marked held (unless it is only used). Scalars (depth 0)
    // change neither.
    [[gnu::always_inline]] void held_item(value_ref v, std::uint32_t& depth, bool held = true) {
        if (!v.is_compound()) return;
        depth = std::max(depth, depth_of(v) + 1);
        node& n = g_.nodes[v.index()];
        if (held && (n.kind == value_kind::global || n.kind == value_kind::reduce)) n.flags |= node_flag::held;
    }
    static constexpr bool is_computed_key(value_kind k) {
        return k == value_kind::reduce || k == value_kind::newobj || k == value_kind::persid || k == value_kind::ext;
    }
    // Adds to a dict (pairs) or set as CPython does: an equal key keeps its
    // place and takes the new value; an item equal to one present is dropped.
    bool insert_keyed(value_ref target, const value_ref* first, std::size_t count, bool pairs) {
        const std::size_t stride = pairs ? 2 : 1;
        constexpr std::size_t kLinear = 16;  // below this many keys a scan beats hashing
        const std::uint32_t cidx = at(target).aux;
        // Hashing and comparing never add containers, so `c` stays put.
        container& c = g_.containers[cidx];
        // One allocation for the batch (SETITEMS brings up to 1000 pairs).
        if (c.items.capacity() - c.items.size() < count) c.items.reserve(std::max(c.items.size() * 2, c.items.size() + count));
        std::uint32_t depth = c.depth;
        for (std::size_t k = 0; k < count; k += stride) {
            value_ref key = first[k];
            std::size_t n = c.items.size();
            if (key.is_compound() && is_computed_key(g_.nodes[key.index()].kind)) [[unlikely]] {
                // A key made by a call (Decimal(k * (2**61 - 1)), a numpy
                // scalar) has a hash we cannot compute: count the worst case,
                // that CPython probes past every key already there.
                out_.hash_collisions += n / stride;
                if (out_.hash_collisions > lim_.max_hash_collisions) {
                    c.depth = depth;
                    out_.hash_collisions_offset = op_offset_;
                    return limit("more possible CPython hash collisions among dict and set keys than "
                                 "max_hash_collisions (keys computed while loading count as colliding)");
                }
            }
            std::size_t found = SIZE_MAX;
            std::uint64_t h = 0;
            // No index below kLinear keys: n never shrinks, so none can exist yet.
            auto idx_it = n / stride >= kLinear ? key_index_.find(cidx) : key_index_.end();
            if (idx_it == key_index_.end() && n / stride >= kLinear) {
                auto& index = key_index_[cidx];
                for (std::size_t p = 0; p < n; p += stride)
                    index.emplace(equality_.hash(c.items[p]), static_cast<std::uint32_t>(p));
                idx_it = key_index_.find(cidx);
            }
            if (idx_it != key_index_.end()) {
                h = equality_.hash(key);
                // Numbers, None and tuples of them hash as in CPython
                // (value_equality), whose dicts and sets probe past every
                // key with the same hash: k * (2**61 - 1) all hash to 0, and
                // inserting 300,000 of them costs 4.5e10 comparisons. Each
                // key passed here is one CPython makes too; past
                // max_hash_collisions decoding stops, so neither we nor the
                // loader's cost can grow quadratically unnoticed.
                auto [lo, hi] = idx_it->second.equal_range(h);
                std::uint64_t passed = 0;
                for (auto it = lo; it != hi; ++it, ++passed)
                    if (equality_.equal(c.items[it->second], key)) { found = it->second; break; }
                if (passed) [[unlikely]] {
                    out_.hash_collisions += passed;
                    if (out_.hash_collisions > lim_.max_hash_collisions) {
                        c.depth = depth;
                        out_.hash_collisions_offset = op_offset_;
                        return limit("more CPython hash collisions among dict and set keys than max_hash_collisions");
                    }
                }
            } else {
                for (std::size_t p = 0; p < n; p += stride)
                    if (equality_.equal_keys_inline(c.items[p], key)) { found = p; break; }
            }
            if (found != SIZE_MAX) {
                // An equal key keeps its place (and its first spelling) and takes the new value.
                if (pairs) {
                    c.items[found + 1] = first[k + 1];
                    held_item(first[k + 1], depth);
                }
            } else {
                if (n + stride > lim_.max_container_items) [[unlikely]] {
                    c.depth = depth;
                    return limit("container larger than max_container_items");
                }
                for (std::size_t j = 0; j < stride; ++j) held_item(first[k + j], depth);
                c.items.append(first + k, stride);
                if (idx_it != key_index_.end()) idx_it->second.emplace(h, static_cast<std::uint32_t>(n));
            }
            if (depth > lim_.max_nesting_depth) [[unlikely]] {
                c.depth = depth;
                return limit("values nested deeper than max_nesting_depth");
            }
        }
        c.depth = depth;
        return true;
    }
    [[gnu::always_inline]] bool make_int(std::int64_t v, value_ref& out) {
        if (value_ref::fits_small(v)) {
            out = value_ref::small_int(v);
            return true;
        }
        if (!new_node(value_kind::integer, out)) return false;
        at(out).i = v;
        return true;
    }
    // `le` must stay alive as long as the graph: a view of the input or owned text.
    bool make_big_int(std::string_view le, value_ref& out) {
        auto span = std::span(reinterpret_cast<const std::uint8_t*>(le.data()), le.size());
        if (auto small = bigint::twos_complement_to_int64(span)) return make_int(*small, out);
        if (!new_node(value_kind::big_integer, out)) return false;
        at(out).p = le.data();
        at(out).len = bigint::minimal_length(span);
        return true;
    }
    [[gnu::always_inline]] bool make_text(value_kind kind, std::string_view s, value_ref& out) {
        decoded_bytes_ += s.size();
        if (decoded_bytes_ > lim_.max_decoded_bytes) [[unlikely]] return limit("more text than max_decoded_bytes");
        if (!new_node(kind, out)) return false;
        node& n = at(out);
        n.p = s.data();
        n.len = s.size();
        if (kind == value_kind::bytearray) n.flags |= node_flag::unhashable;
        return true;
    }
    [[gnu::always_inline]] bool make_float(double d, value_ref& out) {
        if (!new_node(value_kind::floating, out)) return false;
        at(out).f = d;
        return true;
    }
    // A tuple of the stack items from `start` up, popped (Pdata_poptuple).
    bool pop_tuple(std::size_t start, value_ref& out) {
        if (start < fence()) return underflow();
        if (!new_container(value_kind::tuple, out)) return false;
        std::size_t n = stack_.size() - start;
        if (!add_items(out, stack_.data() + start, n)) return false;
        for (std::size_t k = start; k < stack_.size(); ++k)
            if (!hashable(stack_[k])) at(out).flags |= node_flag::unhashable;
        stack_.resize(start);
        return true;
    }
    bool make_symbolic(value_kind kind, std::initializer_list<value_ref> operands, value_ref& out) {
        if (!new_container(kind, out)) return false;
        // A REDUCE's callable and a NEWOBJ's class are used (called,
        // instantiated), not held; a persistent id is held.
        return add_items(out, operands.begin(), operands.size(), kind == value_kind::persid ? 0 : 1);
    }
    applied_ops& applied_on(value_ref v) {
        container& c = items_of(v);
        if (c.applied == container::kNoApplied) {
            c.applied = static_cast<std::uint32_t>(g_.applied.size());
            g_.applied.emplace_back();
        }
        return g_.applied[c.applied];
    }
    // APPEND(S), SETITEM(S) or ADDITEMS on a value made by a call: the loader
    // calls the value's own method (extend, __setitem__, add), so the items
    // are recorded in `list` for the judge, held by that call.
    void apply_to_symbolic(value_ref target, std::vector<value_ref> applied_ops::*list, event_kind kind,
                           const value_ref* first, std::size_t count) {
        std::vector<value_ref>& items = applied_on(target).*list;
        items.insert(items.end(), first, first + count);
        mark_held(first, count);
        note(kind, target, target);
    }
    // A bytearray's new contents, kept in the graph's storage.
    void set_bytes(value_ref target, std::string bytes) {
        std::string_view kept = g_.keep(std::move(bytes));
        at(target).p = kept.data();
        at(target).len = kept.size();
    }
    void note(event_kind kind, value_ref target, value_ref result, value_ref operand = {}) {
        out_.events.push_back(event{kind, op_, op_offset_, target, result, operand});
    }
    bool make_global(std::string_view module, std::string_view name, value_ref& out) {
        resolved_global r = resolve_global(module, name, proto_);
        global_name gn;
        gn.raw_module = module;
        gn.raw_name = name;
        gn.module = r.module;
        gn.name = r.name;
        gn.offset = op_offset_;
        gn.opcode = op_;
        gn.protocol = proto_;
        gn.remapped = r.remapped;
        gn.dotted = r.dotted;
        if (!new_container(value_kind::global, out)) return false;
        at(out).i = static_cast<std::int64_t>(g_.globals.size());
        g_.globals.push_back(gn);
        traced_global_ = &g_.globals.back();
        traced_global_index_ = g_.globals.size() - 1;
        note(event_kind::global, out, out);
        return true;
    }

    // ---- reading the stream -------------------------------------------------
    //
    // Frames (protocol 4). pickle.loads reads on across a frame's end, but
    // the readers victims use do not: pickle.load on a file reads a frame
    // into _pickle.c's buffer and, when a read needs more than the buffer
    // still holds, drops the rest of it and reads on from the file after
    // the frame (_Unpickler_ReadImpl, _Unpickler_Readline); pickle.py's
    // _Unframer raises "pickle exhausted before end of frame". So a read that
    // starts inside a frame must end inside it: reads are bounded by `end_`,
    // the end of the current frame (the input's end outside frames), and a
    // read that comes up short inside a frame is a malformed stream
    // (short_read). A read that finds the frame used up reads on after it,
    // as every reader does. This costs the hot path nothing: the bounds
    // checks were there already, against the input's end.
    static constexpr std::size_t kNoFrame = SIZE_MAX;
    std::size_t remaining() const { return end_ - pos_; }
    bool read_line(std::string_view& line) {
        const void* nl = std::memchr(in_ + pos_, '\n', remaining());
        if (!nl) [[unlikely]] {
            if (!leave_used_up_frame()) return short_line();
            nl = std::memchr(in_ + pos_, '\n', remaining());
            if (!nl) return truncated();
        }
        std::size_t end = static_cast<std::size_t>(static_cast<const std::uint8_t*>(nl) - in_) + 1;
        line = {reinterpret_cast<const char*>(in_ + pos_), end - pos_};
        pos_ = end;
        return true;
    }
    bool read_counted(std::uint64_t length, std::string_view& data) {
        if (length > remaining()) [[unlikely]]
            if (!short_read(length)) return false;
        data = {reinterpret_cast<const char*>(in_ + pos_), static_cast<std::size_t>(length)};
        pos_ += static_cast<std::size_t>(length);
        return true;
    }
    // At the end of a frame that is used up, reads go on in the input after
    // it, outside any frame (pickle.py: the _Unframer drops an exhausted
    // frame; _pickle.c: an empty buffer makes it read the file). False when
    // no frame is open or the current one still has bytes left.
    bool leave_used_up_frame() {
        if (frame_end_ == kNoFrame || pos_ != frame_end_) return false;
        frame_end_ = kNoFrame;
        end_ = size_;
        return true;
    }
    // A read of `need` bytes found fewer than that before end_.
    [[gnu::cold, gnu::noinline]] bool short_read(std::uint64_t need) {
        if (leave_used_up_frame()) {
            if (need <= remaining()) return true;
            return truncated();
        }
        if (frame_end_ != kNoFrame) return frame_straddled(need);
        return truncated();
    }
    [[gnu::cold, gnu::noinline]] bool short_line() {
        if (frame_end_ != kNoFrame)
            return malformed("pickle exhausted before end of frame: a line starts inside the frame that ends at offset " +
                             std::to_string(frame_end_) + " and ends after it (pickle.py refuses this; _pickle.c "
                             "reading a file reads the line from after the frame)");
        return truncated();
    }
    [[gnu::cold, gnu::noinline]] bool frame_straddled(std::uint64_t need) {
        return malformed("pickle exhausted before end of frame: a read of " + std::to_string(need) +
                         " bytes at offset " + std::to_string(pos_) + " runs past the frame that ends at offset " +
                         std::to_string(frame_end_) +
                         " (pickle.py refuses this; _pickle.c reading a file reads other bytes than pickle.loads)");
    }
    template <arg_kind Kind>
    [[gnu::always_inline]] bool read_operand();

    // ---- memo -------------------------------------------------------------
    [[gnu::always_inline]] bool memo_put(std::uint64_t idx, value_ref v) {
        traced_memo_ = static_cast<std::int64_t>(idx);
        if (idx > lim_.max_memo_index) [[unlikely]] return memo_index_limit(idx);
        if (!memo_.put(idx, v, lim_.max_memo_entries)) [[unlikely]] return limit("more memo entries than max_memo_entries");
        return true;
    }
    [[gnu::cold, gnu::noinline]] bool memo_index_limit(std::uint64_t idx) {
        return limit("memo index " + std::to_string(idx) + " above max_memo_index");
    }
    [[gnu::always_inline]] bool memo_get(std::uint64_t idx) {
        traced_memo_ = static_cast<std::int64_t>(idx);
        const value_ref* v = memo_.get(idx);
        if (!v) [[unlikely]] return memo_missing(idx);
        return push(*v);
    }
    [[gnu::cold, gnu::noinline]] bool memo_missing(std::uint64_t idx) {
        return malformed("Memo value not found at index " + std::to_string(idx));
    }
    [[gnu::always_inline]] bool put_top(std::uint64_t idx) {
        if (stack_.size() <= fence()) return underflow();
        return memo_put(idx, stack_.back());
    }

    // ---- shared by several opcodes -----------------------------------------
    bool do_append(std::size_t x);
    bool do_setitems(std::size_t x);
    bool counted_tuple(std::size_t n);
    bool push_int(const text::parsed_int& p);
    bool push_str_checked_utf8(std::string_view s);
    // True if s is UTF-8 as BINUNICODE reads it (surrogatepass), else fails.
    [[gnu::noinline]] bool utf8_checked(std::string_view s);
    bool instantiate(value_ref cls, value_ref args);
    // An int in range(256), as bytearray stores it; fails as CPython would.
    std::optional<std::uint8_t> byte_value(value_ref v) {
        value_kind k = kind_of(v);
        if (k == value_kind::integer || k == value_kind::boolean) {
            std::int64_t i = k == value_kind::boolean ? at(v).i : g_view().as_int(v);
            if (i >= 0 && i < 256) return static_cast<std::uint8_t>(i);
            malformed("byte must be in range(0, 256)");
            return std::nullopt;
        }
        if (k == value_kind::big_integer) {
            malformed("byte must be in range(0, 256)");
            return std::nullopt;
        }
        if (symbolic(v)) unsupported("bytearray item computed at load time");
        else malformed(std::string("'") + type_name(v) + "' object cannot be interpreted as an integer");
        return std::nullopt;
    }
    const value_graph& g_view() const { return out_.graph; }
    bool call(value_ref callable, value_ref args);
    bool fold_constructor(value_ref callable, value_ref args, value_ref& out, bool& folded);
    // True when nothing (BUILD, SETITEM...) was applied to a symbolic node.
    bool applied_on_nothing(value_ref v) { return items_of(v).applied == container::kNoApplied; }

    // ---- handlers, in opcode-table order ------------------------------------
    bool load_int();
    bool load_binint();
    bool load_binint1();
    bool load_binint2();
    bool load_long();
    bool load_counted_long();
    bool load_string();
    bool load_counted_binstring();
    bool load_counted_binbytes();
    bool load_counted_bytearray();
    bool load_next_buffer();
    bool load_readonly_buffer();
    bool load_none();
    bool load_true();
    bool load_false();
    bool load_unicode();
    bool load_counted_binunicode();
    bool load_float();
    bool load_binfloat();
    bool load_empty_list();
    bool load_append();
    bool load_appends();
    bool load_list();
    bool load_empty_tuple();
    bool load_tuple();
    bool load_tuple1();
    bool load_tuple2();
    bool load_tuple3();
    bool load_empty_dict();
    bool load_dict();
    bool load_setitem();
    bool load_setitems();
    bool load_empty_set();
    bool load_additems();
    bool load_frozenset();
    bool load_pop();
    bool load_dup();
    bool load_mark();
    bool load_pop_mark();
    bool load_get();
    bool load_binget();
    bool load_put();
    bool load_binput();
    bool load_memoize();
    bool load_extension();
    bool load_global();
    bool load_stack_global();
    bool load_reduce();
    bool load_build();
    bool load_inst();
    bool load_obj();
    bool load_newobj();
    bool load_proto();
    bool load_stop();
    bool load_frame();
    bool load_persid();
    bool load_binpersid();

    // A byte that is no opcode: _pickle.c's "invalid load key" error.
    [[gnu::cold, gnu::noinline]] bool load_invalid() {
        char buf[64];
        if (op_ >= 0x20 && op_ <= 0x7e && op_ != '\'' && op_ != '\\')
            std::snprintf(buf, sizeof buf, "invalid load key, '%c'.", op_);
        else
            std::snprintf(buf, sizeof buf, "invalid load key, '\\x%02x'.", op_);
        error e;
        e.kind = error_kind::malformed;
        e.offset = op_offset_;
        e.reason = buf;
        out_.failure = std::move(e);
        return false;
    }

    void report_step(std::size_t arg_start);

    const std::uint8_t* in_;
    std::size_t size_;
    std::size_t pos_;
    std::size_t end_;                    // reads end here: the current frame's end, or size_
    std::size_t frame_end_ = kNoFrame;   // end of the frame being read, if one is open
    const decode_options& opt_;
    const limits& lim_;
    decode_observer* observer_;
    decoding& out_;
    storage& g_;

    pod_vector<value_ref> stack_;
    std::vector<std::size_t> marks_;
    memo_table memo_;
    value_equality equality_{g_};
    // Hash indexes of large dicts and sets, by container: key hash -> position.
    std::unordered_map<std::uint32_t, std::unordered_multimap<std::uint64_t, std::uint32_t>> key_index_;
    // What fold_constructor has copied into values of this stream: a unit
    // per item of a set or frozenset, per 64 bytes of bytes or bytearray,
    // as the judge charges the calls (call_cost_budget). The memo hands one
    // list to any number of set() calls, and each fold would copy it: past
    // [limits] max_call_cost units the calls stay symbolic (judged as calls,
    // their results computed values), since the judge refuses a pickle whose
    // allowed calls are handed that much anyway, and the scanner's memory
    // stays bounded (set(L) 10,000 times, L 65,536 items, 257 kB, took 3 GB).
    std::uint64_t folded_units_ = 0;
    bool fold_within_budget(std::uint64_t units) {
        if (units > lim_.max_call_cost - std::min(folded_units_, lim_.max_call_cost)) return false;
        folded_units_ += units;
        return true;
    }
    std::uint8_t proto_ = 0;
    std::uint8_t op_ = 0;
    std::uint64_t op_offset_ = 0;
    operand arg_;
    std::uint64_t decoded_bytes_ = 0;
    bool stopped_ = false;
    // for observers
    std::int64_t traced_memo_ = -1;
    const global_name* traced_global_ = nullptr;
    std::size_t traced_global_index_ = 0;
};

// Each opcode's argument is read by code specialised for its kind at compile
// time (the dispatch table instantiates one per opcode), so the loop does no
// per-opcode switch over argument kinds.
template <arg_kind Kind>
inline bool machine::read_operand() {
    constexpr std::size_t fixed = fixed_arg_size(Kind);
    if constexpr (fixed != 0) {
        if (remaining() < fixed) [[unlikely]]
            if (!short_read(fixed)) return false;
        // Handlers of fixed-size arguments read only `u` (and `i` for int4):
        // the other fields are left stale rather than stored per opcode.
        arg_.u = read_le(in_ + pos_, fixed);
        if constexpr (Kind == arg_kind::int4) arg_.i = static_cast<std::int32_t>(static_cast<std::uint32_t>(arg_.u));
        pos_ += fixed;
        return true;
    } else if constexpr (Kind == arg_kind::line) {
        arg_.u = 0, arg_.i = 0;
        return read_line(arg_.bytes);
    } else if constexpr (Kind == arg_kind::line_pair) {
        arg_.u = 0, arg_.i = 0;
        return read_line(arg_.bytes) && read_line(arg_.line2);
    } else if constexpr (Kind == arg_kind::counted_long1 || Kind == arg_kind::counted1) {
        if (remaining() < 1) [[unlikely]]
            if (!short_read(1)) return false;
        arg_.u = in_[pos_++];
        arg_.i = 0;
        return read_counted(arg_.u, arg_.bytes);
    } else if constexpr (Kind == arg_kind::counted_long4) {
        if (remaining() < 4) [[unlikely]]
            if (!short_read(4)) return false;
        arg_.i = static_cast<std::int32_t>(static_cast<std::uint32_t>(read_le(in_ + pos_, 4)));
        pos_ += 4;
        // load_counted_long checks the sign before reading the data.
        if (arg_.i < 0) return malformed("LONG pickle has negative byte count");
        arg_.u = static_cast<std::uint64_t>(arg_.i);
        return read_counted(arg_.u, arg_.bytes);
    } else if constexpr (Kind == arg_kind::counted4 || Kind == arg_kind::counted8) {
        constexpr std::size_t n = Kind == arg_kind::counted4 ? 4 : 8;
        if (remaining() < n) [[unlikely]]
            if (!short_read(n)) return false;
        arg_.u = read_le(in_ + pos_, n);
        arg_.i = 0;
        pos_ += n;
        if (arg_.u > static_cast<std::uint64_t>(INT64_MAX)) {
            const char* what = op_ == op::BINUNICODE8 ? "BINUNICODE" : op_ == op::BYTEARRAY8 ? "BYTEARRAY8" : "BINBYTES";
            return malformed(std::string(what) + " exceeds system's maximum size of 9223372036854775807 bytes");
        }
        return read_counted(arg_.u, arg_.bytes);
    } else {
        return true;
    }
}

// ---- integers ---------------------------------------------------------------

bool machine::push_int(const text::parsed_int& p) {
    value_ref v;
    if (p.is_bool) return push(value_ref::node(p.value ? storage::kTrue : storage::kFalse));
    if (p.small) {
        if (!make_int(p.value, v)) return false;
    } else {
        if (!make_big_int(g_.keep(p.twos), v)) return false;
    }
    return push(v);
}

bool machine::load_int() {
    if (arg_.bytes.size() < 2) return truncated();  // bad_readline
    auto parsed = text::parse_int_line(arg_.bytes, lim_);
    if (!parsed) return fail(parsed.error());
    return push_int(parsed.value());
}

bool machine::load_binint() {
    value_ref v;
    return make_int(arg_.i, v) && push(v);
}
bool machine::load_binint1() {
    value_ref v;
    return make_int(static_cast<std::int64_t>(arg_.u), v) && push(v);
}
bool machine::load_binint2() { return load_binint1(); }

bool machine::load_long() {
    if (arg_.bytes.size() < 2) return truncated();
    auto parsed = text::parse_long_line(arg_.bytes, lim_);
    if (!parsed) return fail(parsed.error());
    return push_int(parsed.value());
}

bool machine::load_counted_long() {
    value_ref v;
    if (arg_.bytes.empty()) return make_int(0, v) && push(v);
    return make_big_int(arg_.bytes, v) && push(v);
}

// ---- strings and bytes --------------------------------------------------------

bool machine::load_string() {
    std::string_view line = arg_.bytes.substr(0, arg_.bytes.size() - 1);
    auto decoded = text::decode_string_escape(line);
    if (!decoded) return fail(decoded.error());
    // Python 2 str is decoded with the Unpickler's encoding: ASCII by default.
    if (std::string why = text::check_ascii(decoded.value()); !why.empty()) return malformed(why);
    value_ref v;
    return make_text(value_kind::str, g_.keep(std::move(decoded.value())), v) && push(v);
}

bool machine::load_counted_binstring() {
    if (std::string why = text::check_ascii(arg_.bytes); !why.empty()) return malformed(why);
    value_ref v;
    return make_text(value_kind::str, arg_.bytes, v) && push(v);
}

bool machine::load_counted_binbytes() {
    value_ref v;
    return make_text(value_kind::bytes, arg_.bytes, v) && push(v);
}

bool machine::load_counted_bytearray() {
    value_ref v;
    return make_text(value_kind::bytearray, arg_.bytes, v) && push(v);
}

bool machine::load_next_buffer() {
    if (!opt_.allow_out_of_band_buffers)
        return malformed("pickle stream refers to out-of-band data but no *buffers* argument was given");
    value_ref v;
    if (!new_container(value_kind::buffer, v)) return false;
    note(event_kind::buffer, v, v);
    return push(v);
}

bool machine::load_readonly_buffer() {
    if (stack_.size() <= fence()) return underflow();
    value_ref& top = stack_.back();
    switch (kind_of(top)) {
        case value_kind::bytes:
        case value_kind::memoryview:
            return true;  // already read-only: CPython keeps the object
        case value_kind::bytearray: {
            value_ref view;
            std::string_view bytes{at(top).p, static_cast<std::size_t>(at(top).len)};
            if (!make_text(value_kind::memoryview, bytes, view)) return false;
            top = view;
            return true;
        }
        default:
            if (symbolic(top)) {
                applied_on(top).readonly = true;
                note(event_kind::buffer, top, top);
                return true;
            }
            return malformed(std::string("memoryview: a bytes-like object is required, not '") + type_name(top) + "'");
    }
}

bool machine::load_none() { return push(value_ref::node(storage::kNone)); }
bool machine::load_true() { return push(value_ref::node(storage::kTrue)); }
bool machine::load_false() { return push(value_ref::node(storage::kFalse)); }

bool machine::load_unicode() {
    auto decoded = text::decode_raw_unicode_escape(arg_.bytes.substr(0, arg_.bytes.size() - 1));
    if (!decoded) return fail(decoded.error());
    value_ref v;
    return make_text(value_kind::str, g_.keep(std::move(decoded.value())), v) && push(v);
}

bool machine::load_counted_binunicode() {
    // Most pickled text is ASCII, which needs no UTF-8 checking; the check
    // is out of line so that this handler inlines into its dispatch entry.
    if (!text::is_ascii(arg_.bytes)) [[unlikely]]
        if (!utf8_checked(arg_.bytes)) return false;
    value_ref v;
    return make_text(value_kind::str, arg_.bytes, v) && push(v);
}

bool machine::utf8_checked(std::string_view s) {
    if (std::string why = text::check_utf8(s, /*surrogatepass=*/true); !why.empty()) return malformed(why);
    return true;
}

// ---- floats -------------------------------------------------------------------

bool machine::load_float() {
    if (arg_.bytes.size() < 2) return truncated();
    auto parsed = text::parse_float_line(arg_.bytes);
    if (!parsed) return fail(parsed.error());
    value_ref v;
    return make_float(parsed.value(), v) && push(v);
}

bool machine::load_binfloat() {
    // Big-endian IEEE 754, as PyFloat_Unpack8(s, 0).
    // arg_.u holds the 8 bytes read little-endian; reversed, the big-endian value.
    std::uint64_t be = __builtin_bswap64(arg_.u);
    value_ref v;
    return make_float(std::bit_cast<double>(be), v) && push(v);
}

// ---- lists --------------------------------------------------------------------

bool machine::load_empty_list() {
    value_ref v;
    return new_container(value_kind::list, v) && push(v);
}

bool machine::do_append(std::size_t x) {
    std::size_t len = stack_.size();
    if (x > len || x <= fence()) return underflow();
    if (len == x) {
        // Nothing to do for _pickle.c, whatever the target is; but
        // pickle.py's load_appends calls target.extend([]) all the same, so
        // on a symbolic target that is a call the judge must see.
        if (symbolic(stack_[x - 1])) note(event_kind::append, stack_[x - 1], stack_[x - 1]);
        return true;
    }
    value_ref target = stack_[x - 1];
    const value_ref* first = stack_.data() + x;
    std::size_t count = len - x;
    switch (kind_of(target)) {
        case value_kind::list:
            if (!add_items(target, first, count)) return false;
            changed(target);
            break;
        case value_kind::bytearray: {
            // bytearray has extend(): every item must be an int in range(256).
            std::string grown(at(target).p, at(target).len);
            for (std::size_t k = 0; k < count; ++k) {
                auto b = byte_value(first[k]);
                if (!b) return false;
                grown.push_back(static_cast<char>(*b));
            }
            set_bytes(target, std::move(grown));
            break;
        }
        default:
            if (!symbolic(target))
                return malformed(std::string("'") + type_name(target) + "' object has no attribute 'append'");
            apply_to_symbolic(target, &applied_ops::appended, event_kind::append, first, count);
    }
    stack_.resize(x);
    return true;
}

bool machine::load_append() {
    if (stack_.size() - 1 <= fence() || stack_.empty()) return underflow();
    return do_append(stack_.size() - 1);
}

bool machine::load_appends() {
    std::size_t mark = 0;
    return marker(mark) && do_append(mark);
}

bool machine::load_list() {
    std::size_t mark = 0;
    if (!marker(mark)) return false;
    value_ref v;
    if (!new_container(value_kind::list, v)) return false;
    if (!add_items(v, stack_.data() + mark, stack_.size() - mark)) return false;
    stack_.resize(mark);
    return push(v);
}

// ---- tuples -------------------------------------------------------------------

bool machine::counted_tuple(std::size_t n) {
    if (stack_.size() < n) return underflow();
    value_ref v;
    return pop_tuple(stack_.size() - n, v) && push(v);
}

bool machine::load_empty_tuple() { return counted_tuple(0); }
bool machine::load_tuple() {
    std::size_t mark = 0;
    return marker(mark) && counted_tuple(stack_.size() - mark);
}
bool machine::load_tuple1() { return counted_tuple(1); }
bool machine::load_tuple2() { return counted_tuple(2); }
bool machine::load_tuple3() { return counted_tuple(3); }

// ---- dicts --------------------------------------------------------------------

bool machine::load_empty_dict() {
    value_ref v;
    return new_container(value_kind::dict, v) && push(v);
}

bool machine::load_dict() {
    std::size_t mark = 0;
    if (!marker(mark)) return false;
    value_ref v;
    if (!new_container(value_kind::dict, v)) return false;
    if ((stack_.size() - mark) % 2 != 0) return malformed("odd number of items for DICT");
    for (std::size_t k = mark; k < stack_.size(); k += 2)
        if (!hashable(stack_[k])) return malformed(std::string("unhashable type: '") + type_name(stack_[k]) + "'");
    if (!insert_keyed(v, stack_.data() + mark, stack_.size() - mark, /*pairs=*/true)) return false;
    stack_.resize(mark);
    return push(v);
}

bool machine::do_setitems(std::size_t x) {
    std::size_t len = stack_.size();
    if (x > len || x <= fence()) return underflow();
    if (len == x) return true;
    if ((len - x) % 2 != 0) return malformed("odd number of items for SETITEMS");
    value_ref target = stack_[x - 1];
    const value_ref* first = stack_.data() + x;
    std::size_t count = len - x;
    switch (kind_of(target)) {
        case value_kind::dict:
            for (std::size_t k = 0; k < count; k += 2)
                if (!hashable(first[k])) return malformed(std::string("unhashable type: '") + type_name(first[k]) + "'");
            if (!insert_keyed(target, first, count, /*pairs=*/true)) return false;
            changed(target);
            break;
        case value_kind::list:
        case value_kind::bytearray: {
            // list[i] = v and bytearray[i] = b, with Python's index rules.
            bool is_list = kind_of(target) == value_kind::list;
            std::string bytes;
            if (!is_list) bytes.assign(at(target).p, at(target).len);
            for (std::size_t k = 0; k < count; k += 2) {
                value_kind ik = kind_of(first[k]);
                if (ik != value_kind::integer && ik != value_kind::boolean && ik != value_kind::big_integer) {
                    if (symbolic(first[k])) return unsupported("SETITEM index computed at load time");
                    return malformed(std::string(is_list ? "list" : "bytearray") +
                                     " indices must be integers or slices, not " + type_name(first[k]));
                }
                std::size_t n = is_list ? items_of(target).items.size() : bytes.size();
                std::int64_t i = ik == value_kind::big_integer ? INT64_MAX : ik == value_kind::boolean
                                                                                 ? at(first[k]).i
                                                                                 : g_view().as_int(first[k]);
                if (i < 0) i += static_cast<std::int64_t>(n);
                if (i < 0 || static_cast<std::uint64_t>(i) >= n)
                    return malformed(std::string(is_list ? "list" : "bytearray") + " index out of range");
                if (is_list) {
                    container& c = items_of(target);
                    c.items[static_cast<std::size_t>(i)] = first[k + 1];
                    held_item(first[k + 1], c.depth);
                    if (c.depth > lim_.max_nesting_depth) return limit("values nested deeper than max_nesting_depth");
                } else {
                    auto b = byte_value(first[k + 1]);
                    if (!b) return false;
                    bytes[static_cast<std::size_t>(i)] = static_cast<char>(*b);
                }
            }
            if (!is_list) set_bytes(target, std::move(bytes));
            else changed(target);
            break;
        }
        default:
            if (!symbolic(target))
                return malformed(std::string("'") + type_name(target) + "' object does not support item assignment");
            apply_to_symbolic(target, &applied_ops::setitems, event_kind::setitem, first, count);
    }
    stack_.resize(x);
    return true;
}

bool machine::load_setitem() {
    if (stack_.size() < 2) return underflow();
    return do_setitems(stack_.size() - 2);
}

bool machine::load_setitems() {
    std::size_t mark = 0;
    return marker(mark) && do_setitems(mark);
}

// ---- sets ---------------------------------------------------------------------

bool machine::load_empty_set() {
    value_ref v;
    return new_container(value_kind::set, v) && push(v);
}

bool machine::load_additems() {
    std::size_t mark = 0;
    if (!marker(mark)) return false;
    std::size_t len = stack_.size();
    if (mark > len || mark <= fence()) return underflow();
    if (len == mark) {
        // pickle.py's load_additems looks up target.add even with nothing
        // to add (an attribute lookup, which a class can make run code).
        if (symbolic(stack_[mark - 1])) note(event_kind::additems, stack_[mark - 1], stack_[mark - 1]);
        return true;
    }
    value_ref target = stack_[mark - 1];
    const value_ref* first = stack_.data() + mark;
    std::size_t count = len - mark;
    if (kind_of(target) == value_kind::set) {
        for (std::size_t k = 0; k < count; ++k)
            if (!hashable(first[k])) return malformed(std::string("unhashable type: '") + type_name(first[k]) + "'");
        if (!insert_keyed(target, first, count, /*pairs=*/false)) return false;
        changed(target);
    } else if (symbolic(target)) {
        apply_to_symbolic(target, &applied_ops::added, event_kind::additems, first, count);
    } else {
        return malformed(std::string("'") + type_name(target) + "' object has no attribute 'add'");
    }
    stack_.resize(mark);
    return true;
}

bool machine::load_frozenset() {
    std::size_t mark = 0;
    if (!marker(mark)) return false;
    for (std::size_t k = mark; k < stack_.size(); ++k)
        if (!hashable(stack_[k])) return malformed(std::string("unhashable type: '") + type_name(stack_[k]) + "'");
    value_ref v;
    if (!new_container(value_kind::frozenset, v)) return false;
    if (!insert_keyed(v, stack_.data() + mark, stack_.size() - mark, /*pairs=*/false)) return false;
    stack_.resize(mark);
    return push(v);
}

// ---- stack manipulation -------------------------------------------------------

bool machine::load_pop() {
    // load_pop: a MARK sitting exactly at the top is popped instead of an item.
    if (!marks_.empty() && marks_.back() == stack_.size()) {
        marks_.pop_back();
        return true;
    }
    if (stack_.size() <= fence()) return underflow();
    stack_.pop_back();
    return true;
}

bool machine::load_dup() {
    if (stack_.size() <= fence()) return underflow();
    return push(stack_.back());
}

bool machine::load_mark() {
    if (marks_.size() >= lim_.max_mark_depth) return limit("more open MARKs than max_mark_depth");
    marks_.push_back(stack_.size());
    return true;
}

bool machine::load_pop_mark() {
    std::size_t mark = 0;
    if (!marker(mark)) return false;
    stack_.resize(mark);
    return true;
}

// ---- memo ---------------------------------------------------------------------

bool machine::load_get() {
    if (arg_.bytes.size() < 2) return truncated();
    auto idx = text::parse_memo_index_line(arg_.bytes, lim_);
    if (!idx) return fail(idx.error());
    if (idx.value() < 0) {
        traced_memo_ = idx.value();
        return malformed("Memo value not found at index " + std::to_string(idx.value()));
    }
    return memo_get(static_cast<std::uint64_t>(idx.value()));
}

bool machine::load_binget() { return memo_get(arg_.u); }

bool machine::load_put() {
    if (arg_.bytes.size() < 2) return truncated();
    if (stack_.size() <= fence()) return underflow();
    auto idx = text::parse_memo_index_line(arg_.bytes, lim_);
    if (!idx) return fail(idx.error());
    if (idx.value() < 0) return malformed("negative PUT argument");
    return memo_put(static_cast<std::uint64_t>(idx.value()), stack_.back());
}

bool machine::load_binput() { return put_top(arg_.u); }

bool machine::load_memoize() { return put_top(memo_.size()); }

// ---- extension registry -------------------------------------------------------

bool machine::load_extension() {
    std::int64_t code = op_ == op::EXT4 ? arg_.i : static_cast<std::int64_t>(arg_.u);
    if (code <= 0) return malformed("EXT specifies code <= 0");
    // CPython looks the code up in copyreg's registry, which the pickle itself
    // may have filled (copyreg.add_extension via REDUCE), and its cache skips
    // find_class. We cannot know the registry, so the code stays symbolic.
    value_ref v;
    if (!new_container(value_kind::ext, v)) return false;
    at(v).i = code;
    note(event_kind::extension, v, v);
    return push(v);
}

// ---- globals and objects ------------------------------------------------------

bool machine::load_global() {
    std::string_view module = arg_.bytes.substr(0, arg_.bytes.size() - 1);
    std::string_view name = arg_.line2.substr(0, arg_.line2.size() - 1);
    if (arg_.bytes.size() < 2 || arg_.line2.size() < 2) return truncated();  // bad_readline
    if (std::string why = text::check_utf8(module, false); !why.empty()) return malformed(why);
    if (std::string why = text::check_utf8(name, false); !why.empty()) return malformed(why);
    value_ref v;
    return make_global(module, name, v) && push(v);
}

bool machine::load_stack_global() {
    value_ref name, module;
    if (!pop(name) || !pop(module)) return false;
    value_kind mk = kind_of(module), nk = kind_of(name);
    if (mk == value_kind::str && nk == value_kind::str) {
        value_ref v;
        return make_global(std::string_view(at(module).p, at(module).len),
                           std::string_view(at(name).p, at(name).len), v) &&
               push(v);
    }
    if (symbolic(module) || symbolic(name))
        return unsupported("STACK_GLOBAL names computed at load time (by a call), which cannot be resolved statically");
    return malformed("STACK_GLOBAL requires str");
}

// The stdlib pickler writes some data types as calls: set and frozenset
// below protocol 4, bytes below 3 (_codecs.encode), bytearray below 5. When
// the call is one of those with plain data arguments, we build the value as
// CPython would (so its type, hashability and later mutations behave the
// same) while the call event still goes to the policy. Any other call stays
// symbolic. Returns false when CPython's call would raise.
bool machine::fold_constructor(value_ref callable, value_ref args, value_ref& out, bool& folded) {
    folded = false;
    if (kind_of(callable) != value_kind::global || applied_on_nothing(callable) == false) return true;
    if (kind_of(args) != value_kind::tuple) return true;
    const global_name& gn = g_.globals[static_cast<std::size_t>(at(callable).i)];
    const auto& args_items = items_of(args).items;
    const std::vector<value_ref> a(args_items.begin(), args_items.end());  // a copy: folding adds containers
    auto is = [&](std::string_view m, std::string_view n) { return gn.module == m && gn.name == n; };
    const bool is_set = is("builtins", "set"), is_frozenset = is("builtins", "frozenset");
    if (is_set || is_frozenset) {
        std::vector<value_ref> elems;
        if (a.size() > 1)
            return malformed(std::string(is_set ? "set" : "frozenset") + " expected at most 1 argument, got " +
                             std::to_string(a.size()));
        if (a.size() == 1) {
            value_kind k = kind_of(a[0]);
            const bool has_items = k == value_kind::list || k == value_kind::tuple || k == value_kind::set ||
                                   k == value_kind::frozenset || k == value_kind::dict;
            const bool has_text = k == value_kind::bytes || k == value_kind::bytearray || k == value_kind::str;
            if ((has_items || has_text) &&
                !fold_within_budget(has_items ? items_of(a[0]).items.size() : at(a[0]).len))
                return true;  // left to the policy as a call (fold_within_budget)
            if (k == value_kind::list || k == value_kind::tuple || k == value_kind::set || k == value_kind::frozenset)
                elems.assign(items_of(a[0]).items.begin(), items_of(a[0]).items.end());
            else if (k == value_kind::dict) {
                const auto& kv = items_of(a[0]).items;
                for (std::size_t i = 0; i < kv.size(); i += 2) elems.push_back(kv[i]);
            } else if (k == value_kind::bytes || k == value_kind::bytearray) {
                for (char c : std::string_view(at(a[0]).p, at(a[0]).len))
                    elems.push_back(value_ref::small_int(static_cast<std::uint8_t>(c)));
            } else if (k == value_kind::str) {
                std::string_view t(at(a[0]).p, at(a[0]).len);
                for (std::size_t i = 0; i < t.size();) {
                    std::size_t start = i;
                    text::next_code_point(t, i);
                    value_ref ch;
                    if (!make_text(value_kind::str, t.substr(start, i - start), ch)) return false;
                    elems.push_back(ch);
                }
            } else if (k == value_kind::none || k == value_kind::boolean || k == value_kind::integer ||
                       k == value_kind::big_integer || k == value_kind::floating) {
                return malformed(std::string("'") + type_name(a[0]) + "' object is not iterable");
            } else {
                return true;  // computed iterables: left to the policy as a call
            }
        }
        for (value_ref e : elems)
            if (!hashable(e)) return malformed(std::string("unhashable type: '") + type_name(e) + "'");
        if (!new_container(is_set ? value_kind::set : value_kind::frozenset, out)) return false;
        if (!insert_keyed(out, elems.data(), elems.size(), /*pairs=*/false)) return false;
        folded = true;
        return true;
    }
    auto latin1 = [&](value_ref s, std::string& bytes) {
        std::string_view t(at(s).p, at(s).len);
        for (std::size_t i = 0; i < t.size();) {
            std::uint32_t cp = text::next_code_point(t, i);
            if (cp > 0xff) return false;
            bytes.push_back(static_cast<char>(cp));
        }
        return true;
    };
    auto is_latin1_name = [&](value_ref e) {
        if (kind_of(e) != value_kind::str) return false;
        std::string_view n(at(e).p, at(e).len);
        return n == "latin1" || n == "latin-1";
    };
    std::string bytes;
    value_kind result_kind = value_kind::bytes;
    if (is("_codecs", "encode")) {
        if (a.size() != 2 || kind_of(a[0]) != value_kind::str || !is_latin1_name(a[1])) return true;
        if (!latin1(a[0], bytes))
            return malformed("'latin-1' codec can't encode characters: ordinal not in range(256)");
    } else if (is("builtins", "bytes")) {
        if (!a.empty()) return true;
    } else if (is("builtins", "bytearray")) {
        result_kind = value_kind::bytearray;
        if (a.size() == 1 && kind_of(a[0]) == value_kind::bytes) {
            bytes.assign(at(a[0]).p, at(a[0]).len);
        } else if (a.size() == 2 && kind_of(a[0]) == value_kind::str && is_latin1_name(a[1])) {
            if (!latin1(a[0], bytes))
                return malformed("'latin-1' codec can't encode characters: ordinal not in range(256)");
        } else if (!a.empty()) {
            return true;
        }
    } else {
        return true;
    }
    if (!fold_within_budget(bytes.size() / 64)) return true;  // left to the policy as a call
    if (!make_text(result_kind, g_.keep(std::move(bytes)), out)) return false;
    folded = true;
    return true;
}

bool machine::call(value_ref callable, value_ref args) {
    value_ref v;
    bool folded = false;
    if (!fold_constructor(callable, args, v, folded)) return false;
    if (!folded && !make_symbolic(value_kind::reduce, {callable, args}, v)) return false;
    note(event_kind::call, callable, v, args);
    return push(v);
}

bool machine::load_reduce() {
    value_ref args, callable;
    if (!pop(args) || !pop(callable)) return false;
    // PyObject_CallObject: the arguments must be a tuple, the callable callable.
    if (!symbolic(args) && kind_of(args) != value_kind::tuple) return malformed("argument list must be a tuple");
    if (!symbolic(callable)) return malformed(std::string("'") + type_name(callable) + "' object is not callable");
    return call(callable, args);
}

bool machine::load_build() {
    if (stack_.size() < 2 || stack_.size() - 2 < fence()) return underflow();
    value_ref state = stack_.back();
    stack_.pop_back();
    value_ref inst = stack_.back();
    if (symbolic(inst)) {
        ++builds_;  // before note(): a container changed from here on changed after this BUILD
        applied_on(inst).states.push_back(state);
        container& c = items_of(inst);
        held_item(state, c.depth);
        if (c.depth > lim_.max_nesting_depth) return limit("values nested deeper than max_nesting_depth");
        note(event_kind::build, inst, inst, state);
        // A loader that reads raw bytes after this BUILD (decode_options::after_build).
        if (opt_.after_build) {
            std::uint64_t skip = opt_.after_build(std::as_bytes(std::span(in_, size_)), out_.graph, inst, pos_);
            // The loader reads those bytes from the file itself, past
            // pickle.py's _Unframer, which has already read the whole frame:
            // inside a frame with bytes left they come from after the frame.
            // joblib's pickler ends the frame before the array data
            // (commit_frame(force=True) in NumpyPickler.save).
            if (skip > 0 && !leave_used_up_frame() && frame_end_ != kNoFrame)
                return malformed("raw data the loader reads after BUILD would come from after the frame that ends at "
                                 "offset " + std::to_string(frame_end_) + ", not from after the BUILD");
            if (skip > remaining())
                return fail(error_kind::truncated, "raw data the loader reads after BUILD runs past the end of the input");
            if (skip > 0) out_.raw_after_build.push_back({inst.index(), pos_, skip});
            pos_ += static_cast<std::size_t>(skip);
        }
        return true;
    }
    // A plain data value has no __setstate__ and no __dict__: only "no state"
    // (None, or (None, {})) goes through load_build without an error.
    if (kind_of(state) == value_kind::none) return true;
    if (symbolic(state)) return unsupported("BUILD on a data value with a state computed at load time");
    if (kind_of(state) == value_kind::tuple && items_of(state).items.size() == 2) {
        value_ref dict_state = items_of(state).items[0], slot_state = items_of(state).items[1];
        if (kind_of(dict_state) == value_kind::dict) {
            return malformed(std::string("'") + type_name(inst) + "' object has no attribute '__dict__'");
        }
        if (kind_of(dict_state) != value_kind::none) return malformed("state is not a dictionary");
        if (kind_of(slot_state) != value_kind::dict) {
            if (symbolic(slot_state)) return unsupported("BUILD slot state computed at load time");
            return malformed("slot state is not a dictionary");
        }
        if (items_of(slot_state).items.empty()) return true;
        return malformed(std::string("'") + type_name(inst) + "' object has no attribute to set");
    }
    if (kind_of(state) == value_kind::dict)
        return malformed(std::string("'") + type_name(inst) + "' object has no attribute '__dict__'");
    return malformed("state is not a dictionary");
}

bool machine::instantiate(value_ref cls, value_ref args) {
    if (!symbolic(cls)) return malformed(std::string("'") + type_name(cls) + "' object is not callable");
    return call(cls, args);
}

bool machine::load_inst() {
    std::size_t mark = 0;
    if (!marker(mark)) return false;
    if (arg_.bytes.size() < 2 || arg_.line2.size() < 2) return truncated();
    // INST lines are decoded as ASCII (a protocol 0 opcode from Python 2).
    std::string_view module = arg_.bytes.substr(0, arg_.bytes.size() - 1);
    std::string_view name = arg_.line2.substr(0, arg_.line2.size() - 1);
    if (std::string why = text::check_ascii(module); !why.empty()) return malformed(why);
    if (std::string why = text::check_ascii(name); !why.empty()) return malformed(why);
    value_ref cls, args;
    if (!make_global(module, name, cls)) return false;
    if (!pop_tuple(mark, args)) return false;
    return instantiate(cls, args);
}

bool machine::load_obj() {
    std::size_t mark = 0;
    if (!marker(mark)) return false;
    if (stack_.size() < mark + 1) return underflow();
    value_ref args, cls;
    if (!pop_tuple(mark + 1, args) || !pop(cls)) return false;
    return instantiate(cls, args);
}

bool machine::load_newobj() {
    const bool ex = op_ == op::NEWOBJ_EX;
    const char* name = ex ? "NEWOBJ_EX" : "NEWOBJ";
    value_ref kwargs = value_ref::node(storage::kNone), args, cls;
    if (ex && !pop(kwargs)) return false;
    if (!pop(args) || !pop(cls)) return false;
    if (!symbolic(cls))
        return malformed(std::string(name) + " class argument must be a type, not " + type_name(cls));
    if (!symbolic(args) && kind_of(args) != value_kind::tuple)
        return malformed(std::string(name) + " args argument must be a tuple, not " + type_name(args));
    if (ex && !symbolic(kwargs) && kind_of(kwargs) != value_kind::dict)
        return malformed(std::string(name) + " kwargs argument must be a dict, not " + type_name(kwargs));
    value_ref v;
    if (ex ? !make_symbolic(value_kind::newobj, {cls, args, kwargs}, v)
           : !make_symbolic(value_kind::newobj, {cls, args}, v))
        return false;
    note(event_kind::instantiate, cls, v, args);
    return push(v);
}

// ---- machine control ----------------------------------------------------------

bool machine::load_proto() {
    if (arg_.u > 5) return malformed("unsupported pickle protocol: " + std::to_string(arg_.u));
    proto_ = static_cast<std::uint8_t>(arg_.u);
    out_.highest_protocol = std::max(out_.highest_protocol, proto_);
    return true;
}

bool machine::load_stop() {
    // Every reader returns the same value here, but the frame goes on past
    // STOP: a file reader that reads the next pickle from the same file
    // starts it at the frame's end (pickle.py, and _pickle.c when it read the
    // frame whole) or just after STOP (_pickle.c serving from a peek). The
    // bytes after STOP then have two readings; CPython's framer always ends
    // the frame with STOP.
    if (frame_end_ != kNoFrame && pos_ < frame_end_) [[unlikely]]
        return malformed("STOP inside a frame that goes on to offset " + std::to_string(frame_end_) +
                         ": the next pickle in a file would start at the frame's end for some readers and "
                         "after STOP for others");
    value_ref v;
    if (!pop(v)) return false;
    out_.root = v;
    mark_held(&v, 1);  // handed to whoever called pickle.load
    // Ends the loop as a failure would (one test per opcode, not two);
    // stopped_ tells them apart.
    stopped_ = true;
    return false;
}

bool machine::load_frame() {
    // pickle.py's _Unframer.load_frame refuses a frame that begins before the
    // current one is used up; _pickle.c reading a file would serve the new
    // frame from the old one's buffer, or drop what is left of the old one.
    // (A FRAME whose argument ends its frame exactly is fine for both.)
    if (frame_end_ != kNoFrame && pos_ < frame_end_)
        return malformed("beginning of a new frame before end of current frame, which ends at offset " +
                         std::to_string(frame_end_) + " (pickle.py refuses this; _pickle.c reading a file reads "
                         "other bytes than pickle.loads)");
    if (arg_.u > static_cast<std::uint64_t>(INT64_MAX))
        return malformed("FRAME length exceeds system's maximum of 9223372036854775807 bytes");
    // _pickle.c reads the whole frame first and fails if it is not there;
    // pickle.py would read what there is and go on. Never safe either way,
    // and of kind truncated, as format detection on the start of a file
    // needs (a frame may be longer than the part it looks at).
    if (arg_.u > size_ - pos_)
        return fail(error_kind::truncated, "pickle data was truncated: FRAME length " + std::to_string(arg_.u) +
                                               " runs past the end of the input, " + std::to_string(size_ - pos_) +
                                               " bytes after it");
    frame_end_ = pos_ + static_cast<std::size_t>(arg_.u);
    end_ = frame_end_;
    return true;
}

bool machine::load_persid() {
    std::string_view pid = arg_.bytes.substr(0, arg_.bytes.size() - 1);
    if (!text::check_ascii(pid).empty()) return malformed("persistent IDs in protocol 0 must be ASCII strings");
    value_ref pid_value, v;
    if (!make_text(value_kind::str, pid, pid_value)) return false;
    if (!make_symbolic(value_kind::persid, {pid_value}, v)) return false;
    note(event_kind::persistent_id, v, v, pid_value);
    return push(v);
}

bool machine::load_binpersid() {
    value_ref pid, v;
    if (!pop(pid)) return false;
    if (!make_symbolic(value_kind::persid, {pid}, v)) return false;
    note(event_kind::persistent_id, v, v, pid);
    return push(v);
}

// ---- dispatch -----------------------------------------------------------------

// Plain function pointers, each wrapping one handler so the compiler can
// inline it: a call through a member pointer must first test for virtual.
constexpr std::array<arg_kind, 256> make_arg_kinds() {
    std::array<arg_kind, 256> kinds{};
    for (const opcode_info& op : kOpcodeTable) kinds[op.code] = op.arg;
    return kinds;
}
constexpr std::array<arg_kind, 256> kArgKinds = make_arg_kinds();

// One opcode: its argument, read as the opcode table says, then its handler.
template <std::uint8_t Code, bool (machine::*F)()>
bool call(machine& m) {
    return m.template read_operand<kArgKinds[Code]>() && (m.*F)();
}

struct dispatch_row {
    std::uint8_t code;
    machine::handler fn;
};
// A class, so that it may name the machine's private handlers.
struct dispatch_table {
static constexpr machine::handler invalid = &call<0, &machine::load_invalid>;
static constexpr dispatch_row rows[] = {
    {op::INT, &call<op::INT, &machine::load_int>}, {op::BININT, &call<op::BININT, &machine::load_binint>},
    {op::BININT1, &call<op::BININT1, &machine::load_binint1>}, {op::BININT2, &call<op::BININT2, &machine::load_binint2>},
    {op::LONG, &call<op::LONG, &machine::load_long>}, {op::LONG1, &call<op::LONG1, &machine::load_counted_long>},
    {op::LONG4, &call<op::LONG4, &machine::load_counted_long>},
    {op::STRING, &call<op::STRING, &machine::load_string>}, {op::BINSTRING, &call<op::BINSTRING, &machine::load_counted_binstring>},
    {op::SHORT_BINSTRING, &call<op::SHORT_BINSTRING, &machine::load_counted_binstring>},
    {op::BINBYTES, &call<op::BINBYTES, &machine::load_counted_binbytes>}, {op::SHORT_BINBYTES, &call<op::SHORT_BINBYTES, &machine::load_counted_binbytes>},
    {op::BINBYTES8, &call<op::BINBYTES8, &machine::load_counted_binbytes>}, {op::BYTEARRAY8, &call<op::BYTEARRAY8, &machine::load_counted_bytearray>},
    {op::NEXT_BUFFER, &call<op::NEXT_BUFFER, &machine::load_next_buffer>}, {op::READONLY_BUFFER, &call<op::READONLY_BUFFER, &machine::load_readonly_buffer>},
    {op::NONE, &call<op::NONE, &machine::load_none>}, {op::NEWTRUE, &call<op::NEWTRUE, &machine::load_true>}, {op::NEWFALSE, &call<op::NEWFALSE, &machine::load_false>},
    {op::UNICODE, &call<op::UNICODE, &machine::load_unicode>}, {op::SHORT_BINUNICODE, &call<op::SHORT_BINUNICODE, &machine::load_counted_binunicode>},
    {op::BINUNICODE, &call<op::BINUNICODE, &machine::load_counted_binunicode>}, {op::BINUNICODE8, &call<op::BINUNICODE8, &machine::load_counted_binunicode>},
    {op::FLOAT, &call<op::FLOAT, &machine::load_float>}, {op::BINFLOAT, &call<op::BINFLOAT, &machine::load_binfloat>},
    {op::EMPTY_LIST, &call<op::EMPTY_LIST, &machine::load_empty_list>}, {op::APPEND, &call<op::APPEND, &machine::load_append>},
    {op::APPENDS, &call<op::APPENDS, &machine::load_appends>}, {op::LIST, &call<op::LIST, &machine::load_list>},
    {op::EMPTY_TUPLE, &call<op::EMPTY_TUPLE, &machine::load_empty_tuple>}, {op::TUPLE, &call<op::TUPLE, &machine::load_tuple>},
    {op::TUPLE1, &call<op::TUPLE1, &machine::load_tuple1>}, {op::TUPLE2, &call<op::TUPLE2, &machine::load_tuple2>}, {op::TUPLE3, &call<op::TUPLE3, &machine::load_tuple3>},
    {op::EMPTY_DICT, &call<op::EMPTY_DICT, &machine::load_empty_dict>}, {op::DICT, &call<op::DICT, &machine::load_dict>},
    {op::SETITEM, &call<op::SETITEM, &machine::load_setitem>}, {op::SETITEMS, &call<op::SETITEMS, &machine::load_setitems>},
    {op::EMPTY_SET, &call<op::EMPTY_SET, &machine::load_empty_set>}, {op::ADDITEMS, &call<op::ADDITEMS, &machine::load_additems>},
    {op::FROZENSET, &call<op::FROZENSET, &machine::load_frozenset>},
    {op::POP, &call<op::POP, &machine::load_pop>}, {op::DUP, &call<op::DUP, &machine::load_dup>}, {op::MARK, &call<op::MARK, &machine::load_mark>},
    {op::POP_MARK, &call<op::POP_MARK, &machine::load_pop_mark>},
    {op::GET, &call<op::GET, &machine::load_get>}, {op::BINGET, &call<op::BINGET, &machine::load_binget>}, {op::LONG_BINGET, &call<op::LONG_BINGET, &machine::load_binget>},
    {op::PUT, &call<op::PUT, &machine::load_put>}, {op::BINPUT, &call<op::BINPUT, &machine::load_binput>}, {op::LONG_BINPUT, &call<op::LONG_BINPUT, &machine::load_binput>},
    {op::MEMOIZE, &call<op::MEMOIZE, &machine::load_memoize>},
    {op::EXT1, &call<op::EXT1, &machine::load_extension>}, {op::EXT2, &call<op::EXT2, &machine::load_extension>}, {op::EXT4, &call<op::EXT4, &machine::load_extension>},
    {op::GLOBAL, &call<op::GLOBAL, &machine::load_global>}, {op::STACK_GLOBAL, &call<op::STACK_GLOBAL, &machine::load_stack_global>},
    {op::REDUCE, &call<op::REDUCE, &machine::load_reduce>}, {op::BUILD, &call<op::BUILD, &machine::load_build>}, {op::INST, &call<op::INST, &machine::load_inst>},
    {op::OBJ, &call<op::OBJ, &machine::load_obj>}, {op::NEWOBJ, &call<op::NEWOBJ, &machine::load_newobj>}, {op::NEWOBJ_EX, &call<op::NEWOBJ_EX, &machine::load_newobj>},
    {op::PROTO, &call<op::PROTO, &machine::load_proto>}, {op::STOP, &call<op::STOP, &machine::load_stop>}, {op::FRAME, &call<op::FRAME, &machine::load_frame>},
    {op::PERSID, &call<op::PERSID, &machine::load_persid>}, {op::BINPERSID, &call<op::BINPERSID, &machine::load_binpersid>},
};
};
// clang-format on
constexpr const auto& kDispatchRows = dispatch_table::rows;

constexpr std::array<machine::handler, 256> make_dispatch() {
    std::array<machine::handler, 256> table{};
    table.fill(dispatch_table::invalid);
    for (const dispatch_row& r : kDispatchRows) table[r.code] = r.fn;
    return table;
}

constexpr std::array<std::uint8_t, std::size(kDispatchRows)> make_handled_codes() {
    std::array<std::uint8_t, std::size(kDispatchRows)> codes{};
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = kDispatchRows[i].code;
    return codes;
}
constexpr auto kHandledCodes = make_handled_codes();

constexpr std::array<machine::handler, 256> kDispatch = make_dispatch();

// Checked on the opcode bytes rather than on the function pointers, which
// sanitizer builds do not let a constant expression compare.
constexpr bool every_opcode_has_a_handler() {
    std::array<bool, 256> handled{};
    std::size_t rows = 0;
    for (std::uint8_t code : kHandledCodes) handled[code] = true, ++rows;
    for (const opcode_info& op : kOpcodeTable)
        if (!handled[op.code]) return false;
    return rows == std::size(kOpcodeTable);
}

static_assert(every_opcode_has_a_handler(), "the opcode table and the dispatch table disagree");

void machine::report_step(std::size_t arg_start) {
    opcode_step step;
    step.offset = op_offset_;
    step.opcode = op_;
    step.protocol = proto_;
    step.raw_arg = {reinterpret_cast<const char*>(in_ + arg_start), pos_ - arg_start};
    const opcode_info* info = find_opcode(op_);
    switch (info->arg) {
        case arg_kind::uint1: case arg_kind::uint2: case arg_kind::uint4: case arg_kind::uint8:
        case arg_kind::counted1: case arg_kind::counted4: case arg_kind::counted8: case arg_kind::counted_long1:
            step.int_arg = static_cast<std::int64_t>(arg_.u);
            step.has_int_arg = true;
            break;
        case arg_kind::int4: case arg_kind::counted_long4:
            step.int_arg = arg_.i;
            step.has_int_arg = true;
            break;
        default:
            break;
    }
    step.memo_index = traced_memo_;
    step.global = traced_global_ ? &g_.globals[traced_global_index_] : nullptr;
    step.stack_depth = stack_.size();
    step.mark_depth = marks_.size();
    observer_->on_opcode(step);
}

void machine::run() {
    out_.start = pos_;
    if (size_ > lim_.max_input_bytes) {
        op_offset_ = pos_;
        fail(error_kind::limit, "limit: input larger than max_input_bytes");
        out_.end = pos_;
        return;
    }
    stack_.reserve(64);
    // A pickle creates at most about one node per byte; reserving a share of
    // that up front (address space, touched only when used) saves the copies
    // of repeated doubling on large inputs.
    g_.nodes.reserve(std::min<std::size_t>((size_ - pos_) / 8 + 16, std::size_t{1} << 22));
    g_.containers.reserve(std::min<std::size_t>((size_ - pos_) / 32 + 16, std::size_t{1} << 20));
    if (observer_) loop<true>();
    else loop<false>();
    out_.end = out_.failure ? op_offset_ : pos_;
}

// The loop, with and without an observer: the plain decode tests nothing
// per opcode for observers.
template <bool Observed>
void machine::loop() {
    // The opcode count and its limit live in locals, which stay in registers
    // across the handler calls; unknown opcodes have a handler of their own.
    std::uint64_t opcodes = out_.opcode_count;
    const std::uint64_t max_opcodes = lim_.max_opcodes;
    while (true) {
        op_offset_ = pos_;
        if (pos_ >= end_ && !(leave_used_up_frame() && pos_ < end_)) [[unlikely]] {
            error e;
            e.kind = error_kind::truncated;
            e.offset = pos_;
            e.reason = "Ran out of input";
            out_.failure = std::move(e);
            break;
        }
        op_ = in_[pos_++];
        if (++opcodes > max_opcodes) [[unlikely]] {
            limit("more opcodes than max_opcodes");
            break;
        }
        if constexpr (Observed) {
            std::size_t arg_start = pos_;
            traced_memo_ = -1;
            traced_global_ = nullptr;
            bool ok = kDispatch[op_](*this);
            if (ok || stopped_) report_step(arg_start);
            if (!ok) break;
            continue;
        }
        // A false return is STOP (stopped_) or a failure.
        if (!kDispatch[op_](*this)) [[unlikely]] break;
    }
    out_.opcode_count = opcodes;
}

}  // namespace

decoding decode(std::span<const std::byte> input, const decode_options& options, std::size_t start,
                decode_observer* observer) {
    decoding out;
    if (start > input.size()) start = input.size();
    machine m(input, options, start, observer, out);
    m.run();
    return out;
}

}  // namespace pickleguard
