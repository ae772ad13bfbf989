// The tensors of a decoded checkpoint, as torch.load would rebuild them.
//
// torch.save pickles a tensor as a call of torch._utils._rebuild_tensor_v2
// (storage, storage_offset, size, stride, requires_grad, backward_hooks[,
// metadata]) whose storage is a persistent id ('storage', <storage class>,
// key, location, numel); an nn.Parameter wraps that call in
// _rebuild_parameter(data, requires_grad, backward_hooks). We read those
// calls from the graph instead of making them, and check every view as
// Tensor.set_ does ("out of bounds for storage of size ...") before a byte
// is read.
#include "pickleguard/convert.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace pickleguard {
namespace {

error convert_error(std::string why, error_kind k = error_kind::unsupported) {
    return error{k, error::no_offset, error::no_opcode, std::move(why)};
}

bool mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }
bool add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) { return !__builtin_add_overflow(a, b, &out); }

struct storage_class_dtype {
    std::string_view name;
    std::optional<tensor_dtype> dtype;  // nullopt: safetensors has no such type
    std::string_view why;
};
// torch/storage.py's typed storages (and the float8 ones torch 2.1+ writes).
const storage_class_dtype kStorageDtypes[] = {
    {"DoubleStorage", tensor_dtype::f64, {}},      {"FloatStorage", tensor_dtype::f32, {}},
    {"HalfStorage", tensor_dtype::f16, {}},        {"BFloat16Storage", tensor_dtype::bf16, {}},
    {"LongStorage", tensor_dtype::i64, {}},        {"IntStorage", tensor_dtype::i32, {}},
    {"ShortStorage", tensor_dtype::i16, {}},       {"CharStorage", tensor_dtype::i8, {}},
    {"ByteStorage", tensor_dtype::u8, {}},         {"BoolStorage", tensor_dtype::boolean, {}},
    {"Float8_e5m2Storage", tensor_dtype::f8_e5m2, {}}, {"Float8_e4m3fnStorage", tensor_dtype::f8_e4m3, {}},
    {"ComplexDoubleStorage", std::nullopt, "complex"}, {"ComplexFloatStorage", std::nullopt, "complex"},
    {"ComplexHalfStorage", std::nullopt, "complex"},
    {"QUInt8Storage", std::nullopt, "quantized"},  {"QInt8Storage", std::nullopt, "quantized"},
    {"QInt32Storage", std::nullopt, "quantized"},  {"QUInt4x2Storage", std::nullopt, "quantized"},
    {"QUInt2x4Storage", std::nullopt, "quantized"},
    {"Float8_e5m2fnuzStorage", std::nullopt, "float8 (fnuz)"}, {"Float8_e4m3fnuzStorage", std::nullopt, "float8 (fnuz)"},
    {"UntypedStorage", std::nullopt, "untyped"},
};

bool is_global(const value_graph& g, value_ref v, std::string_view module, std::string_view name) {
    if (g.kind(v) != value_kind::global) return false;
    const global_name& n = g.global(v);
    return n.module == module && n.name == name;
}

std::string describe_value(const value_graph& g, value_ref v) {
    value_kind k = g.kind(v);
    if (k == value_kind::reduce || k == value_kind::newobj) {
        auto it = g.items(v);
        if (!it.empty() && g.kind(it[0]) == value_kind::global) {
            const global_name& n = g.global(it[0]);
            return std::string(n.module) + "." + std::string(n.name);
        }
    }
    if (k == value_kind::integer || k == value_kind::big_integer) return "int";
    if (k == value_kind::floating) return "float";
    if (k == value_kind::boolean) return "bool";
    return to_string(k);
}

// A dict's pairs, or an OrderedDict's (REDUCE of collections.OrderedDict
// with () and then SETITEMS, as OrderedDict.__reduce__ makes it pickle); a
// repeated key keeps its first place and its last value, as in Python.
std::optional<std::vector<std::pair<value_ref, value_ref>>> dict_pairs(const value_graph& g, value_ref v) {
    std::vector<std::pair<value_ref, value_ref>> out;
    value_kind k = g.kind(v);
    if (k == value_kind::dict) {
        auto it = g.items(v);
        for (std::size_t i = 0; i + 1 < it.size(); i += 2) out.emplace_back(it[i], it[i + 1]);
        return out;
    }
    if (k != value_kind::reduce) return std::nullopt;
    auto call = g.items(v);
    if (call.size() != 2 || !is_global(g, call[0], "collections", "OrderedDict")) return std::nullopt;
    if (g.kind(call[1]) != value_kind::tuple || !g.items(call[1]).empty()) return std::nullopt;
    const applied_ops* ops = g.applied(v);
    if (!ops) return out;
    if (!ops->appended.empty() || !ops->added.empty()) return std::nullopt;
    std::unordered_map<std::string_view, std::size_t> where;
    for (std::size_t i = 0; i + 1 < ops->setitems.size(); i += 2) {
        value_ref key = ops->setitems[i], value = ops->setitems[i + 1];
        if (g.kind(key) == value_kind::str) {
            auto [pos, fresh] = where.emplace(g.text(key), out.size());
            if (!fresh) {
                out[pos->second].second = value;
                continue;
            }
        }
        out.emplace_back(key, value);
    }
    // BUILD states (a state_dict's `_metadata` attribute) do not change the
    // items; the conversion script drops them too.
    return out;
}

