// ZIP, read the way CPython's zipfile and PyTorch's miniz reader read it.
//
// Written by hand rather than through libarchive: libarchive's zip reader
// streams local headers (or picks its own way through the central
// directory) and hides the differences we must report. Inflating is zlib's.
// Layout: PKWARE APPNOTE 6.3; the CPython behaviour cited is Lib/zipfile.py.
#include "read/zip_reader.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>
#include "pickleguard/rules.hpp"

namespace pickleguard::read {
namespace {

constexpr std::uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr std::uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr std::size_t kEndSize = 22, kLocatorSize = 20, kEnd64Size = 56, kCentralSize = 46, kLocalSize = 30;
constexpr std::size_t kMaxComment = 65535;

std::uint64_t le(bytes_view b, std::size_t at, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v |= static_cast<std::uint64_t>(b[at + k]) << (8 * k);
    return v;
}

error corrupt(std::uint64_t offset, std::string reason) {
    error e;
    e.kind = error_kind::malformed;
    e.offset = offset;
    e.reason = std::move(reason);
    return e;
}

// The end record as CPython's _EndRecData finds it: the last 22 bytes when
// there is no comment, else the last signature in the final 64 KiB + 22.
std::optional<std::size_t> find_end(bytes_view b) {
    if (b.size() < kEndSize) return std::nullopt;
    std::size_t at = b.size() - kEndSize;
    if (le(b, at, 4) == kEndSig && le(b, at + 20, 2) == 0) return at;
    std::size_t low = b.size() > kEndSize + kMaxComment ? b.size() - kEndSize - kMaxComment : 0;
    // Backwards, as zipfile does; memrchr finds each candidate 'P' quickly
    // (every file that is not a zip is searched over its last 64 KB).
    const auto* base = reinterpret_cast<const unsigned char*>(b.data());
    std::size_t hi = at + 1;  // candidates lie in [low, hi)
    while (hi > low) {
        const void* p = ::memrchr(base + low, 'P', hi - low);
        if (!p) break;
        std::size_t i = static_cast<std::size_t>(static_cast<const unsigned char*>(p) - base);
        if (le(b, i, 4) == kEndSig) return i;
        hi = i;
    }
    return std::nullopt;
}

// Zip64 extended information (header 0x0001): only the fields whose 32-bit
// slot holds 0xFFFFFFFF are present, in this order.
void apply_zip64_extra(bytes_view extra, std::uint64_t* size, std::uint64_t* csize, std::uint64_t* offset) {
    for (std::size_t i = 0; i + 4 <= extra.size();) {
        std::uint64_t id = le(extra, i, 2), len = le(extra, i + 2, 2);
        if (i + 4 + len > extra.size()) return;
        if (id == 1) {
            std::size_t at = i + 4, end = i + 4 + len;
            for (std::uint64_t* field : {size, csize, offset}) {
                if (!field || *field != 0xffffffffu) continue;
                if (at + 8 > end) return;
                *field = le(extra, at, 8);
                at += 8;
            }
            return;
        }
        i += 4 + len;
    }
}

}  // namespace

bool has_zip_end(bytes_view bytes) { return find_end(bytes).has_value(); }

result<zip_archive> parse_zip(bytes_view b, std::uint64_t max_entries) {
    auto end_at = find_end(b);
    if (!end_at) return corrupt(error::no_offset, "no end-of-central-directory record");
    const std::size_t end = *end_at;
    zip_archive z;
    auto issue = [&](std::string rule, severity sev, std::string message, std::string entry = {}, bool violation = true) {
        z.issues.push_back({std::move(rule), sev, std::move(message), std::move(entry), violation});
    };
    if (le(b, end + 4, 2) != 0 || le(b, end + 6, 2) != 0)
        return corrupt(end, "archive spans several disks (CPython's zipfile refuses it)");
    std::uint64_t count = le(b, end + 10, 2), dir_size = le(b, end + 12, 4), dir_offset = le(b, end + 16, 4);
    std::uint64_t dir_end = end;  // where CPython expects the directory to stop
    if (end >= kLocatorSize && le(b, end - kLocatorSize, 4) == kLocator64Sig) {
        std::uint64_t e64 = le(b, end - kLocatorSize + 8, 8);
        std::uint64_t e64_at = end - kLocatorSize >= kEnd64Size ? end - kLocatorSize - kEnd64Size : 0;
        if (e64_at + kEnd64Size > b.size() || le(b, e64_at, 4) != kEnd64Sig)
            return corrupt(end - kLocatorSize, "zip64 locator without a zip64 end record before it");
        if (e64 != e64_at)
            issue(rule::zip_data_before_archive, severity::high,
                  "the zip64 locator points at offset " + std::to_string(e64) + " but the zip64 end record is at " +
                      std::to_string(e64_at) + ": CPython uses the record before the locator, other readers the offset");
        z.zip64 = true;
        // Readers without zip64 support keep the classic record's values; each
        // must be either the "see zip64" placeholder or the same number.
        std::uint64_t count64 = le(b, e64_at + 32, 8), size64 = le(b, e64_at + 40, 8), offset64 = le(b, e64_at + 48, 8);
        if ((count != 0xffff && count != count64) || (dir_size != 0xffffffffu && dir_size != size64) ||
            (dir_offset != 0xffffffffu && dir_offset != offset64))
            issue(rule::zip_zip64, severity::high,
                  "the zip64 end record and the classic end record describe different central directories: readers "
                  "with and without zip64 support list different entries");
        count = count64;
        dir_size = size64;
        dir_offset = offset64;
        dir_end = e64_at;
    }
    // As _RealGetContents: whatever lies between the claimed and the real
    // directory position is data prepended to the archive (a self-extractor,
    // or a polyglot). CPython shifts every offset by it; miniz does not.
    if (dir_size > dir_end || dir_offset > dir_end - dir_size)
        return corrupt(end, "central directory (offset " + std::to_string(dir_offset) + ", size " +
                                std::to_string(dir_size) + ") does not fit before the end record");
    z.start = dir_end - dir_size - dir_offset;
    z.directory_offset = dir_offset + z.start;
    if (z.start > 0)
        issue(rule::zip_data_before_archive, severity::high,
              std::to_string(z.start) + " bytes precede the archive: CPython's zipfile shifts every offset past them, "
              "PyTorch's reader (miniz) does not, so the two read different bytes; the leading bytes are scanned too");
    if (count > max_entries)
        return corrupt(end, "the archive claims " + std::to_string(count) + " entries, more than the limit of " +
                                std::to_string(max_entries));

    std::unordered_set<std::string> names;
    std::size_t at = static_cast<std::size_t>(z.directory_offset);
    const std::size_t stop = static_cast<std::size_t>(z.directory_offset + dir_size);
    while (at < stop) {
        if (at + kCentralSize > stop || le(b, at, 4) != kCentralSig)
            return corrupt(at, "bad central directory entry (CPython: 'Bad magic number for central directory')");
        zip_entry e;
        e.flags = static_cast<std::uint16_t>(le(b, at + 8, 2));
        e.method = static_cast<std::uint16_t>(le(b, at + 10, 2));
        e.crc = static_cast<std::uint32_t>(le(b, at + 16, 4));
        e.compressed_size = le(b, at + 20, 4);
        e.size = le(b, at + 24, 4);
        std::size_t name_len = le(b, at + 28, 2), extra_len = le(b, at + 30, 2), comment_len = le(b, at + 32, 2);
        e.header_offset = le(b, at + 42, 4);
        std::size_t var = at + kCentralSize;
        if (var + name_len + extra_len + comment_len > stop)
            return corrupt(at, "central directory entry runs past the directory");
        e.name.assign(reinterpret_cast<const char*>(b.data() + var), name_len);
        bytes_view extra = b.subspan(var + name_len, extra_len);
        if (e.size == 0xffffffffu || e.compressed_size == 0xffffffffu || e.header_offset == 0xffffffffu) {
            apply_zip64_extra(extra, &e.size, &e.compressed_size, &e.header_offset);
            z.zip64 = true;
        }
        e.header_offset += z.start;
        at = var + name_len + extra_len + comment_len;
        if (z.entries.size() >= max_entries)
            return corrupt(at, "more than " + std::to_string(max_entries) + " entries in the central directory");
        if (!names.insert(e.name).second)
            issue(rule::zip_duplicate_name, severity::high,
                  "the name '" + e.name + "' appears more than once: CPython's zipfile opens the last one, miniz "
                  "(PyTorch) may open another; every copy is scanned",
                  e.name);
        z.entries.push_back(std::move(e));
    }
    if (z.entries.size() != count)
        issue(rule::zip_size_mismatch, severity::high,
              "the end record counts " + std::to_string(count) + " entries but the central directory holds " +
                  std::to_string(z.entries.size()) + ": CPython reads the directory by size, miniz by count");

    // Local headers: CPython checks the name there against the directory
    // (BadZipFile when they differ); miniz never looks at it. Streaming
    // readers use only local headers, and their sizes.
    for (zip_entry& e : z.entries) {
        if (e.header_offset > b.size() || b.size() - e.header_offset < kLocalSize ||
            le(b, e.header_offset, 4) != kLocalSig) {
            issue(rule::container_corrupt, severity::high,
                  "no local header at offset " + std::to_string(e.header_offset) + " (CPython: 'Bad magic number for "
                  "file header'); the entry cannot be read",
                  e.name);
            continue;
        }
        std::size_t h = static_cast<std::size_t>(e.header_offset);
        std::size_t name_len = le(b, h + 26, 2), extra_len = le(b, h + 28, 2);
        if (h + kLocalSize + name_len + extra_len > b.size()) {
            issue(rule::container_corrupt, severity::high, "local header runs past the end of the file", e.name);
            continue;
        }
        std::string_view local_name(reinterpret_cast<const char*>(b.data() + h + kLocalSize), name_len);
        if (local_name != e.name)
            issue(rule::zip_name_mismatch, severity::high,
                  "the local header names '" + std::string(local_name) + "' but the central directory '" + e.name +
                      "': CPython refuses the entry, PyTorch (miniz) reads it by the directory name, and streaming "
                      "readers by the local one",
                  e.name);
        std::uint16_t local_flags = static_cast<std::uint16_t>(le(b, h + 6, 2));
        std::uint16_t local_method = static_cast<std::uint16_t>(le(b, h + 8, 2));
        if (local_method != e.method)
            issue(rule::zip_size_mismatch, severity::high,
                  "the local header says compression method " + std::to_string(local_method) + ", the directory " +
                      std::to_string(e.method) + ": readers that trust either decode different bytes",
                  e.name);
        if (!(local_flags & 8)) {
            // Without a data descriptor the local header carries the real CRC
            // and sizes (zip64 ones in its own extra field).
            std::uint64_t lcrc = le(b, h + 14, 4), lcsize = le(b, h + 18, 4), lsize = le(b, h + 22, 4);
            if (lcsize == 0xffffffffu || lsize == 0xffffffffu)
                apply_zip64_extra(b.subspan(h + kLocalSize + name_len, extra_len), &lsize, &lcsize, nullptr);
            if (lcrc != e.crc || lcsize != e.compressed_size || lsize != e.size)
                issue(rule::zip_size_mismatch, severity::high,
                      "the local header's CRC or sizes (" + std::to_string(lcsize) + " -> " + std::to_string(lsize) +
                          ") differ from the central directory's (" + std::to_string(e.compressed_size) + " -> " +
                          std::to_string(e.size) + "): streaming readers and zipfile/miniz read different lengths",
                      e.name);
        }
        e.data_offset = h + kLocalSize + name_len + extra_len;
        if (e.compressed_size > z.directory_offset || e.data_offset > z.directory_offset - e.compressed_size) {
            issue(rule::zip_size_mismatch, severity::high,
                  "the entry's " + std::to_string(e.compressed_size) + " bytes at offset " + std::to_string(e.data_offset) +
                      " run into the central directory or past the end of the file",
                  e.name);
        }
    }
    // Entries sharing bytes: the classic overlapping-file zip bomb, and a way
    // to make one name's data another's.
    std::vector<const zip_entry*> by_offset;
    for (const zip_entry& e : z.entries)
        if (e.data_offset) by_offset.push_back(&e);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const zip_entry* x, const zip_entry* y) { return x->header_offset < y->header_offset; });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
        const zip_entry& prev = *by_offset[i - 1];
        if (prev.data_offset + prev.compressed_size > by_offset[i]->header_offset)
            issue(rule::zip_overlapping_entries, severity::high,
                  "the data of '" + prev.name + "' overlaps the entry '" + by_offset[i]->name +
                      "' (entries sharing bytes: a zip-bomb technique, and one name's data read as another's)",
                  prev.name);
    }
    return z;
}

