// Pickle streams, read as joblib.load reads them.
//
// joblib.dump writes each numpy array as a NumpyArrayWrapper placeholder, and
// right after the BUILD that gives it its state, the array's raw bytes — not
// pickle opcodes. joblib's NumpyUnpickler.load_build (numpy_pickle.py) then
// calls NumpyArrayWrapper.read_array, which for joblib >= 1.2 reads one
// padding-length byte and that many padding bytes, then exactly
// prod(shape) * dtype.itemsize bytes; for a dtype holding Python objects it
// calls plain pickle.load on the stream instead (a nested pickle). Unpickling
// goes on after them. We follow the same layout through the decoder's
// after_build hook, so array bytes are never decoded as opcodes (no false
// findings) and the nested pickles are judged with the same policy.
//
// A plain pickle has no NumpyArrayWrapper, so the hook never fires. A stream
// that has one has a second reading, plain pickle.load's, which the scan
// stage judges too.
#include "pickleguard/opcodes.hpp"
#include "pickleguard/rules.hpp"
#include "read/container_scan.hpp"
#include "read/numpy_dtype.hpp"

#include <algorithm>
#include <limits>
#include <memory>

namespace pickleguard::read {
namespace {

bool is_global(const value_graph& g, value_ref v, std::string_view module, std::string_view name) {
    if (g.kind(v) != value_kind::global) return false;
    const global_name& gn = g.global(v);
    return gn.module == module && gn.name == name;
}

std::optional<std::int64_t> int_of(const value_graph& g, value_ref v) {
    if (g.kind(v) == value_kind::integer) return g.as_int(v);
    return std::nullopt;
}

// The attributes a NumpyArrayWrapper ends up with: constructor arguments
// (when the class itself was called), then each BUILD's dict and slot state.
struct wrapper_fields {
    std::optional<value_ref> shape, dtype, alignment;
    bool unknown_state = false;  // fields we cannot follow: made by another callable, odd or computed state
};

class joblib_reader {
public:
    joblib_reader(read_context& ctx, bytes_view stream, const location& member, bool& seen)
        : ctx_(ctx), stream_(stream), member_(member), wrappers_seen_(seen) {}

