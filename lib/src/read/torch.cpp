// PyTorch checkpoints, as torch.load reads them (torch/serialization.py).
//
// Zip format (torch.save >= 1.6): `<root>/data.pkl` is unpickled with a
// persistent_load that turns ('storage', <storage class>, key, location,
// numel) into the bytes of the record `<root>/data/<key>`; only the central
// directory tells us those records' sizes, so a 2 GB checkpoint is checked
// without reading its tensors. A zip holding `constants.pkl` is a TorchScript
// archive, which torch.load hands to torch.jit.load.
//
// Legacy format (_use_new_zipfile_serialization=False): five pickles back to
// back — magic number, protocol version, sys info, the object, the list of
// storage keys — then for each key an 8-byte little-endian element count and
// that many elements. Every one of the five is a full pickle.load.
#include "read/zip_reader.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>
#include "pickleguard/rules.hpp"

namespace pickleguard::read {
namespace {

// Bytes per element of each storage class torch.save names in a persistent
// id (torch/storage.py, torch._utils._element_size).
struct storage_class {
    std::string_view name;
    std::uint64_t element_size;
};
constexpr storage_class kStorageClasses[] = {
    {"DoubleStorage", 8},      {"FloatStorage", 4},       {"HalfStorage", 2},    {"BFloat16Storage", 2},
    {"LongStorage", 8},        {"IntStorage", 4},         {"ShortStorage", 2},   {"CharStorage", 1},
    {"ByteStorage", 1},        {"BoolStorage", 1},        {"ComplexDoubleStorage", 16},
    {"ComplexFloatStorage", 8}, {"QUInt8Storage", 1},     {"QInt8Storage", 1},   {"QInt32Storage", 4},
    {"QUInt4x2Storage", 1},    {"QUInt2x4Storage", 1},    {"UntypedStorage", 1},
    {"Float8_e5m2Storage", 1}, {"Float8_e4m3fnStorage", 1}, {"Float8_e5m2fnuzStorage", 1},
    {"Float8_e4m3fnuzStorage", 1},
};

std::string qualified(const global_name& g) { return std::string(g.module) + "." + std::string(g.name); }

// ('storage', <class>, key, location, numel[, view_metadata]) as the judge's
// persistent-id rules describe it; nullopt for anything else (the judge
// reports those against the policy).
struct storage_ref {
    std::string storage_class;
    std::string key;
    std::optional<std::uint64_t> numel;
    std::uint64_t offset;  // of the persistent-id opcode
};

std::vector<storage_ref> storage_refs(const decoding& d) {
    std::vector<storage_ref> out;
    const value_graph& g = d.graph;
    for (const event& e : d.events) {
        if (e.kind != event_kind::persistent_id) continue;
        value_ref pid = e.operand;
        if (g.kind(pid) != value_kind::tuple) continue;
        auto t = g.items(pid);
        if (t.size() < 5 || g.kind(t[0]) != value_kind::str || g.text(t[0]) != "storage") continue;
        if (g.kind(t[1]) != value_kind::global || g.kind(t[2]) != value_kind::str) continue;
        storage_ref r;
        r.storage_class = qualified(g.global(t[1]));
        r.key = std::string(g.text(t[2]));
        if (g.kind(t[4]) == value_kind::integer && g.as_int(t[4]) >= 0) r.numel = static_cast<std::uint64_t>(g.as_int(t[4]));
        r.offset = e.offset;
        out.push_back(std::move(r));
    }
    return out;
}

bool size_of(const storage_ref& r, std::uint64_t& bytes) {
    std::uint64_t el = torch_element_size(r.storage_class);
    if (!el || !r.numel || *r.numel > (std::uint64_t{1} << 62) / el) return false;
    bytes = *r.numel * el;
    return true;
}

std::uint64_t read_le8(bytes_view b, std::size_t at) {
    std::uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v |= static_cast<std::uint64_t>(b[at + k]) << (8 * k);
    return v;
}

}  // namespace

std::string miniz_fold(std::string_view name) {
    // MZ_TOLOWER: ASCII letters only, bytes >= 0x80 compare as they are.
    std::string out(name);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::optional<std::string> torch_root(const std::vector<zip_entry>& entries) {
    // PyTorchStreamReader::init: "file in archive is not in a subdirectory"
    // when the first name has no '/'.
    if (entries.empty()) return std::nullopt;
    std::size_t slash = entries.front().name.find('/');
    if (slash == std::string::npos) return std::nullopt;
    return entries.front().name.substr(0, slash + 1);
}

bool torch_record_is(std::string_view entry_name, std::string_view root, std::string_view record) {
    return entry_name.size() == root.size() + record.size() &&
           miniz_fold(entry_name) == miniz_fold(std::string(root) + std::string(record));
}

std::uint64_t torch_element_size(std::string_view qualified_class) {
    // "torch.FloatStorage", the CUDA classes legacy files name, and
    // torch.storage.UntypedStorage (whose numel is its byte count).
    for (std::string_view prefix : {"torch.cuda.", "torch.storage.", "torch."}) {
        if (!qualified_class.starts_with(prefix)) continue;
        std::string_view name = qualified_class.substr(prefix.size());
        for (const storage_class& c : kStorageClasses)
            if (c.name == name) return c.element_size;
    }
    return 0;
}

namespace {

// TorchScript source (code/**.py): text that torch.jit.load compiles, never
// unpickles. UTF-8 text without control bytes other than tab and newlines.
bool is_source_text(bytes_view b) {
    for (std::byte c : b) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 && u != '\t' && u != '\n' && u != '\r' && u != '\f') return false;
    }
    return true;
}

}  // namespace

