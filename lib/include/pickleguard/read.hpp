// pickleguard/read.hpp — the readers: containers opened as their loaders open them.
//
// A reader knows one format (a zip as PyTorch and CPython's zipfile read it,
// a tar, a compressed stream, an .npy, torch's legacy stream) and nothing of
// policies: it finds the byte ranges a loader would unpickle and the members
// it would open, and hands each to its host. The scan stage is the host that
// judges them (scan_file); a tool that only wants a member's bytes (explain
// --member, a converter) is another. Problems of the container itself (a
// corrupt zip, a bomb, a member that could not be read) are the reader's own
// findings; what the reader could not read is always reported, never skipped.
//
//     struct printer : pickleguard::read::reader_host { ... };
//     pickleguard::read::read_context ctx{host, options, findings};
//     pickleguard::read::read_as(ctx, bytes, pickleguard::format::zip, {}, 0);
#pragma once

#include "pickleguard/decode.hpp"
#include "pickleguard/location.hpp"
#include "pickleguard/scan.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard {

// What a byte range is. The names (to_string) are the report's `format` and
// `readings` values and are stable.
enum class format : std::uint8_t {
    pickle,
    joblib,              // a pickle with joblib's NumpyArrayWrapper arrays (only ever a report's `format`)
    pytorch_legacy,      // torch.save's format before 1.6: magic, protocol, sys info, data, storages
    pytorch_zip,
    torchscript,
    pytorch_legacy_tar,  // torch.save's oldest format, a tar of pickles
    npy,
    npz,
    zip,
    tar,
    seven_z,
    gzip,
    bz2,
    xz,
    lzma,
    zstd,
    lz4,
    zlib,
    joblib_zf,           // joblib's own zlib framing ("ZF0x")
};
std::string_view to_string(format f) noexcept;

}  // namespace pickleguard

namespace pickleguard::read {

using bytes_view = std::span<const std::byte>;

inline bytes_view view_of(const std::vector<std::byte>& v) { return {v.data(), v.size()}; }
inline std::string_view text_of(bytes_view b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// Every reading a loader could take of `bytes`, the container first: a file
// that is a tar (or any container) and whose offset 0 starts a pickle that
// CPython would act on is both. Empty when none we know.
std::vector<format> detect_readings(bytes_view bytes);

// What a reader hands on. The host decides what happens to it: the scan
// stage detects and reads a member, and decodes and judges a pickle.
class reader_host {
public:
    virtual ~reader_host() = default;
    // Bytes a loader opens as whatever they are (a member of an archive, a
    // decompressed stream, bytes before a zip); `depth` containers are
    // already open around them; `where` ends with their member step.
    virtual void member(bytes_view bytes, const location& where, int depth) = 0;
    // Bytes a loader unpickles from their start, with pickle.load's reading
    // (trailing pickles included). `decoded`, when given, receives the first
    // stream's decoding, for readers that need its values (storage records).
    virtual void pickle(bytes_view bytes, const location& where,
                        const std::function<void(const decoding&)>* decoded = nullptr) = 0;
    // Pickle streams handed on so far (a container that held none says so).
    virtual std::uint64_t pickles() const = 0;
};

// What an enclosing container had noted when a nested one began.
struct container_tally {
    std::vector<std::string> unread, inert;
    std::uint64_t pickles = 0;
};

// One file's reading: its host, its budgets, and the findings of its readers.
struct read_context {
    reader_host& host;
    const scan_options& options;
    std::vector<finding>& findings;
    std::uint64_t decompressed = 0;  // bytes produced by every decompressor so far
    std::uint64_t entries = 0;       // archive members seen so far
    bool joblib_seen = false;        // a NumpyArrayWrapper's raw bytes were skipped

    void add(std::string rule, severity sev, std::string message, const location& member,
             std::optional<std::uint64_t> offset = std::nullopt, bool violation = true);
    // Counts an archive member; false (after a finding) when there are too many.
    bool count_entry(const location& member);
    // detect_readings(), remembered for byte ranges inside `lasting` (the
    // mapped file, alive for the whole scan): a zip is classified by parsing
    // its central directory, and the same bytes are asked about several
    // times. Bytes in a reader's own buffer (an inflated entry, a
    // decompressed stream) are detected each time they are asked about: a
    // freed buffer's address is soon the next member's, which would inherit
    // its readings (a malicious pickle read as the text file before it).
    std::vector<format> readings_once(bytes_view bytes);

    // Members of the container being read that were not read, by why:
    // `unread` a loader could unpickle (a violation), `inert` none would.
    // They are listed in a finding's message, so they are kept as its text.
    std::vector<std::string> unread{}, inert{};
    void not_read(const location& member) { unread.push_back(to_string(member)); }
    void not_scanned(const location& member) { inert.push_back(to_string(member)); }
    // Around each container's members: begin saves the enclosing lists;
    // end reports this container's (member-not-read, members-skipped,
    // container-without-pickle) and restores them.
    container_tally begin_container();
    void end_container(container_tally outer, const location& member, std::string_view kind);

    struct detected {
        const std::byte* data;
        std::size_t size;
        std::vector<format> readings;
    };
    std::vector<detected> detected_{};  // readings_once's memory
    bytes_view lasting{};                // bytes that outlive the scan; only these are remembered
};

// Reads `bytes` as the container `f` (anything but pickle and joblib): its
// members go to ctx.host.member, its pickles to ctx.host.pickle.
void read_as(read_context& ctx, bytes_view bytes, format f, const location& member, int depth);

// CPython's zipfile finds a zip by its end record, wherever the archive
// starts: when `bytes` (whose first reading is not a zip) hold one with
// entries, reads them as a zip and returns true.
bool read_zip_behind(read_context& ctx, bytes_view bytes, const location& member, int depth);

// A decode hook (decode_options::after_build) that reads a pickle stream as
// joblib.load does: the raw array bytes after each NumpyArrayWrapper's BUILD
// are skipped, object arrays handed on as pickles of their own. `seen` is
// set when a wrapper was found (the stream then has a second reading, plain
// pickle.load's, which skips nothing).
std::function<std::uint64_t(bytes_view, const value_graph&, value_ref, std::uint64_t)>
joblib_array_reader(read_context& ctx, bytes_view stream, const location& member, bool& seen);

}  // namespace pickleguard::read