    std::uint64_t after_build(bytes_view input, const value_graph& g, value_ref node, std::uint64_t offset) {
        // Only the stream joblib.load reads; a nested pickle.loads argument is
        // read by plain pickle, which skips nothing.
        if (input.data() != stream_.data() || input.size() != stream_.size()) return 0;
        auto fields = wrapper_of(g, node);
        if (!fields) return 0;
        ctx_.joblib_seen = true;
        wrappers_seen_ = true;
        std::string where = " (NumpyArrayWrapper BUILD ending at offset " + std::to_string(offset) + ")";
        if (fields->unknown_state)
            return unreadable("the wrapper is made by another callable, or a BUILD state is not a dict or a (dict, slot "
                              "dict) pair of str keys (a key computed while loading may equal 'shape')" + where,
                              offset);
        if (!fields->shape || !fields->dtype) return unreadable("its state has no shape or dtype" + where, offset);
        // joblib reads the array from unpickler.file_handle, the file itself. The
        // pure-Python unpickler has already read a whole frame into memory
        // (_Unframer.load_frame), so inside a frame that goes on after this BUILD
        // the array bytes come from the frame's end, and the rest of the frame is
        // unpickled after them. joblib.dump ends the frame at the BUILD.
        if (auto frame_end = frame_end_after(input, offset); frame_end && *frame_end > offset) {
            ctx_.add(rule::joblib_array_in_frame, severity::high,
                     "joblib.load reads this array's bytes from the end of the frame at offset " +
                         std::to_string(*frame_end) + ", not after the BUILD, and unpickles the rest of the frame "
                         "afterwards; pickleguard does not follow that order" + where,
                     member_, offset);
            return 0;
        }
        std::uint64_t count = 1;
        value_ref shape = *fields->shape;
        if (g.kind(shape) != value_kind::tuple && g.kind(shape) != value_kind::list)
            return unreadable("its shape is not a tuple" + where, offset);
        for (value_ref d : g.items(shape)) {
            auto n = int_of(g, d);
            if (!n || *n < 0) return unreadable("a dimension of its shape is not a small non-negative int" + where, offset);
            if (*n != 0 && count > std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(*n))
                return unreadable("its shape overflows" + where, offset);
            count *= static_cast<std::uint64_t>(*n);
        }
        auto dtype = dtype_of(g, *fields->dtype);
        if (!dtype) return unreadable("its dtype is not one pickleguard can build (" + dtype.error().reason + ")" + where, offset);
        const dtype_info& dt = dtype.value();
        if (dt.has_object) {
            // read_array: pickle.load(file_handle) — a whole pickle, judged with this policy.
            // A fresh pickle.load: its own stack, memo and framing, from here.
            decoding d = decode(input, ctx_.options.decode, static_cast<std::size_t>(offset));
            std::uint64_t end = std::max<std::uint64_t>(d.end, offset);
            walked_to_ = end;
            ctx_.host.pickle(input.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(end - offset)),
                             member_.member("object array at offset " + std::to_string(offset)));
            return end - offset;
        }
        std::uint64_t skip = 0;
        // joblib >= 1.2 (numpy_array_alignment_bytes set): one byte giving the
        // padding length, then the padding.
        if (fields->alignment && g.kind(*fields->alignment) != value_kind::none) {
            if (offset >= input.size()) return 1;  // the decoder reports the truncation
            skip = 1 + static_cast<std::uint64_t>(input[static_cast<std::size_t>(offset)]);
        }
        if (dt.itemsize && count > std::numeric_limits<std::uint64_t>::max() / dt.itemsize)
            return unreadable("its size overflows" + where, offset);
        walked_to_ = offset + skip + count * dt.itemsize;
        return skip + count * dt.itemsize;
    }

private:

    std::optional<wrapper_fields> wrapper_of(const value_graph& g, value_ref node) const {
        constexpr std::string_view kModule = "joblib.numpy_pickle", kName = "NumpyArrayWrapper";
        value_kind k = g.kind(node);
        if (k != value_kind::newobj && k != value_kind::reduce) return std::nullopt;
        auto items = g.items(node);
        wrapper_fields f;
        bool called_class = false;
        if (is_global(g, items[0], kModule, kName)) {
            called_class = k == value_kind::reduce;
        } else if (k == value_kind::reduce && (is_global(g, items[0], "copyreg", "_reconstructor") ||
                                               is_global(g, items[0], "copyreg", "__newobj__"))) {
            // Protocols 0/1 and copyreg.__newobj__: the class is the first argument.
            if (g.kind(items[1]) != value_kind::tuple || g.items(items[1]).empty() ||
                !is_global(g, g.items(items[1])[0], kModule, kName))
                return std::nullopt;
        } else {
            // Made some other way (an allowed callable that instantiates its
            // argument, such as sklearn's newObj): joblib's isinstance test
            // still sees a wrapper, but its fields are not ones we follow.
            if (g.kind(items[1]) == value_kind::tuple)
                for (value_ref a : g.items(items[1]))
                    if (is_global(g, a, kModule, kName)) {
                        f.unknown_state = true;
                        return f;
                    }
            return std::nullopt;
        }
        if (called_class && g.kind(items[1]) == value_kind::tuple) {
            // NumpyArrayWrapper(subclass, shape, order, dtype, allow_mmap, numpy_array_alignment_bytes=16)
            auto args = g.items(items[1]);
            if (args.size() > 1) f.shape = args[1];
            if (args.size() > 3) f.dtype = args[3];
            // numpy_array_alignment_bytes defaults to 16 in the constructor.
            f.alignment = args.size() > 5 ? args[5] : value_ref::small_int(16);
        }
        if (const applied_ops* ops = g.applied(node)) {
            // pickle._Unpickler.load_build (joblib's NumpyUnpickler subclasses the
            // pure-Python unpickler): a (state, slotstate) pair is split; the dict
            // state's items go into __dict__, then setattr(inst, k, v) for each
            // slot state item. Every BUILD in turn: the last write wins.
            auto apply = [&](value_ref dict) -> bool {
                if (g.kind(dict) == value_kind::none) return true;
                if (g.kind(dict) != value_kind::dict) return false;
                auto kv = g.items(dict);
                for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
                    if (g.kind(kv[i]) != value_kind::str) {
                        // A key computed while loading may be a str subclass
                        // (numpy.str_('shape')) that CPython merges with a str
                        // key: which write wins is then unknown.
                        if (is_symbolic(g.kind(kv[i]))) return false;
                        continue;  // a number or a tuple is no attribute
                    }
                    std::string_view key = g.text(kv[i]);
                    if (key == "shape") f.shape = kv[i + 1];
                    else if (key == "dtype") f.dtype = kv[i + 1];
                    else if (key == "numpy_array_alignment_bytes") f.alignment = kv[i + 1];
                }
                return true;
            };
            for (value_ref state : ops->states) {
                value_ref dict_state = state;
                std::optional<value_ref> slot_state;
                if (g.kind(state) == value_kind::tuple && g.items(state).size() == 2) {
                    dict_state = g.items(state)[0];
                    slot_state = g.items(state)[1];
                }
                if (!apply(dict_state) || (slot_state && !apply(*slot_state))) f.unknown_state = true;
            }
        }
        return f;
    }