std::optional<std::uint64_t> non_negative(const value_graph& g, value_ref v) {
    if (g.kind(v) != value_kind::integer || g.as_int(v) < 0) return std::nullopt;
    return static_cast<std::uint64_t>(g.as_int(v));
}

std::optional<std::vector<std::uint64_t>> int_tuple(const value_graph& g, value_ref v) {
    if (g.kind(v) != value_kind::tuple) return std::nullopt;
    std::vector<std::uint64_t> out;
    for (value_ref item : g.items(v)) {
        auto n = non_negative(g, item);
        if (!n) return std::nullopt;
        out.push_back(*n);
    }
    return out;
}

class extractor {
public:
    extractor(const value_graph& g, const storage_source& s) : g_(g), storages_(s) {}

    // nullopt: not a tensor. An error: a tensor we must not convert.
    result<std::optional<tensor_view>> tensor(std::string_view name, value_ref v, int depth = 0) {
        if (g_.kind(v) != value_kind::reduce) return std::optional<tensor_view>{};
        auto call = g_.items(v);
        if (call.size() != 2 || g_.kind(call[0]) != value_kind::global) return std::optional<tensor_view>{};
        const global_name& fn = g_.global(call[0]);
        if (fn.module != "torch._utils") return std::optional<tensor_view>{};
        auto bad = [&](std::string why, error_kind k = error_kind::unsupported) {
            return convert_error("tensor '" + std::string(name) + "': " + why, k);
        };
        if (g_.kind(call[1]) != value_kind::tuple) return bad("the arguments of " + std::string(fn.name) + " are not a tuple");
        auto args = g_.items(call[1]);
        if (fn.name == "_rebuild_parameter") {
            // _rebuild_parameter(data, requires_grad, backward_hooks)
            if (depth > 0 || args.size() != 3) return bad("_rebuild_parameter takes (data, requires_grad, backward_hooks)");
            if (g_.applied(v)) return bad("a Parameter with state applied to it is not a plain tensor");
            auto inner = tensor(name, args[0], depth + 1);
            if (!inner) return inner.error();
            if (!inner.value()) return bad("the data of a Parameter is not a tensor this converter reads");
            return inner;
        }
        if (fn.name == "_rebuild_qtensor") return bad("a quantized tensor; safetensors has no quantized types");
        bool v2 = fn.name == "_rebuild_tensor_v2";
        if (!v2 && fn.name != "_rebuild_tensor")
            return bad("made by torch._utils." + std::string(fn.name) + ", which this converter does not read");
        // _rebuild_tensor(storage, offset, size, stride);
        // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata]).
        if (v2 ? (args.size() != 6 && args.size() != 7) : args.size() != 4)
            return bad(std::string(fn.name) + " called with " + std::to_string(args.size()) + " arguments");
        if (g_.applied(v)) return bad("a tensor with state applied to it (BUILD) is not a plain tensor");
        if (v2 && args.size() == 7 && g_.kind(args[6]) != value_kind::none) {
            // metadata: a dict of tensor metadata torch sets with
            // torch._utils.set_tensor_metadata; an empty dict changes nothing.
            if (g_.kind(args[6]) != value_kind::dict || !g_.items(args[6]).empty())
                return bad("it carries tensor metadata this converter does not read");
        }
        tensor_view t;
        t.name = name;
        auto off = non_negative(g_, args[1]);
        auto size = int_tuple(g_, args[2]);
        auto stride = int_tuple(g_, args[3]);
        if (!off) return bad("the storage offset is not a non-negative int");
        if (!size) return bad("the size is not a tuple of non-negative ints");
        if (!stride) return bad("the stride is not a tuple of non-negative ints");
        t.offset = *off;
        t.shape = std::move(*size);
        t.stride = std::move(*stride);
        auto st = storage(name, args[0]);
        if (!st) return st.error();
        t.dtype = st.value().dtype;
        t.storage = st.value().key;
        t.bytes = st.value().bytes.bytes;
        t.big_endian = st.value().bytes.big_endian;
        auto ok = check_view(t);
        if (!ok) return bad(ok.error().reason, ok.error().kind);
        return std::optional<tensor_view>{std::move(t)};
    }

private:
    struct known_storage {
        std::string key;
        tensor_dtype dtype;
        std::uint64_t numel;
        storage_bytes bytes;
    };

