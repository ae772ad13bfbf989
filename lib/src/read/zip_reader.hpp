// Internal: a ZIP reader that notices where readers disagree.
//
// libarchive and miniz each read a zip one way; an attacker picks the way the
// scanner reads and the way the loader reads to differ. The loaders we stand
// in for are CPython's zipfile (numpy.load, anything Python) and PyTorch's
// PyTorchStreamReader (miniz, central directory only), so this reader follows
// both and reports every place where they would see different bytes: local
// and central names, duplicate names, bytes before the archive, sizes that
// lie, CRCs PyTorch never checks, entries sharing bytes. It never reads an
// entry's data unless asked, so a 2 GB checkpoint costs its central directory.
#pragma once

#include "read/container_scan.hpp"

#include "pickleguard/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard::read {

struct zip_entry {
    std::string name;             // as the central directory spells it (what both loaders look up)
    std::uint16_t flags = 0;
    std::uint16_t method = 0;     // 0 stored, 8 deflate
    std::uint32_t crc = 0;
    std::uint64_t compressed_size = 0;
    std::uint64_t size = 0;       // uncompressed, as the central directory claims
    std::uint64_t header_offset = 0;  // local header, in the file (CPython's reading, bytes before the archive counted)
    std::uint64_t data_offset = 0;    // first byte of the data, or 0 when the local header is unreadable
    bool encrypted() const { return flags & 1; }
};

struct zip_issue {
    std::string rule;
    severity sev = severity::high;
    std::string message;
    std::string entry;            // empty for the archive as a whole
    bool violation = true;
};

struct zip_archive {
    std::vector<zip_entry> entries;
    std::uint64_t start = 0;      // bytes before the archive (CPython's "concat"; miniz ignores them)
    std::uint64_t directory_offset = 0;  // central directory, in the file
    bool zip64 = false;
    std::vector<zip_issue> issues;
};

// True when an end-of-central-directory record is where CPython's
// zipfile.is_zipfile looks for it (the last 64 KiB + 22 bytes).
bool has_zip_end(bytes_view bytes);

// Reads the end record, the central directory and every local header. An
// error when there is no archive at all; problems inside one are `issues`.
result<zip_archive> parse_zip(bytes_view bytes, std::uint64_t max_entries);

// An entry's bytes as a loader gets them: a view for stored entries, inflated
// otherwise. Size, CRC, method and encryption problems become findings.
struct entry_bytes {
    bytes_view view;
    std::vector<std::byte> owned;
};
std::optional<entry_bytes> read_entry(read_context& ctx, bytes_view file, const zip_entry& e, const location& member);

// Up to `n` leading bytes of an entry (inflating only that much), to tell
// what it holds without reading it all; empty when unreadable.
std::vector<std::byte> peek_entry(bytes_view file, const zip_entry& e, std::size_t n);

// PyTorch's record lookup (caffe2/serialize/inline_container.cc): the
// prefix is the folder of the central directory's first name, up to and
// with its first '/' (nullopt: PyTorchStreamReader refuses the archive), and
// a record is found by miniz's mz_zip_reader_locate_file without flags, which
// compares whole names ASCII case-insensitively: "ARCHIVE/DATA.PKL" is
// archive/data.pkl.
std::optional<std::string> torch_root(const std::vector<zip_entry>& entries);
bool torch_record_is(std::string_view entry_name, std::string_view root, std::string_view record);
// The lowercase form miniz compares names in.
std::string miniz_fold(std::string_view name);

// A zip whose records PyTorch reads (torch.save's format, or TorchScript's):
// the pickles, and each storage's record size against its persistent id.
void read_torch_zip(read_context& ctx, bytes_view file, const zip_archive& z, const location& member, int depth,
                    bool torchscript);

// Any other entry of a zip: read it if it is small or starts like something
// we know, and scan it as whatever it is.
void read_zip_entry(read_context& ctx, bytes_view file, const zip_entry& e, const location& member, int depth);

}  // namespace pickleguard::read
