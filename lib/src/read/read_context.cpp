// What every reader of a file shares: its budgets, its findings, the tally
// of members it could not read, and the routing of a format to its reader.
#include "read/container_scan.hpp"
#include "read/zip_reader.hpp"
#include "pickleguard/rules.hpp"

namespace pickleguard {

std::string_view to_string(format f) noexcept {
    switch (f) {
        case format::pickle: return "pickle";
        case format::joblib: return "joblib";
        case format::pytorch_legacy: return "pytorch-legacy";
        case format::pytorch_zip: return "pytorch-zip";
        case format::torchscript: return "torchscript";
        case format::pytorch_legacy_tar: return "pytorch-legacy-tar";
        case format::npy: return "npy";
        case format::npz: return "npz";
        case format::zip: return "zip";
        case format::tar: return "tar";
        case format::seven_z: return "7z";
        case format::gzip: return "gzip";
        case format::bz2: return "bz2";
        case format::xz: return "xz";
        case format::lzma: return "lzma";
        case format::zstd: return "zstd";
        case format::lz4: return "lz4";
        case format::zlib: return "zlib";
        case format::joblib_zf: return "joblib-zf";
    }
    return "?";
}

}  // namespace pickleguard

namespace pickleguard::read {

void read_context::add(std::string rule, severity sev, std::string message, const location& member,
                       std::optional<std::uint64_t> offset, bool violation) {
    findings.push_back(make_finding(std::move(rule), sev, std::move(message), member, offset, violation));
}

bool read_context::count_entry(const location& member) {
    if (++entries <= options.containers.max_entries) return true;
    if (entries == options.containers.max_entries + 1)
        add(rule::container_limit, severity::high,
            "more than " + std::to_string(options.containers.max_entries) +
                " archive members in this file (container_limits::max_entries); the rest were not checked",
            member);
    return false;
}

std::vector<format> read_context::readings_once(bytes_view bytes) {
    std::less_equal<const std::byte*> le;  // pointers into unrelated buffers compare only this way
    const bool lasts = !lasting.empty() && le(lasting.data(), bytes.data()) &&
                       le(bytes.data() + bytes.size(), lasting.data() + lasting.size());
    if (!lasts) return detect_readings(bytes);
    // A handful of ranges per file (the file, the archive inside it, some
    // members): a linear search is enough.
    for (const detected& d : detected_)
        if (d.data == bytes.data() && d.size == bytes.size()) return d.readings;
    detected_.push_back({bytes.data(), bytes.size(), detect_readings(bytes)});
    return detected_.back().readings;
}

namespace {

std::string listed(const std::vector<std::string>& names) {
    constexpr std::size_t kShown = 20;
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < kShown; ++i) out += (i ? ", '" : "'") + names[i] + "'";
    if (names.size() > kShown) out += " and " + std::to_string(names.size() - kShown) + " more";
    return out;
}

}  // namespace

container_tally read_context::begin_container() {
    container_tally outer{std::move(unread), std::move(inert), host.pickles()};
    unread.clear();
    inert.clear();
    return outer;
}

void read_context::end_container(container_tally outer, const location& member, std::string_view kind) {
    const std::string name = to_string(member);
    const std::string where = name.empty() ? "the file" : "'" + name + "'";
    if (!unread.empty())
        add(rule::member_not_read, severity::high,
            std::to_string(unread.size()) + " member(s) of " + where + " that a loader could unpickle were not read: " +
                listed(unread) + ". Their content was not checked, so the file cannot be called safe",
            member);
    if (!inert.empty())
        add(rule::members_skipped, severity::low,
            std::to_string(inert.size()) + " member(s) of " + where + " were not scanned, since no loader unpickles " +
                "them (text, tensor data, not a regular file): " + listed(inert),
            member, std::nullopt, false);
    if (host.pickles() == outer.pickles)
        add(rule::container_without_pickle, severity::low,
            std::string("no pickle was found in this ") + std::string(kind) +
                ": nothing in it is unpickled by the loaders pickleguard stands in for (or nothing could be read)",
            member, std::nullopt, false);
    unread = std::move(outer.unread);
    inert = std::move(outer.inert);
}

void read_as(read_context& ctx, bytes_view bytes, format f, const location& member, int depth) {
    switch (f) {
        case format::pickle:
        case format::joblib: ctx.host.pickle(bytes, member); return;
        case format::pytorch_legacy: read_torch_legacy(ctx, bytes, member); return;
        case format::npy: read_npy(ctx, bytes, member); return;
        case format::pytorch_zip:
        case format::torchscript:
        case format::npz:
        case format::zip: read_zip(ctx, bytes, member, depth); return;
        case format::tar:
        case format::seven_z:
        case format::pytorch_legacy_tar: read_archive(ctx, bytes, f, member, depth); return;
        case format::gzip:
        case format::bz2:
        case format::xz:
        case format::lzma:
        case format::zstd:
        case format::lz4:
        case format::zlib:
        case format::joblib_zf: {
            // A compressed stream: one more container level, then whatever it holds.
            location inner = member.member(std::string(to_string(f)));
            auto data = decompress(ctx, f, bytes, inner);
            if (data) ctx.host.member(view_of(*data), inner, depth + 1);
            return;
        }
    }
}

bool read_zip_behind(read_context& ctx, bytes_view bytes, const location& member, int depth) {
    if (!has_zip_end(bytes)) return false;
    auto z = parse_zip(bytes, ctx.options.containers.max_entries);
    if (!z || z.value().entries.empty()) return false;
    read_zip(ctx, bytes, member, depth);
    return true;
}

}  // namespace pickleguard::read
