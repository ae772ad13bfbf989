// Where a checkpoint's tensors are, by format (pickleguard/convert.hpp,
// read_tensor_records). The convert stage has scanned the file first; each
// format is read here as its loader reads it, but only for data:
// torch.save's zip (data.pkl's tensors, whose storages are the records
// data/<key>, in the byte order the `byteorder` record names), torch's
// legacy stream (the storages follow the fifth pickle, each an 8-byte
// element count and the elements, little-endian as torch writes them),
// .npy (the header's descr, shape and fortran_order) and .npz (its .npy
// members, named as numpy.load's keys).
#include "pickleguard/convert.hpp"

#include "read/container_scan.hpp"
#include "read/npy_header.hpp"
#include "read/zip_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_map>

namespace pickleguard {
namespace {

error fail(std::string why, error_kind k = error_kind::unsupported) {
    return error{k, error::no_offset, error::no_opcode, std::move(why)};
}

// read_entry reports through a host; the scan already judged every entry,
// so what it would say again goes nowhere.
class quiet_host final : public read::reader_host {
public:
    void member(read::bytes_view, const location&, int) override {}
    void pickle(read::bytes_view, const location&, const std::function<void(const decoding&)>*) override {}
    std::uint64_t pickles() const override { return 0; }
};

struct entry_reader {
    read::bytes_view file;
    const scan_options& options;
    std::vector<std::vector<std::byte>>& owned;