void read_torch_zip(read_context& ctx, bytes_view file, const zip_archive& z, const location& member, int depth,
                    bool torchscript) {
    const std::string root = torch_root(z.entries).value_or("");
    const std::string folded_root = miniz_fold(root);
    if (torchscript)
        ctx.add(rule::torchscript_archive, severity::medium,
                "a TorchScript archive (it holds constants.pkl): torch.load hands it to torch.jit.load, which runs the "
                "TorchScript code in " + root + "code/. The pickles were scanned; the code was not",
                member);
    // Every record torch asks for goes through miniz's case-insensitive
    // lookup; a name that folds to the same string is the same record to it
    // (which copy miniz's sorted binary search picks is not ours to guess:
    // all of them are judged).
    std::unordered_multimap<std::string, const zip_entry*> by_name;
    for (const zip_entry& e : z.entries) by_name.emplace(miniz_fold(e.name), &e);

    // The pickles torch reads, with the folder their storages live in.
    struct pickle_entry {
        std::string_view name;
        std::string_view storage_dir;
    };
    const pickle_entry pickles[] = {{"data.pkl", "data/"}, {"constants.pkl", "constants/"}};
    std::map<std::string, bool> referenced;  // folded record name -> referenced by a storage
    std::vector<const zip_entry*> done;
    for (const pickle_entry& pe : pickles) {
        auto [lo, hi] = by_name.equal_range(folded_root + std::string(pe.name));
        for (auto it = lo; it != hi; ++it) {
            const zip_entry& e = *it->second;
            done.push_back(&e);
            location name = member.member(e.name);
            auto data = read_entry(ctx, file, e, name);
            if (!data) continue;
            // The storages: each must name a record whose size is what torch
            // reads for it (numel elements of the class's size).
            std::vector<storage_ref> refs;
            const std::function<void(const decoding&)> keep_refs = [&refs](const decoding& d) { refs = storage_refs(d); };
            ctx.host.pickle(data->view, name, &keep_refs);
            for (const storage_ref& r : refs) {
                std::string record = root + std::string(pe.storage_dir) + r.key;
                auto [rlo, rhi] = by_name.equal_range(miniz_fold(record));
                if (rlo == rhi) {
                    ctx.add(rule::torch_storage_mismatch, severity::high,
                            "the storage with key '" + r.key + "' has no record " + record +
                                ": torch.load fails here, or a loader finds the bytes somewhere else",
                            name, r.offset);
                    continue;
                }
                referenced[miniz_fold(record)] = true;
                std::uint64_t want = 0;
                bool known = size_of(r, want);
                for (auto rit = rlo; rit != rhi; ++rit) {
                    if (!known) {
                        ctx.add(rule::torch_storage_mismatch, severity::high,
                                "the storage '" + r.key + "' has class " + r.storage_class +
                                    " or an element count whose byte size cannot be told, so its record cannot be checked",
                                name, r.offset);
                        break;
                    }
                    if (rit->second->size != want)
                        ctx.add(rule::torch_storage_mismatch, severity::high,
                                "the record " + record + " holds " + std::to_string(rit->second->size) +
                                    " bytes but its persistent id asks for " + std::to_string(*r.numel) + " x " +
                                    std::to_string(torch_element_size(r.storage_class)) + " = " + std::to_string(want) +
                                    " (" + r.storage_class + "): the record's bytes are not what the pickle describes",
                                name, r.offset);
                }
            }
        }
    }
    // Everything else: storage records are only sized (above); any other
    // entry, whatever its name, is scanned if it holds a pickle or a container.
    // torch.save's own small records, which torch reads as text.
    constexpr std::string_view kMetadata[] = {"version", ".data/version", "byteorder", ".data/serialization_id",
                                              ".format_version", ".storage_alignment"};
    for (const zip_entry& e : z.entries) {
        if (std::find(done.begin(), done.end(), &e) != done.end()) continue;
        const std::string folded = miniz_fold(e.name);
        if (referenced.count(folded)) continue;
        const bool under_root = folded.starts_with(folded_root);
        std::string_view local = under_root ? std::string_view(folded).substr(folded_root.size()) : std::string_view();
        location name = member.member(e.name);
        if (under_root && e.size <= 64 &&
            std::find(std::begin(kMetadata), std::end(kMetadata), local) != std::end(kMetadata)) {
            auto head = peek_entry(file, e, 64);
            if (!pickle_reading_acts(view_of(head)) && !starts_like_pickle(view_of(head)) &&
                !detect_container(view_of(head))) {
                ctx.not_scanned(name);
                continue;
            }
        }
        if (torchscript && under_root && local.starts_with("code/") && local.ends_with(".py")) {
            // TorchScript source: torch.jit.load compiles it; decoding it as a
            // pickle would report its text as globals ("lass Linear(Module):").
            auto data = read_entry(ctx, file, e, name);
            if (!data) continue;
            if (is_source_text(data->view)) {
                ctx.not_scanned(name);
                continue;
            }
            ctx.host.member(data->view, name, depth + 1);
            continue;
        }
        read_zip_entry(ctx, file, e, name, depth);
    }
}