std::vector<std::byte> peek_entry(bytes_view file, const zip_entry& e, std::size_t n) {
    if (!e.data_offset || e.data_offset + e.compressed_size > file.size()) return {};
    bytes_view data = file.subspan(static_cast<std::size_t>(e.data_offset), static_cast<std::size_t>(e.compressed_size));
    if (e.method == 0) {
        data = data.first(std::min<std::size_t>(n, data.size()));
        return {data.begin(), data.end()};
    }
    if (e.method != 8) return {};
    std::vector<std::byte> out(n);
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return {};
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data.data()));
    zs.avail_in = static_cast<uInt>(std::min<std::size_t>(data.size(), 1u << 30));
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(n);
    int rc = Z_OK;
    while (zs.avail_out > 0 && rc == Z_OK) rc = inflate(&zs, Z_SYNC_FLUSH);
    out.resize(n - zs.avail_out);
    inflateEnd(&zs);
    return out;
}

std::optional<entry_bytes> read_entry(read_context& ctx, bytes_view file, const zip_entry& e, const location& member) {
    if (!e.data_offset) {  // already reported by parse_zip
        ctx.not_read(member);
        return std::nullopt;
    }
    if (e.encrypted())
        // The flag alone proves nothing: a reader that ignores it (PyTorch's
        // reader passes the bytes through) gets whatever is stored, so the
        // bytes are decoded as if in clear; real ciphertext then fails to
        // decode, which is a finding too.
        ctx.add(rule::zip_encrypted, severity::high,
                "the entry is flagged encrypted (flag bit 0): CPython asks for a password, readers that ignore the "
                "flag read the stored bytes, which were decoded as if in clear",
                member);
    if (e.method != 0 && e.method != 8 && e.method != 12) {
        ctx.add(rule::zip_unsupported_compression, severity::high,
                "compression method " + std::to_string(e.method) +
                    " is not stored (0), deflate (8) or bzip2 (12); CPython's zipfile may still read it (lzma, 14), "
                    "so the content, which was not checked, may be unpickled",
                member);
        ctx.not_read(member);
        return std::nullopt;
    }
    if (e.data_offset + e.compressed_size > file.size()) {  // reported by parse_zip
        ctx.not_read(member);
        return std::nullopt;
    }
    bytes_view data = file.subspan(static_cast<std::size_t>(e.data_offset), static_cast<std::size_t>(e.compressed_size));
    entry_bytes out;
    if (e.method == 0) {
        out.view = data;
        if (e.size != e.compressed_size) {
            ctx.add(rule::zip_size_mismatch, severity::high,
                    "a stored entry claims " + std::to_string(e.size) + " bytes but holds " +
                        std::to_string(e.compressed_size) + "; the shorter reading was scanned",
                    member);
            out.view = data.first(static_cast<std::size_t>(std::min(e.size, e.compressed_size)));
        }
    } else if (e.method == 12) {
        // bzip2: CPython's zipfile reads it (numpy.load of an .npz, any
        // zipfile-based loader), PyTorch does not; the data is a whole .bz2
        // stream.
        auto unpacked = decompress(ctx, format::bz2, data, member);
        if (!unpacked) {
            ctx.not_read(member);
            return std::nullopt;
        }
        out.owned = std::move(*unpacked);
        out.view = view_of(out.owned);
        ctx.add(rule::zip_unsupported_compression, severity::low,
                "bzip2 (method 12): CPython's zipfile reads it, PyTorch cannot; the entry was decompressed and scanned",
                member, std::nullopt, false);
    } else {
        auto inflated = inflate_raw(ctx, data, e.size, member);
        if (!inflated) {
            ctx.not_read(member);
            return std::nullopt;
        }
        out.owned = std::move(*inflated);
        out.view = view_of(out.owned);
        if (out.owned.size() != e.size)
            ctx.add(rule::zip_size_mismatch, severity::high,
                    "the entry inflates to " + std::to_string(out.owned.size()) + " bytes but the directory says " +
                        std::to_string(e.size) + " (CPython raises; miniz reads the declared size)",
                    member);
    }
    // CPython raises BadZipFile on a CRC mismatch; PyTorch never checks it.
    uLong crc = 0;
    for (std::size_t i = 0; i < out.view.size(); i += 1u << 30) {
        std::size_t n = std::min<std::size_t>(out.view.size() - i, 1u << 30);
        crc = crc32(crc, reinterpret_cast<const Bytef*>(out.view.data() + i), static_cast<uInt>(n));
    }
    if (crc != e.crc)
        ctx.add(rule::zip_crc_mismatch, severity::high,
                "the content's CRC-32 does not match the directory's: CPython's zipfile refuses it, PyTorch reads it "
                "anyway, so the file was altered after it was written",
                member);
    return out;
}

}  // namespace pickleguard::read
