// tar and 7z through libarchive, and PyTorch's oldest checkpoints: a tar of
// sys_info, pickle, storages and tensors (torch < 0.4, still read by
// torch.load's legacy_load).
#include "pickleguard/container.hpp"
#include "pickleguard/rules.hpp"
#include "read/container_scan.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>
#include <vector>

namespace pickleguard::read {
namespace {

struct archive_closer {
    void operator()(archive* a) const { archive_read_free(a); }
};
using archive_ptr = std::unique_ptr<archive, archive_closer>;

std::string error_text(archive* a) {
    const char* s = archive_error_string(a);
    return s ? s : "unknown error";
}

archive_ptr open_archive(bytes_view b) {
    archive_ptr a(archive_read_new());
    archive_read_support_format_tar(a.get());
    archive_read_support_format_7zip(a.get());
    archive_read_support_filter_none(a.get());
    if (archive_read_open_memory(a.get(), b.data(), b.size()) != ARCHIVE_OK) return nullptr;
    return a;
}

struct member_data {
    std::string name;
    std::vector<std::byte> bytes;
    bool regular = true;
    bool directory = false;
};

// Every member, read into memory against the file's budget. nullopt after a
// finding when the archive is corrupt or too big.
std::optional<std::vector<member_data>> read_members(read_context& ctx, bytes_view b, const location& member) {
    archive_ptr a = open_archive(b);
    if (!a) {
        ctx.add(rule::container_corrupt, severity::high, "the archive cannot be opened; nothing in it was checked", member);
        return std::nullopt;
    }
    std::vector<member_data> out;
    archive_entry* entry = nullptr;
    while (true) {
        int rc = archive_read_next_header(a.get(), &entry);
        if (rc == ARCHIVE_EOF) break;
        if (rc < ARCHIVE_WARN) {
            ctx.add(rule::container_corrupt, severity::high,
                    std::string("the archive cannot be read on (") + error_text(a.get()) +
                        "); the rest was not checked",
                    member);
            return out;
        }
        member_data m;
        const char* name = archive_entry_pathname(entry);
        m.name = name ? name : "?";
        if (!ctx.count_entry(member.member(m.name))) {
            ctx.not_read(member.member(m.name));
            return out;
        }
        // No type bits at all (a 7z entry without Unix attributes, libarchive's
        // file type 0) is a regular file to 7-Zip, py7zr and libarchive's own
        // extractor. Every entry but a directory is read: whatever has data
        // is scanned, whatever type it claims.
        const auto type = archive_entry_filetype(entry);
        m.regular = type == AE_IFREG || type == 0;
        m.directory = type == AE_IFDIR;
        if (!m.directory) {
            std::byte buf[1 << 16];
            while (true) {
                la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
                if (n == 0) break;
                if (n < 0) {
                    ctx.add(rule::container_corrupt, severity::high,
                            std::string("a member cannot be read (") + error_text(a.get()) + ")",
                            member.member(m.name));
                    ctx.not_read(member.member(m.name));
                    return out;
                }
                ctx.decompressed += static_cast<std::uint64_t>(n);
                if (ctx.decompressed > ctx.options.containers.max_decompressed_bytes) {
                    ctx.add(rule::decompression_bomb, severity::high,
                            "the archive's members add up to more than " +
                                std::to_string(ctx.options.containers.max_decompressed_bytes) +
                                " bytes (container_limits::max_decompressed_bytes); the rest was not checked",
                            member.member(m.name));
                    ctx.not_read(member.member(m.name));
                    return out;
                }
                m.bytes.insert(m.bytes.end(), buf, buf + n);
            }
        }
        out.push_back(std::move(m));
    }
    return out;
}

void read_legacy_tar(read_context& ctx, std::vector<member_data>& members, const location& member);

}  // namespace

bool is_torch_legacy_tar(bytes_view b) {
    archive_ptr a = open_archive(b);
    if (!a) return false;
    archive_entry* entry = nullptr;
    int seen = 0;
    for (int i = 0; i < 16 && archive_read_next_header(a.get(), &entry) == ARCHIVE_OK; ++i) {
        std::string_view n = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
        seen |= n == "sys_info" ? 1 : n == "pickle" ? 2 : n == "storages" ? 4 : n == "tensors" ? 8 : 0;
    }
    return seen == 15;
}

void read_archive(read_context& ctx, bytes_view bytes, format f, const location& member,
                  int depth) {
    container_tally outer = ctx.begin_container();
    auto members = read_members(ctx, bytes, member);
    if (members && f == format::pytorch_legacy_tar) {
        read_legacy_tar(ctx, *members, member);
    } else if (members) {
        for (const member_data& m : *members) {
            location name = member.member(m.name);
            if (m.directory) continue;
            if (!m.regular && m.bytes.empty()) {  // a link, a device: nothing to unpickle
                ctx.not_scanned(name);
                continue;
            }
            ctx.host.member(view_of(m.bytes), name, depth + 1);
        }
    }
    ctx.end_container(std::move(outer), member, std::string(to_string(f)) + " archive");
}

namespace {

// One pickle at `offset` of a member, judged; nullopt when pickle.load would
// fail there (already reported).
std::optional<decoding> next_pickle(read_context& ctx, bytes_view b, std::size_t& offset, const location& name) {
    decoding d = decode(b, ctx.options.decode, offset);
    std::size_t end = d.complete() ? static_cast<std::size_t>(d.end) : b.size();
    ctx.host.pickle(b.subspan(offset, end - offset), name);
    if (!d.complete()) return std::nullopt;
    offset = end;
    return d;
}

std::optional<std::int64_t> root_int(const decoding& d) {
    if (d.graph.kind(*d.root) != value_kind::integer) return std::nullopt;
    return d.graph.as_int(*d.root);
}

std::uint64_t le(bytes_view b, std::size_t at, int n) {
    std::uint64_t v = 0;
    for (int k = 0; k < n; ++k) v |= static_cast<std::uint64_t>(b[at + k]) << (8 * k);
    return v;
}

// torch/serialization.py legacy_load: 'storages' is a count pickle, then per
// storage an (key, location, storage class) pickle, an 8-byte element count
// and the elements, then a pickle of views; 'tensors' is a count pickle, then
// per tensor an (key, storage id, type) pickle and ndim, 4 skipped bytes,
// ndim sizes, ndim strides and an offset, all little-endian. 'pickle' and
// 'sys_info' are one pickle each.
void read_legacy_tar(read_context& ctx, std::vector<member_data>& members, const location& member) {
    for (member_data& m : members) {
        location name = member.member(m.name);
        bytes_view b = view_of(m.bytes);
        std::size_t offset = 0;
        auto bad = [&](const std::string& why) {
            ctx.add(rule::container_corrupt, severity::high, why + "; torch.load would fail here", name, offset);
        };
        if (m.name == "sys_info" || m.name == "pickle") {
            ctx.host.pickle(b, name);
            continue;
        }
        if (m.name != "storages" && m.name != "tensors") {
            if (starts_like_pickle(b)) ctx.host.pickle(b, name);
            continue;
        }
        auto count_pickle = next_pickle(ctx, b, offset, name.part("count"));
        if (!count_pickle) continue;
        auto count = root_int(*count_pickle);
        if (!count || *count < 0) {
            bad("the count is not an int");
            continue;
        }
        bool ok = true;
        for (std::int64_t i = 0; ok && i < *count; ++i) {
            auto args = next_pickle(ctx, b, offset, name.part("entry " + std::to_string(i)));
            if (!args) {
                ok = false;
                break;
            }
            const value_graph& g = args->graph;
            if (g.kind(*args->root) != value_kind::tuple || g.items(*args->root).size() != 3) {
                bad("an entry is not a 3-tuple");
                ok = false;
                break;
            }
            if (m.name == "storages") {
                value_ref cls = g.items(*args->root)[2];
                std::uint64_t el = g.kind(cls) == value_kind::global
                                       ? torch_element_size(std::string(g.global(cls).module) + "." +
                                                            std::string(g.global(cls).name))
                                       : 0;
                if (!el || b.size() - offset < 8) {
                    bad("a storage of unknown class or without its size");
                    ok = false;
                    break;
                }
                std::uint64_t n = le(b, offset, 8);
                offset += 8;
                if (n > (b.size() - offset) / el) {
                    bad("a storage runs past the end of the member");
                    ok = false;
                    break;
                }
                offset += static_cast<std::size_t>(n * el);
            } else {
                if (b.size() - offset < 8) {
                    bad("a tensor record is truncated");
                    ok = false;
                    break;
                }
                std::uint64_t ndim = le(b, offset, 4);
                std::uint64_t need = 8 + 16 * ndim + 8;
                if (ndim > (1u << 16) || need > b.size() - offset) {
                    bad("a tensor record is truncated");
                    ok = false;
                    break;
                }
                offset += static_cast<std::size_t>(need);
            }
        }
        if (!ok) continue;
        if (m.name == "storages" && !next_pickle(ctx, b, offset, name.part("views"))) continue;
        if (offset < b.size())
            ctx.add(rule::trailing_data, severity::high,
                    std::to_string(b.size() - offset) + " bytes follow what torch.load reads from this member", name,
                    offset);
    }
}

}  // namespace

}  // namespace pickleguard::read