    result<known_storage> storage(std::string_view name, value_ref v) {
        auto bad = [&](std::string why, error_kind k = error_kind::unsupported) {
            return convert_error("tensor '" + std::string(name) + "': " + why, k);
        };
        if (g_.kind(v) != value_kind::persid || g_.items(v).empty()) return bad("its storage is not a persistent id");
        value_ref pid = g_.items(v)[0];
        if (g_.kind(pid) != value_kind::tuple) return bad("its storage's persistent id is not a tuple");
        auto t = g_.items(pid);
        // ('storage', storage_type, key, location, numel) in zip files; legacy
        // files add view_metadata, None unless the storage is a view of another.
        if (t.size() != 5 && t.size() != 6) return bad("its storage's persistent id is not ('storage', class, key, location, numel)");
        if (g_.kind(t[0]) != value_kind::str || g_.text(t[0]) != "storage" || g_.kind(t[1]) != value_kind::global ||
            g_.kind(t[2]) != value_kind::str || g_.kind(t[3]) != value_kind::str)
            return bad("its storage's persistent id is not ('storage', class, key, location, numel)");
        if (t.size() == 6 && g_.kind(t[5]) != value_kind::none)
            return bad("its storage is a view of another storage (legacy view_metadata), which this converter does not read");
        auto numel = non_negative(g_, t[4]);
        if (!numel) return bad("its storage's element count is not a non-negative int");
        const global_name& cls = g_.global(t[1]);
        auto dt = dtype_of_storage_class(std::string(cls.module) + "." + std::string(cls.name));
        if (!dt) return bad(dt.error().reason);
        std::string key(g_.text(t[2]));
        auto it = seen_.find(key);
        if (it != seen_.end()) {
            // torch.load keeps the first storage of a key and views it with
            // the first class: two records of one key that disagree are a lie.
            if (it->second.dtype != dt.value() || it->second.numel != *numel)
                return bad("its storage '" + key + "' is named twice with different classes or sizes", error_kind::malformed);
            return it->second;
        }
        std::uint64_t nbytes = 0;
        if (!mul(*numel, element_size(dt.value()), nbytes)) return bad("its storage's byte size overflows");
        auto bytes = storages_(key, dt.value(), *numel);
        if (!bytes) return bad(bytes.error().reason, bytes.error().kind);
        if (bytes.value().bytes.size() != nbytes)
            return bad("its storage '" + key + "' holds " + std::to_string(bytes.value().bytes.size()) +
                           " bytes but its persistent id asks for " + std::to_string(nbytes),
                       error_kind::malformed);
        known_storage k{key, dt.value(), *numel, bytes.value()};
        seen_.emplace(key, k);
        return k;
    }

    const value_graph& g_;
    const storage_source& storages_;
    std::map<std::string, known_storage> seen_;
};

}  // namespace

std::string_view safetensors_name(tensor_dtype t) noexcept {
    switch (t) {
        case tensor_dtype::boolean: return "BOOL";
        case tensor_dtype::u8: return "U8";
        case tensor_dtype::i8: return "I8";
        case tensor_dtype::f8_e5m2: return "F8_E5M2";
        case tensor_dtype::f8_e4m3: return "F8_E4M3";
        case tensor_dtype::i16: return "I16";
        case tensor_dtype::u16: return "U16";
        case tensor_dtype::f16: return "F16";
        case tensor_dtype::bf16: return "BF16";
        case tensor_dtype::i32: return "I32";
        case tensor_dtype::u32: return "U32";
        case tensor_dtype::f32: return "F32";
        case tensor_dtype::f64: return "F64";
        case tensor_dtype::i64: return "I64";
        case tensor_dtype::u64: return "U64";
    }
    return "?";
}

std::uint64_t element_size(tensor_dtype t) noexcept {
    switch (t) {
        case tensor_dtype::boolean: case tensor_dtype::u8: case tensor_dtype::i8:
        case tensor_dtype::f8_e5m2: case tensor_dtype::f8_e4m3: return 1;
        case tensor_dtype::i16: case tensor_dtype::u16: case tensor_dtype::f16: case tensor_dtype::bf16: return 2;
        case tensor_dtype::i32: case tensor_dtype::u32: case tensor_dtype::f32: return 4;
        case tensor_dtype::f64: case tensor_dtype::i64: case tensor_dtype::u64: return 8;
    }
    return 1;
}

