// What a file is, by its first bytes (never its name), in the order that
// keeps magic numbers that are also pickle opcodes apart: "\x93NUMPY" starts
// with MEMOIZE, "BZh" with BINBYTES, "PK" with PERSID, zstd's 0x28 is MARK
// and lzma's 0x5d EMPTY_LIST, so every container magic is tried before the
// pickle opcodes.
#include "read/container_scan.hpp"
#include "read/zip_reader.hpp"

#include "pickleguard/opcodes.hpp"

#include <algorithm>
#include <cstring>

namespace pickleguard::read {
namespace {

bool starts_with(bytes_view b, std::string_view magic, std::size_t at = 0) {
    return b.size() >= at + magic.size() && std::memcmp(b.data() + at, magic.data(), magic.size()) == 0;
}

// A protocol 0/1 pickle has no PROTO: decode a window of it and call it a
// pickle when it reaches STOP, does something a loader would act on, or is
// still going when the window ends. Text that merely starts with an opcode
// letter fails on the first line.
constexpr std::size_t kSniffWindow = 64 * 1024;

format classify_zip(bytes_view b) {
    auto z = parse_zip(b, 1'000'000);
    if (!z) return format::zip;
    const auto& entries = z.value().entries;
    if (entries.empty()) return format::zip;
    // As torch.load: PyTorchStreamReader takes the prefix from the first
    // record's folder, _is_torchscript_zip looks for 'constants.pkl' among
    // the records with that prefix cut (getAllRecords, an exact compare), and
    // _load then asks for data.pkl through miniz's case-insensitive lookup.
    if (auto root = torch_root(entries)) {
        bool data_pkl = false, constants_pkl = false;
        for (const zip_entry& e : entries) {
            data_pkl |= torch_record_is(e.name, *root, "data.pkl");
            constants_pkl |= e.name == *root + "constants.pkl";
        }
        if (constants_pkl) return format::torchscript;
        if (data_pkl) return format::pytorch_zip;
    }
    // numpy.savez: every member an .npy (numpy.load reads members by magic).
    bool all_npy = std::all_of(entries.begin(), entries.end(), [&](const zip_entry& e) {
        auto head = peek_entry(b, e, 6);
        return starts_with(view_of(head), "\x93NUMPY");
    });
    return all_npy ? format::npz : format::zip;
}

}  // namespace

bool starts_like_pickle(bytes_view b) {
    if (b.empty()) return false;
    if (b[0] == std::byte{0x80}) return b.size() >= 2 && static_cast<unsigned>(b[1]) <= 5;
    if (!find_opcode(static_cast<std::uint8_t>(b[0]))) return false;
    bytes_view window = b.first(std::min(b.size(), kSniffWindow));
    decoding d = decode(window);
    if (d.complete() || !d.events.empty()) return true;
    if (d.failure && d.failure->kind == error_kind::truncated && window.size() < b.size()) {
        // The window cut an opcode short (a 70 KB GLOBAL line is one opcode):
        // judge the whole stream, or a long first argument would hide a
        // payload from directory scans. Anything that runs at least one
        // opcode is a pickle; the scan then says whether it is safe.
        decoding full = decode(b);
        return full.complete() || !full.events.empty() || (full.failure && full.failure->offset > 0);
    }
    return false;
}

bool is_torch_legacy(bytes_view b) {
    if (!starts_with(b, "\x80")) return false;
    decode_options o;
    o.limit.max_opcodes = 16;
    decoding d = decode(b.first(std::min<std::size_t>(b.size(), 64)), o);
    if (!d.complete() || d.graph.kind(*d.root) != value_kind::big_integer) return false;
    static constexpr std::uint8_t kMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    auto v = d.graph.big_int_bytes(*d.root);
    return v.size() == sizeof kMagic && std::equal(v.begin(), v.end(), kMagic);
}

bool is_torch_legacy_tar(bytes_view bytes);  // archive.cpp

std::optional<format> detect_container(bytes_view b) {
    if (starts_with(b, "PK\x03\x04") || starts_with(b, std::string_view("PK\x05\x06", 4))) return classify_zip(b);
    if (starts_with(b, "\x93NUMPY")) return format::npy;
    if (starts_with(b, "\x1f\x8b\x08")) return format::gzip;
    if (starts_with(b, "BZh") && b.size() > 3 && b[3] >= std::byte{'1'} && b[3] <= std::byte{'9'}) return format::bz2;
    if (starts_with(b, std::string_view("\xfd" "7zXZ\x00", 6))) return format::xz;
    if (starts_with(b, "\x28\xb5\x2f\xfd")) return format::zstd;
    if (starts_with(b, "\x04\x22\x4d\x18")) return format::lz4;
    if (starts_with(b, "7z\xbc\xaf\x27\x1c")) return format::seven_z;
    if (starts_with(b, "ustar", 257)) return is_torch_legacy_tar(b) ? format::pytorch_legacy_tar : format::tar;
    if (starts_with(b, "ZF0x")) return format::joblib_zf;
    // LZMA "alone" (.lzma, joblib's compress='lzma'): properties byte 0x5d
    // (lc=3 lp=0 pb=2, what every encoder writes), then the dictionary size.
    if (b.size() >= 13 && b[0] == std::byte{0x5d} && b[1] == std::byte{0} && b[2] == std::byte{0}) return format::lzma;
    // zlib (joblib's compress='zlib'): deflate with a 32K window, header checksum.
    if (b.size() >= 2 && b[0] == std::byte{0x78} &&
        ((static_cast<unsigned>(b[0]) << 8) | static_cast<unsigned>(b[1])) % 31 == 0)
        return format::zlib;
    return std::nullopt;
}

std::optional<format> detect(bytes_view b) {
    if (auto container = detect_container(b)) return container;
    if (starts_like_pickle(b)) return is_torch_legacy(b) ? format::pytorch_legacy : format::pickle;
    return std::nullopt;
}

bool pickle_reading_acts(bytes_view b) {
    if (b.empty() || !find_opcode(static_cast<std::uint8_t>(b[0]))) return false;
    // Not executing is what matters, not decoding cleanly: pickle.load raises
    // at the first bad opcode, after running everything before it. Only
    // persistent ids alone run nothing (pickle.load has no persistent_load;
    // torch's legacy one builds storages, which needs a global first).
    auto acts = [](const decoding& d) {
        return d.complete() || std::any_of(d.events.begin(), d.events.end(),
                                           [](const event& e) { return e.kind != event_kind::persistent_id; });
    };
    bytes_view window = b.first(std::min(b.size(), kSniffWindow));
    decoding d = decode(window);
    if (acts(d)) return true;
    if (d.failure && d.failure->kind == error_kind::truncated && window.size() < b.size()) return acts(decode(b));
    return false;
}

std::vector<format> detect_readings(bytes_view b) {
    std::vector<format> out;
    auto container = detect_container(b);
    if (!container) {
        if (auto f = detect(b)) out.push_back(*f);
        return out;
    }
    // A zip's "PK" is PERSID: pickle.load, joblib's and pandas' unpicklers
    // have no persistent_load and raise on it before anything else; numpy.load
    // and torch.load take the zip path on "PK\x03\x04", and torch's legacy
    // persistent_load raises on PERSID's str id (an unknown saved id type).
    // No loader runs a pickle from the front of a zip, and decoding one would
    // search a checkpoint for a newline.
    const bool zip_magic = starts_with(b, "PK");
    out.push_back(*container);
    if (zip_magic) return out;
    // The same bytes read from offset 0 by pickle.load, numpy.load's and
    // joblib.load's fallbacks, pandas.read_pickle, and torch.load when
    // Python's tarfile refuses what libarchive accepted: a second reading.
    if (pickle_reading_acts(b)) out.push_back(is_torch_legacy(b) ? format::pytorch_legacy : format::pickle);
    return out;
}

}  // namespace pickleguard::read

namespace pickleguard {

std::string detect_format(std::span<const std::byte> bytes) {
    auto f = read::detect(bytes);
    return f ? std::string(to_string(*f)) : std::string();
}

std::vector<std::string> detect_readings(std::span<const std::byte> bytes) {
    std::vector<std::string> out;
    for (format f : read::detect_readings(bytes)) out.emplace_back(to_string(f));
    return out;
}

}  // namespace pickleguard
