// Internal: what the container readers share.
//
// `scan_file` opens a file the way the loader that will read it does, and
// hands every pickle it finds to `scan_pickle_stream`. Each reader below is
// one format; they call `scan_any` for what they hold, so containers nest
// (a gzip inside a tar inside a zip) up to `container_limits::max_depth`, and
// every decompressed byte is counted against one budget per file.
#pragma once

#include "pickleguard/container.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard::read {

using bytes_view = std::span<const std::byte>;

inline bytes_view view_of(const std::vector<std::byte>& v) { return {v.data(), v.size()}; }
inline std::string_view text_of(bytes_view b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// "outer > inner", or just one of them when the other is empty.
std::string join_member(const std::string& outer, const std::string& inner);

// What an enclosing container had noted when a nested one began.
struct container_tally {
    std::vector<std::string> unread, inert;
    std::uint64_t pickles = 0;
};

struct scan_context {
    const policy& p;
    const knowledge_base& kb;
    const scan_options& options;
    file_report& report;
    std::uint64_t decompressed = 0;  // bytes produced by every decompressor so far
    std::uint64_t entries = 0;       // archive members seen so far
    bool joblib_seen = false;        // a NumpyArrayWrapper's raw bytes were skipped

    void add(std::string rule, severity sev, std::string message, const std::string& member,
             std::optional<std::uint64_t> offset = std::nullopt, bool violation = true);
    // Counts an archive member; false (after a finding) when there are too many.
    bool count_entry(const std::string& member);
    // detect_readings(), remembered per byte range: a zip is classified by
    // parsing its central directory, and the same bytes are asked about
    // several times. detect_once is the first reading ("" for none).
    const std::vector<std::string>& readings_once(bytes_view bytes);
    std::string detect_once(bytes_view bytes);

    // Members of the container being scanned that were not read, by why:
    // `unread` a loader could unpickle (a violation), `inert` none would.
    // Each container scan reports its own lists (note_unread) when it ends.
    std::vector<std::string> unread{}, inert{};
    // Around each container's members: begin saves the enclosing lists;
    // end reports this container's (member-not-read, members-skipped,
    // container-without-pickle) and restores them.
    container_tally begin_container();
    void end_container(container_tally outer, const std::string& member, std::string_view kind);

    struct detected {
        const std::byte* data;
        std::size_t size;
        std::vector<std::string> readings;
    };
    std::vector<detected> detected_{};  // detect_once's memory
};

// The format of `bytes` (see container.hpp), by content: its container
// format if it has one, else "pickle"/"pytorch-legacy", else "".
std::string detect(bytes_view bytes);
// The container format by magic alone, "" when none.
std::string detect_container(bytes_view bytes);
// Every reading a loader could take of `bytes`, the container first: a file
// that is a tar (or any container) and whose offset 0 starts a pickle that
// CPython would act on is both, and is judged as both.
std::vector<std::string> detect_readings(bytes_view bytes);
// True when pickle.load from offset 0 would do something before it stops:
// reach STOP, or an operation other than a persistent id.
bool pickle_reading_acts(bytes_view bytes);

// Scans `bytes` as whatever it is. `depth` is the number of containers
// already opened around it.
void scan_any(scan_context& ctx, bytes_view bytes, const std::string& member, int depth);

// A pickle stream as a loader reads it: joblib's raw array bytes after each
// NumpyArrayWrapper are skipped (object arrays scanned as nested pickles).
void scan_pickle(scan_context& ctx, bytes_view bytes, const std::string& member);

// Decompresses a whole stream of `format` ("gzip", "bz2", "xz", "lzma",
// "zstd", "lz4", "zlib", "joblib-zf"), or nullopt after a finding (bomb,
// corrupt stream).
std::optional<std::vector<std::byte>> decompress(scan_context& ctx, const std::string& format, bytes_view bytes,
                                                 const std::string& member);
// Raw deflate (zip method 8), at most `expected` bytes are wanted; bounded by
// the same budget.
std::optional<std::vector<std::byte>> inflate_raw(scan_context& ctx, bytes_view bytes, std::uint64_t expected,
                                                  const std::string& member);

// Formats with a reader each.
void scan_zip(scan_context& ctx, bytes_view bytes, const std::string& member, int depth);
void scan_torch_legacy(scan_context& ctx, bytes_view bytes, const std::string& member);
void scan_npy(scan_context& ctx, bytes_view bytes, const std::string& member);
void scan_archive(scan_context& ctx, bytes_view bytes, const std::string& format, const std::string& member,
                  int depth);

// True when a pickle could start here the way pickle.load would read it:
// PROTO with a known protocol, or an opcode whose decoding gets somewhere.
bool starts_like_pickle(bytes_view bytes);
// The first pickle is torch's legacy magic number (0x1950a86a20f9469cfc6c).
bool is_torch_legacy(bytes_view bytes);

// Bytes per element of a torch storage class ("torch.FloatStorage"), or 0.
std::uint64_t torch_element_size(std::string_view storage_class);

}  // namespace pickleguard::read