result<tensor_dtype> dtype_of_storage_class(std::string_view q) {
    for (std::string_view prefix : {"torch.cuda.", "torch.storage.", "torch."}) {
        if (!q.starts_with(prefix)) continue;
        std::string_view name = q.substr(prefix.size());
        for (const storage_class_dtype& c : kStorageDtypes) {
            if (c.name != name) continue;
            if (c.dtype) return *c.dtype;
            return convert_error("its storage class " + std::string(q) + " is " + std::string(c.why) +
                                 ", which safetensors has no type for");
        }
    }
    return convert_error("its storage class " + std::string(q) + " is not one torch.save writes");
}

std::uint64_t tensor_view::numel() const {
    std::uint64_t n = 1;
    for (std::uint64_t d : shape) n *= d;
    return n;
}

result<void> check_view(const tensor_view& t) {
    if (t.shape.size() != t.stride.size())
        return convert_error("size has " + std::to_string(t.shape.size()) + " dimensions but stride has " +
                             std::to_string(t.stride.size()), error_kind::malformed);
    std::uint64_t n = 1;
    for (std::uint64_t d : t.shape)
        if (!mul(n, d, n)) return convert_error("its element count overflows", error_kind::malformed);
    std::uint64_t nbytes = 0;
    if (!mul(n, element_size(t.dtype), nbytes)) return convert_error("its byte size overflows", error_kind::malformed);
    if (n == 0) return boost::outcome_v2::success();  // nothing is read (Tensor.set_ requires no storage then)
    // The last element any index reaches: offset + sum((size_i - 1) * stride_i).
    std::uint64_t last = t.offset;
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
        std::uint64_t step = 0;
        if (!mul(t.shape[i] - 1, t.stride[i], step) || !add(last, step, last))
            return convert_error("its strides reach past any storage (overflow)", error_kind::malformed);
    }
    std::uint64_t end = 0;
    if (!add(last, 1, end) || !mul(end, element_size(t.dtype), end) || end > t.bytes.size())
        return convert_error("size, stride and storage offset reach element " + std::to_string(last) + " of storage '" +
                                 t.storage + "', which holds " + std::to_string(t.bytes.size() / element_size(t.dtype)) +
                                 " elements (out of bounds)",
                             error_kind::malformed);
    // Only a view whose elements overlap (a stride of 0, an expanded tensor)
    // has more bytes than its storage: refused, so that a few bytes of
    // storage cannot ask for terabytes of output.
    if (nbytes > t.bytes.size())
        return convert_error("its " + std::to_string(nbytes) + " bytes of elements overlap in a storage of " +
                                 std::to_string(t.bytes.size()) + " bytes (an expanded view)",
                             error_kind::malformed);
    return boost::outcome_v2::success();
}

result<extracted_tensors> extract_tensors(const value_graph& g, value_ref root, const storage_source& storages) {
    extracted_tensors out;
    auto pairs = dict_pairs(g, root);
    if (!pairs) return convert_error("the checkpoint is a " + describe_value(g, root) + ", not a dict of tensors");
    // The conversion script: `if "state_dict" in loaded: loaded = loaded["state_dict"]`.
    for (const auto& [k, v] : *pairs) {
        if (g.kind(k) != value_kind::str || g.text(k) != "state_dict") continue;
        auto inner = dict_pairs(g, v);
        if (!inner) return convert_error("its 'state_dict' is a " + describe_value(g, v) + ", not a dict of tensors");
        for (const auto& [ok, ov] : *pairs)
            if (!(g.kind(ok) == value_kind::str && g.text(ok) == "state_dict"))
                out.unwrapped.push_back(g.kind(ok) == value_kind::str ? std::string(g.text(ok)) : describe_value(g, ok));
        pairs = std::move(inner);
        break;
    }
    extractor x(g, storages);
    for (const auto& [k, v] : *pairs) {
        if (g.kind(k) != value_kind::str)
            return convert_error("a key of the state dict is a " + describe_value(g, k) + ", not a str");
        std::string name(g.text(k));
        auto t = x.tensor(name, v);
        if (!t) return t.error();
        if (t.value()) out.tensors.push_back(std::move(*t.value()));
        else out.non_tensors.push_back(name + " (" + describe_value(g, v) + ")");
    }
    return out;
}

}  // namespace pickleguard