void read_torch_legacy(read_context& ctx, bytes_view b, const location& member) {
    static constexpr const char* kNames[] = {"magic number", "protocol version", "sys info", "object", "storage keys"};
    std::vector<decoding> parts;
    std::size_t offset = 0;
    for (int i = 0; i < 5; ++i) {
        location name = member.member("legacy pickle " + std::to_string(i + 1) + " (" + kNames[i] + ")");
        decoding d = decode(b, ctx.options.decode, offset);
        if (!d.complete()) {
            // pickle.load raises here, after running what came before.
            ctx.host.pickle(b.subspan(offset), name);
            return;
        }
        ctx.host.pickle(b.subspan(offset, static_cast<std::size_t>(d.end) - offset), name);
        offset = static_cast<std::size_t>(d.end);
        parts.push_back(std::move(d));
    }
    // The raw storages, in the order of the key list, each as numel elements
    // of the class the object pickle named for that key.
    std::map<std::string, storage_ref> by_key;
    for (const storage_ref& r : storage_refs(parts[3])) by_key.emplace(r.key, r);
    const decoding& keys = parts[4];
    const value_graph& g = keys.graph;
    location raw = member.member("storages");
    if (g.kind(*keys.root) != value_kind::list) {
        ctx.add(rule::container_corrupt, severity::high, "the fifth pickle is not the list of storage keys torch expects",
                raw, offset);
        return;
    }
    for (value_ref k : g.items(*keys.root)) {
        if (g.kind(k) != value_kind::str) {
            ctx.add(rule::container_corrupt, severity::high, "a storage key is not a str", raw, offset);
            return;
        }
        std::string key(g.text(k));
        auto it = by_key.find(key);
        std::uint64_t bytes = 0;
        if (it == by_key.end() || !size_of(it->second, bytes)) {
            ctx.add(rule::torch_storage_mismatch, severity::high,
                    "the storage key '" + key + "' names no storage of known element size in the object pickle; torch "
                    "cannot tell how many bytes follow, so the rest of the file was not checked",
                    raw, offset);
            return;
        }
        if (b.size() - offset < 8) {
            ctx.add(rule::torch_storage_mismatch, severity::high, "the file ends before storage '" + key + "'", raw, offset);
            return;
        }
        std::uint64_t count = read_le8(b, offset);
        if (count != *it->second.numel) {
            ctx.add(rule::torch_storage_mismatch, severity::high,
                    "storage '" + key + "' holds " + std::to_string(count) + " elements but its persistent id says " +
                        std::to_string(*it->second.numel) + " (torch refuses the size mismatch)",
                    raw, offset);
            return;
        }
        offset += 8;
        if (bytes > b.size() - offset) {
            ctx.add(rule::torch_storage_mismatch, severity::high,
                    "the file ends inside storage '" + key + "' (" + std::to_string(bytes) + " bytes expected)", raw, offset);
            return;
        }
        offset += static_cast<std::size_t>(bytes);
    }
    if (offset < b.size()) {
        ctx.add(rule::trailing_data, severity::high,
                std::to_string(b.size() - offset) + " bytes follow the last storage; torch.load never reads them, so "
                "they are there for some other reader. A pickle there is scanned too",
                member, offset);
        bytes_view rest = b.subspan(offset);
        if (starts_like_pickle(rest))
            ctx.host.pickle(rest, member.member("after the storages"));
    }
}

}  // namespace pickleguard::read