    // numpy.dtype(obj, align, copy), then __setstate__ for each BUILD state
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata]).
    // obj is read with the same dtype parser as .npy headers ('f8,O' and
    // '(2,)O' hold objects too). arraydescr_setstate keeps a built-in type's
    // own size and object flag, but for flexible types (S, U, V: structures
    // and subarrays too) it takes elsize and the flags from the state, so
    // there hasobject is flags & NPY_ITEM_REFCOUNT, whatever the fields say
    // (measured on numpy 1.24: 'O' with flags 0 still holds objects, 'V16'
    // with an object field and flags 0 does not).
    static result<dtype_info> dtype_of(const value_graph& g, value_ref v) {
        auto no = [](std::string why) { return error{error_kind::unsupported, error::no_offset, error::no_opcode, std::move(why)}; };
        if (g.kind(v) != value_kind::reduce) return no("not a numpy.dtype(...) call");
        auto items = g.items(v);
        if (!is_global(g, items[0], "numpy", "dtype")) return no("not a numpy.dtype(...) call");
        if (g.kind(items[1]) != value_kind::tuple || g.items(items[1]).empty()) return no("numpy.dtype without arguments");
        auto args = g.items(items[1]);
        value_ref type = args[0];
        if (g.kind(type) != value_kind::str) return no("numpy.dtype of something other than a str");
        bool align = false;
        if (args.size() > 1) {
            value_kind ak = g.kind(args[1]);
            if (ak == value_kind::boolean || ak == value_kind::integer) align = g.as_int(args[1]) != 0;
            else if (ak != value_kind::none) return no("numpy.dtype's align argument is not a bool");
        }
        auto built = dtype_from_string(g.text(type), align);
        if (!built) return built.error();
        dtype_info info = built.value();
        const applied_ops* ops = g.applied(v);
        if (!ops || ops->states.empty()) return info;
        value_ref state = ops->states.back();
        if (g.kind(state) != value_kind::tuple) return no("a numpy.dtype state that is not a tuple");
        bool flexible = info.kind == 'S' || info.kind == 'U' || info.kind == 'V';
        if (!flexible) return info;  // setstate keeps a built-in type's size and flags
        auto st = g.items(state);
        if (st.size() < 8) return no("a numpy.dtype state without flags (numpy computes them from the fields)");
        auto elsize = int_of(g, st[5]);
        auto flags = int_of(g, st[7]);
        if (!elsize || *elsize < 0) return no("a numpy.dtype state whose elsize is not a size");
        if (!flags || *flags < -128 || *flags > 255) return no("a numpy.dtype state whose flags are not a byte");
        info.itemsize = static_cast<std::uint64_t>(*elsize);
        std::int64_t fl = *flags < 0 ? *flags + 128 : *flags;  // as arraydescr_setstate normalises a signed char
        info.has_object = (fl & 1) != 0;                           // NPY_ITEM_REFCOUNT
        return info;
    }

    // Where the frame holding `offset` ends, walking the opcodes as the
    // pure-Python unpickler reads them (nullopt: not in a frame, or lost).
    std::optional<std::uint64_t> frame_end_after(bytes_view input, std::uint64_t offset) {
        if (walked_to_ > offset) {  // never happens when decoding is linear; start over
            walked_to_ = 0;
            frame_end_ = 0;
        }
        auto le = [&](std::uint64_t at, int n) {
            std::uint64_t v = 0;
            for (int k = n - 1; k >= 0; --k) v = v << 8 | static_cast<std::uint64_t>(input[static_cast<std::size_t>(at) + k]);
            return v;
        };
        std::uint64_t p = walked_to_;
        const std::uint64_t n = input.size();
        while (p < offset) {
            const opcode_info* op = find_opcode(static_cast<std::uint8_t>(input[static_cast<std::size_t>(p)]));
            if (!op) return std::nullopt;
            std::uint64_t arg = p + 1, next = arg;
            auto line_end = [&](std::uint64_t from) -> std::uint64_t {
                while (from < n && input[static_cast<std::size_t>(from)] != std::byte{'\n'}) ++from;
                return from + 1;
            };
            auto counted = [&](int width) -> std::uint64_t {
                if (arg + width > n) return n + 1;
                std::uint64_t len = le(arg, width);
                return len > n ? n + 1 : arg + width + len;  // no wrap-around on a lying length
            };
            switch (op->arg) {
                case arg_kind::none:
                case arg_kind::uint1:
                case arg_kind::uint2:
                case arg_kind::uint4:
                case arg_kind::int4:
                case arg_kind::uint8: next = arg + fixed_arg_size(op->arg); break;
                case arg_kind::line: next = line_end(arg); break;
                case arg_kind::line_pair: next = line_end(line_end(arg)); break;
                case arg_kind::counted_long1: case arg_kind::counted1: next = counted(1); break;
                case arg_kind::counted_long4: case arg_kind::counted4: next = counted(4); break;
                case arg_kind::counted8: next = counted(8); break;
                default: return std::nullopt;
            }
            if (next > n || next <= p) return std::nullopt;
            if (op->code == 0x95 /* FRAME */) frame_end_ = le(arg, 8) > n ? n + 1 : next + le(arg, 8);
            p = next;
        }
        walked_to_ = p;
        if (p != offset) return std::nullopt;
        return frame_end_ > offset ? std::optional<std::uint64_t>(frame_end_) : std::nullopt;
    }

    std::uint64_t unreadable(const std::string& why, std::uint64_t offset) {
        ctx_.add(rule::joblib_array_unreadable, severity::high,
                 "joblib.load reads raw array bytes after this NumpyArrayWrapper, but how many cannot be told: " + why +
                     ". The rest of the stream was read as pickle opcodes",
                 member_, offset);
        return 0;
    }

    read_context& ctx_;
    bytes_view stream_;
    location member_;
    bool& wrappers_seen_;
    std::uint64_t walked_to_ = 0;  // frame_end_after's position in the stream
    std::uint64_t frame_end_ = 0;  // end of the last FRAME seen there
};

}  // namespace

std::function<std::uint64_t(bytes_view, const value_graph&, value_ref, std::uint64_t)>
joblib_array_reader(read_context& ctx, bytes_view stream, const location& member, bool& seen) {
    auto reader = std::make_shared<joblib_reader>(ctx, stream, member, seen);
    return [reader](bytes_view input, const value_graph& g, value_ref node, std::uint64_t offset) {
        return reader->after_build(input, g, node, offset);
    };
}

}  // namespace pickleguard::read