namespace pickleguard {

void prepare_for_sandbox() {
    // Write a 7z archive (whose names are UTF-16) and a pax tar (a name too
    // long for ustar, so it goes in a UTF-8 pax header) and read them back:
    // the same calls a scan makes, so what libarchive and glibc set up on
    // first use is set up here, outside the sandbox. (Writing a non-ASCII
    // name would fail in the C locale.)
    static const bool done = [] {
        for (auto format : {archive_write_set_format_7zip, archive_write_set_format_pax_restricted}) {
            std::vector<char> buf(1 << 16);
            std::size_t used = 0;
            archive* w = archive_write_new();
            bool ok = format(w) == ARCHIVE_OK &&
                      archive_write_open_memory(w, buf.data(), buf.size(), &used) == ARCHIVE_OK;
            if (ok) {
                static const char data[] = "\x80\x04K\x01.";
                archive_entry* e = archive_entry_new();
                const std::string name = std::string(120, 'm') + "/model.pkl";
                archive_entry_set_pathname(e, name.c_str());
                archive_entry_set_size(e, sizeof data - 1);
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                ok = archive_write_header(w, e) == ARCHIVE_OK;
                if (ok) archive_write_data(w, data, sizeof data - 1);
                archive_entry_free(e);
                archive_write_close(w);
            }
            archive_write_free(w);
            if (!ok) continue;
            read::archive_ptr r = read::open_archive({reinterpret_cast<const std::byte*>(buf.data()), used});
            archive_entry* entry = nullptr;
            while (r && archive_read_next_header(r.get(), &entry) == ARCHIVE_OK) {
                (void)archive_entry_pathname(entry);
                char sink[64];
                while (archive_read_data(r.get(), sink, sizeof sink) > 0) {
                }
            }
        }
        return true;
    }();
    (void)done;
}

}  // namespace pickleguard
