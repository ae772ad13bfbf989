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
// A plain pickle has no NumpyArrayWrapper, so the hook never fires and this is
// exactly scan_pickle_stream. A stream that has one is judged a second time
// as plain pickle.load reads it (judge_as_plain_pickle).
#include "read/container_scan.hpp"

#include <algorithm>
#include <limits>

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
// (when the class itself was called), then each BUILD's dict state.
struct wrapper_fields {
    std::optional<value_ref> shape, dtype, alignment;
};

class joblib_reader {
public:
    joblib_reader(scan_context& ctx, bytes_view stream, const std::string& member)
        : ctx_(ctx), stream_(stream), member_(member) {}

    bool wrappers_seen() const { return wrappers_seen_; }

    std::uint64_t after_build(bytes_view input, const value_graph& g, value_ref node, std::uint64_t offset) {
        // Only the stream joblib.load reads; a nested pickle.loads argument is
        // read by plain pickle, which skips nothing.
        if (input.data() != stream_.data() || input.size() != stream_.size()) return 0;
        auto fields = wrapper_of(g, node);
        if (!fields) return 0;
        ctx_.joblib_seen = true;
        wrappers_seen_ = true;
        std::string where = " (NumpyArrayWrapper BUILD ending at offset " + std::to_string(offset) + ")";
        if (!fields->shape || !fields->dtype) return unreadable("its state has no shape or dtype" + where, offset);
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
        if (!dtype) return unreadable("its dtype is not numpy.dtype(...) with a state" + where, offset);
        if (dtype->has_object) {
            // read_array: pickle.load(file_handle) — a whole pickle, judged with this policy.
            decoding d = decode(input, ctx_.options.decode, static_cast<std::size_t>(offset));
            std::uint64_t end = std::max<std::uint64_t>(d.end, offset);
            scan_pickle_stream(input.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(end - offset)),
                               ctx_.p, ctx_.kb, ctx_.options,
                               join_member(member_, "object array at offset " + std::to_string(offset)), ctx_.report);
            return end - offset;
        }
        std::uint64_t skip = 0;
        // joblib >= 1.2 (numpy_array_alignment_bytes set): one byte giving the
        // padding length, then the padding.
        if (fields->alignment && g.kind(*fields->alignment) != value_kind::none) {
            if (offset >= input.size()) return 1;  // the decoder reports the truncation
            skip = 1 + static_cast<std::uint64_t>(input[static_cast<std::size_t>(offset)]);
        }
        if (dtype->itemsize && count > std::numeric_limits<std::uint64_t>::max() / dtype->itemsize)
            return unreadable("its size overflows" + where, offset);
        return skip + count * dtype->itemsize;
    }