    // A zip entry's bytes: a view into the file when stored (torch.save
    // stores its records), inflated otherwise.
    result<read::bytes_view> bytes(const read::zip_entry& e) {
        if (e.method == 0 && !e.encrypted()) {
            if (!e.data_offset || e.size != e.compressed_size || e.data_offset > file.size() ||
                e.compressed_size > file.size() - e.data_offset)
                return fail("the zip entry " + e.name + " is not where its header says", error_kind::malformed);
            return file.subspan(static_cast<std::size_t>(e.data_offset), static_cast<std::size_t>(e.size));
        }
        quiet_host host;
        std::vector<finding> findings;
        read::read_context ctx{host, options, findings};
        auto data = read::read_entry(ctx, file, e, location{}.member(e.name));
        if (!data || !findings.empty())
            return fail("the zip entry " + e.name + " could not be read whole", error_kind::malformed);
        if (data->owned.empty()) return data->view;
        owned.push_back(std::move(data->owned));
        return read::bytes_view(owned.back().data(), owned.back().size());
    }
};

decode_options decode_options_for(const convert_options& o) {
    decode_options d = o.scan.decode;
    d.limit = tighter(d.limit, o.scan_policy->limits());
    return d;
}

result<extracted_tensors> torch_zip_tensors(read::bytes_view file, const convert_options& o,
                                            std::vector<std::vector<std::byte>>& owned) {
    auto z = read::parse_zip(file, o.scan.containers.max_entries);
    if (!z) return z.error();
    auto root = read::torch_root(z.value().entries);
    if (!root) return fail("the zip has no top folder, so torch.load refuses it", error_kind::malformed);
    std::unordered_map<std::string, std::vector<const read::zip_entry*>> by_name;
    for (const read::zip_entry& e : z.value().entries) by_name[read::miniz_fold(e.name)].push_back(&e);
    auto record = [&](std::string_view name) -> result<const read::zip_entry*> {
        auto it = by_name.find(read::miniz_fold(*root + std::string(name)));
        if (it == by_name.end()) return fail("there is no record " + *root + std::string(name), error_kind::malformed);
        if (it->second.size() != 1)
            return fail("the record " + *root + std::string(name) + " is in the zip " + std::to_string(it->second.size()) +
                            " times (which one torch reads is miniz's choice)",
                        error_kind::malformed);
        return it->second.front();
    };
    entry_reader reader{file, o.scan, owned};
    bool big_endian = false;
    // torch.load: an absent byteorder record means the writer's (little, on
    // every machine torch.save ran on before the record existed).
    if (by_name.count(read::miniz_fold(*root + "byteorder"))) {
        auto e = record("byteorder");
        if (!e) return e.error();
        auto b = reader.bytes(*e.value());
        if (!b) return b.error();
        std::string_view order = read::text_of(b.value());
        if (order == "big") big_endian = true;
        else if (order != "little")
            return fail("the byteorder record says '" + std::string(order) + "', not little or big", error_kind::malformed);
    }
    auto pkl = record("data.pkl");
    if (!pkl) return pkl.error();
    auto stream = reader.bytes(*pkl.value());
    if (!stream) return stream.error();
    decoding d = decode(stream.value(), decode_options_for(o));
    if (!d.complete())
        return fail("data.pkl did not decode: " + (d.failure ? describe(*d.failure) : std::string("no STOP")),
                    error_kind::malformed);
    storage_source storages = [&](std::string_view key, tensor_dtype, std::uint64_t) -> result<storage_bytes> {
        auto e = record("data/" + std::string(key));
        if (!e) return e.error();
        auto b = reader.bytes(*e.value());
        if (!b) return b.error();
        return storage_bytes{b.value(), big_endian};
    };
    return extract_tensors(d.graph, *d.root, storages);
}

std::uint64_t read_le8(read::bytes_view b, std::size_t at) {
    std::uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v |= static_cast<std::uint64_t>(b[at + k]) << (8 * k);
    return v;
}

result<extracted_tensors> torch_legacy_tensors(read::bytes_view b, const convert_options& o) {
    std::vector<decoding> parts;
    std::size_t offset = 0;
    const decode_options dopt = decode_options_for(o);
    for (int i = 0; i < 5; ++i) {
        decoding d = decode(b, dopt, offset);
        if (!d.complete()) return fail("legacy pickle " + std::to_string(i + 1) + " did not decode", error_kind::malformed);
        offset = static_cast<std::size_t>(d.end);
        parts.push_back(std::move(d));
    }
    // Each key's element size and count, from the persistent ids of the
    // object pickle: the storage area cannot be walked without them.
    struct sized {
        std::uint64_t element = 0, numel = 0;
    };
    std::unordered_map<std::string, sized> sizes;
    const value_graph& og = parts[3].graph;
    for (const event& e : parts[3].events) {
        if (e.kind != event_kind::persistent_id || og.kind(e.operand) != value_kind::tuple) continue;
        auto t = og.items(e.operand);
        if (t.size() < 5 || og.kind(t[1]) != value_kind::global || og.kind(t[2]) != value_kind::str ||
            og.kind(t[4]) != value_kind::integer || og.as_int(t[4]) < 0)
            continue;
        const global_name& cls = og.global(t[1]);
        std::uint64_t el = read::torch_element_size(std::string(cls.module) + "." + std::string(cls.name));
        sizes.emplace(std::string(og.text(t[2])), sized{el, static_cast<std::uint64_t>(og.as_int(t[4]))});
    }
    const value_graph& kg = parts[4].graph;
    if (kg.kind(*parts[4].root) != value_kind::list)
        return fail("the fifth pickle is not the list of storage keys", error_kind::malformed);
    std::unordered_map<std::string, read::bytes_view> area;
    for (value_ref k : kg.items(*parts[4].root)) {
        if (kg.kind(k) != value_kind::str) return fail("a storage key is not a str", error_kind::malformed);
        std::string key(kg.text(k));
        auto it = sizes.find(key);
        std::uint64_t bytes = 0;
        if (it == sizes.end() || !it->second.element ||
            __builtin_mul_overflow(it->second.numel, it->second.element, &bytes))
            return fail("the storage key '" + key + "' names no storage of known size", error_kind::malformed);
        if (b.size() - offset < 8) return fail("the file ends before storage '" + key + "'", error_kind::malformed);
        if (read_le8(b, offset) != it->second.numel)
            return fail("storage '" + key + "' holds a different element count than its persistent id", error_kind::malformed);
        offset += 8;
        if (bytes > b.size() - offset) return fail("the file ends inside storage '" + key + "'", error_kind::malformed);
        if (!area.emplace(key, b.subspan(offset, static_cast<std::size_t>(bytes))).second)
            return fail("the storage key '" + key + "' is listed twice", error_kind::malformed);
        offset += static_cast<std::size_t>(bytes);
    }
    storage_source storages = [&](std::string_view key, tensor_dtype, std::uint64_t) -> result<storage_bytes> {
        auto it = area.find(std::string(key));
        if (it == area.end()) return fail("storage '" + std::string(key) + "' is not in the storage list", error_kind::malformed);
        // torch writes legacy storages little-endian whatever the machine
        // (THPStorage_writeFileRaw swaps on big-endian hosts).
        return storage_bytes{it->second, false};
    };
    return extract_tensors(parts[3].graph, *parts[3].root, storages);
}

// One .npy as a tensor view on its own data.
result<tensor_view> npy_tensor(read::bytes_view b, std::string name) {
    auto h = read::read_npy_header(b);
    if (!h) return fail("'" + name + "': " + describe(h.error()), error_kind::malformed);
    const read::npy_header& hd = h.value();
    auto bad = [&](std::string why, error_kind k = error_kind::unsupported) { return fail("array '" + name + "': " + why, k); };
    if (hd.dtype.structured || hd.dtype.subarray || hd.dtype.has_object || hd.descr.size() < 3)
        return bad("its dtype is not a plain number type safetensors has");
    char order = hd.descr[0], kind = hd.descr[1];
    std::string_view size = std::string_view(hd.descr).substr(2);
    struct np_type {
        char kind;
        std::string_view size;
        tensor_dtype dtype;
    };
    static constexpr np_type kTypes[] = {
        {'f', "8", tensor_dtype::f64}, {'f', "4", tensor_dtype::f32}, {'f', "2", tensor_dtype::f16},
        {'i', "8", tensor_dtype::i64}, {'i', "4", tensor_dtype::i32}, {'i', "2", tensor_dtype::i16},
        {'i', "1", tensor_dtype::i8},  {'u', "8", tensor_dtype::u64}, {'u', "4", tensor_dtype::u32},
        {'u', "2", tensor_dtype::u16}, {'u', "1", tensor_dtype::u8},  {'b', "1", tensor_dtype::boolean},
    };
    auto t = std::find_if(std::begin(kTypes), std::end(kTypes), [&](const np_type& x) { return x.kind == kind && x.size == size; });
    if (t == std::end(kTypes) || (order != '<' && order != '>' && order != '|' && order != '='))
        return bad("its dtype '" + hd.descr + "' has no safetensors type (complex, datetime, strings and records do not)");
    tensor_view v;
    v.name = std::move(name);
    v.dtype = t->dtype;
    v.big_endian = order == '>';
    v.storage = v.name;
    std::uint64_t n = 1;
    for (std::int64_t d : hd.shape) {
        if (d < 0 || __builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n)) return bad("its shape is not a size");
        v.shape.push_back(static_cast<std::uint64_t>(d));
    }
    std::uint64_t nbytes = 0;
    if (!hd.shape_fits || __builtin_mul_overflow(n, element_size(v.dtype), &nbytes)) return bad("its size overflows");
    if (hd.data_at > b.size() || nbytes > b.size() - hd.data_at)
        return bad("the file holds fewer bytes than its header describes");
    v.bytes = b.subspan(hd.data_at, static_cast<std::size_t>(nbytes));
    v.stride.assign(v.shape.size(), 0);
    std::uint64_t step = 1;
    // fortran_order: the first index varies fastest in the file.
    for (std::size_t k = 0; k < v.shape.size(); ++k) {
        std::size_t i = hd.fortran_order ? k : v.shape.size() - 1 - k;
        v.stride[i] = step;
        step *= std::max<std::uint64_t>(v.shape[i], 1);
    }
    auto ok = check_view(v);
    if (!ok) return bad(ok.error().reason, ok.error().kind);
    return v;
}

result<extracted_tensors> npz_tensors(read::bytes_view file, const convert_options& o,
                                      std::vector<std::vector<std::byte>>& owned) {
    auto z = read::parse_zip(file, o.scan.containers.max_entries);
    if (!z) return z.error();
    entry_reader reader{file, o.scan, owned};
    extracted_tensors out;
    std::set<std::string> names;
    for (const read::zip_entry& e : z.value().entries) {
        // NpzFile.files: a member's name without ".npy"; numpy.load reads a
        // member that starts with the .npy magic as an array, others as bytes.
        std::string name = e.name.ends_with(".npy") ? e.name.substr(0, e.name.size() - 4) : e.name;
        if (!names.insert(name).second) return fail("the key '" + name + "' is in the .npz twice", error_kind::malformed);
        auto b = reader.bytes(e);
        if (!b) return b.error();
        if (b.value().size() < 6 || read::text_of(b.value().first(6)) != "\x93NUMPY") {
            out.non_tensors.push_back(name + " (not an .npy)");
            continue;
        }
        auto t = npy_tensor(b.value(), name);
        if (!t) return t.error();
        out.tensors.push_back(std::move(t.value()));
    }
    return out;
}

}  // namespace

result<extracted_tensors> read_tensor_records(std::span<const std::byte> input, std::string_view format,
                                              const convert_options& o, std::vector<std::vector<std::byte>>& owned) {
    if (format == "pytorch-zip") return torch_zip_tensors(input, o, owned);
    if (format == "pytorch-legacy") return torch_legacy_tensors(input, o);
    if (format == "npz") return npz_tensors(input, o, owned);
    if (format == "npy") {
        auto t = npy_tensor(input, o.array_name);
        if (!t) return t.error();
        extracted_tensors e;
        e.tensors.push_back(std::move(t.value()));
        return e;
    }
    return fail("a " + (format.empty() ? std::string("file of unknown format") : std::string(format)) +
                    " file is not a checkpoint this converter reads (PyTorch zip or legacy, .npy, .npz)",
                error_kind::usage);
}

}  // namespace pickleguard