private:
    struct dtype_info {
        std::uint64_t itemsize = 0;
        bool has_object = false;
    };

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
            for (value_ref state : ops->states) {
                if (g.kind(state) == value_kind::tuple && g.items(state).size() == 2) state = g.items(state)[0];
                if (g.kind(state) != value_kind::dict) continue;
                auto kv = g.items(state);
                for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
                    if (g.kind(kv[i]) != value_kind::str) continue;
                    std::string_view key = g.text(kv[i]);
                    if (key == "shape") f.shape = kv[i + 1];
                    else if (key == "dtype") f.dtype = kv[i + 1];
                    else if (key == "numpy_array_alignment_bytes") f.alignment = kv[i + 1];
                }
            }
        }
        return f;
    }

    // numpy.dtype(type_string, align, copy) with BUILD state
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata]):
    // elsize is set for flexible types (str, bytes, void, structured); the
    // others have it in the type string ('f8', 'c16', 'M8' is 8).
    static std::optional<dtype_info> dtype_of(const value_graph& g, value_ref v) {
        if (g.kind(v) != value_kind::reduce) return std::nullopt;
        auto items = g.items(v);
        if (!is_global(g, items[0], "numpy", "dtype")) return std::nullopt;
        if (g.kind(items[1]) != value_kind::tuple || g.items(items[1]).empty()) return std::nullopt;
        value_ref type = g.items(items[1])[0];
        if (g.kind(type) != value_kind::str) return std::nullopt;
        std::string_view t = g.text(type);
        if (t.empty()) return std::nullopt;
        dtype_info info;
        info.has_object = t[0] == 'O';
        const applied_ops* ops = g.applied(v);
        if (ops && !ops->states.empty() && g.kind(ops->states.back()) == value_kind::tuple) {
            auto st = g.items(ops->states.back());
            if (st.size() >= 8) {
                auto elsize = int_of(g, st[5]);
                auto flags = int_of(g, st[7]);
                if (elsize && *elsize > 0) info.itemsize = static_cast<std::uint64_t>(*elsize);
                if (flags && (*flags & 1)) info.has_object = true;  // NPY_ITEM_REFCOUNT: holds objects
            }
        }
        if (!info.itemsize) {
            std::uint64_t n = 0;
            std::size_t i = 1;
            for (; i < t.size() && t[i] >= '0' && t[i] <= '9' && n < (1u << 20); ++i) n = n * 10 + (t[i] - '0');
            if (i == 1) return std::nullopt;
            info.itemsize = n;
        }
        return info;
    }

    std::uint64_t unreadable(const std::string& why, std::uint64_t offset) {
        ctx_.add("joblib-array-unreadable", severity::high,
                 "joblib.load reads raw array bytes after this NumpyArrayWrapper, but how many cannot be told: " + why +
                     ". The rest of the stream was read as pickle opcodes",
                 member_, offset);
        return 0;
    }

    scan_context& ctx_;
    bytes_view stream_;
    const std::string& member_;
    bool wrappers_seen_ = false;
};

// The same stream as pickle.load reads it (pandas.read_pickle, a plain
// pickle.load of a .pkl that joblib wrote): nothing is skipped, so the bytes
// after each NumpyArrayWrapper are opcodes. A file can be benign under
// joblib.load and run code under pickle.load (the differential fuzz target
// found such streams), so whatever that reading resolves or calls beyond the
// policy is a finding too. Its decode errors are not: real array bytes are
// not opcodes, and pickle.load stops at them with an exception.
void judge_as_plain_pickle(scan_context& ctx, bytes_view bytes, const std::string& member) {
    file_report plain;
    scan_pickle_stream(bytes, ctx.p, ctx.kb, ctx.options, member, plain);
    file_report& out = ctx.report;
    auto known = [&](const finding& f) {
        for (const finding& g : out.findings)
            if (g.rule == f.rule && g.member == f.member && g.offset == f.offset && g.module == f.module &&
                g.name == f.name)
                return true;
        return false;
    };
    for (finding& f : plain.findings) {
        if (!f.violation || f.rule == "malformed-pickle" || f.rule == "limit-exceeded" || f.rule == "data-after-stop" ||
            known(f))
            continue;
        f.message = "if read with pickle.load rather than joblib.load (array bytes are then opcodes): " + f.message;
        out.findings.push_back(std::move(f));
    }
    for (global_report& g : plain.globals) {
        bool listed = std::any_of(out.globals.begin(), out.globals.end(), [&](const global_report& h) {
            return h.member == g.member && h.module == g.module && h.name == g.name && h.raw_module == g.raw_module &&
                   h.raw_name == g.raw_name;
        });
        if (!listed) out.globals.push_back(std::move(g));
    }
}

}  // namespace

void scan_pickle(scan_context& ctx, bytes_view bytes, const std::string& member) {
    joblib_reader reader(ctx, bytes, member);
    scan_options options = ctx.options;
    options.decode.after_build = [&reader](bytes_view input, const value_graph& g, value_ref node,
                                           std::uint64_t offset) { return reader.after_build(input, g, node, offset); };
    scan_pickle_stream(bytes, ctx.p, ctx.kb, options, member, ctx.report);
    if (reader.wrappers_seen()) judge_as_plain_pickle(ctx, bytes, member);
}

}  // namespace pickleguard::read
