// scan_file: recognise the container, open it as its loader does, and judge
// every pickle inside. Each format has its own reader; this file routes
// bytes to them and keeps the per-file budgets.
#include "read/container_scan.hpp"
#include "read/zip_reader.hpp"

namespace pickleguard::read {

std::string join_member(const std::string& outer, const std::string& inner) {
    if (outer.empty()) return inner;
    if (inner.empty()) return outer;
    return outer + " > " + inner;
}

void scan_context::add(std::string rule, severity sev, std::string message, const std::string& member,
                       std::optional<std::uint64_t> offset, bool violation) {
    finding f;
    f.rule = std::move(rule);
    f.severity = sev;
    f.message = std::move(message);
    f.member = member;
    f.offset = offset;
    f.violation = violation;
    report.findings.push_back(std::move(f));
}

bool scan_context::count_entry(const std::string& member) {
    if (++entries <= options.containers.max_entries) return true;
    if (entries == options.containers.max_entries + 1)
        add("container-limit", severity::high,
            "more than " + std::to_string(options.containers.max_entries) +
                " archive members in this file (container_limits::max_entries); the rest were not checked",
            member);
    return false;
}

const std::vector<std::string>& scan_context::readings_once(bytes_view bytes) {
    // A handful of ranges per file (the file, the archive inside it, some
    // members): a linear search is enough.
    for (const detected& d : detected_)
        if (d.data == bytes.data() && d.size == bytes.size()) return d.readings;
    detected_.push_back({bytes.data(), bytes.size(), detect_readings(bytes)});
    return detected_.back().readings;
}

std::string scan_context::detect_once(bytes_view bytes) {
    const auto& r = readings_once(bytes);
    return r.empty() ? std::string() : r.front();
}

namespace {

std::string listed(const std::vector<std::string>& names) {
    constexpr std::size_t kShown = 20;
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < kShown; ++i) out += (i ? ", '" : "'") + names[i] + "'";
    if (names.size() > kShown) out += " and " + std::to_string(names.size() - kShown) + " more";
    return out;
}

// One reading of `bytes`, by its reader.
void scan_reading(scan_context& ctx, bytes_view bytes, const std::string& format, const std::string& member,
                  int depth) {
    if (format == "pickle") scan_pickle(ctx, bytes, member);
    else if (format == "pytorch-legacy") scan_torch_legacy(ctx, bytes, member);
    else if (format == "npy") scan_npy(ctx, bytes, member);
    else if (format == "pytorch-zip" || format == "torchscript" || format == "npz" || format == "zip")
        scan_zip(ctx, bytes, member, depth);
    else if (format == "tar" || format == "7z" || format == "pytorch-legacy-tar")
        scan_archive(ctx, bytes, format, member, depth);
    else {
        // A compressed stream: one more container level, then whatever it holds.
        std::string inner = join_member(member, format);
        auto data = decompress(ctx, format, bytes, inner);
        if (data) scan_any(ctx, view_of(*data), inner, depth + 1);
    }
}

}  // namespace

container_tally scan_context::begin_container() {
    container_tally outer{std::move(unread), std::move(inert), report.pickles};
    unread.clear();
    inert.clear();
    return outer;
}

void scan_context::end_container(container_tally outer, const std::string& member, std::string_view kind) {
    const std::string where = member.empty() ? "the file" : "'" + member + "'";
    if (!unread.empty())
        add("member-not-read", severity::high,
            std::to_string(unread.size()) + " member(s) of " + where + " that a loader could unpickle were not read: " +
                listed(unread) + ". Their content was not checked, so the file cannot be called safe",
            member);
    if (!inert.empty())
        add("members-skipped", severity::low,
            std::to_string(inert.size()) + " member(s) of " + where + " were not scanned, since no loader unpickles " +
                "them (text, tensor data, not a regular file): " + listed(inert),
            member, std::nullopt, false);
    if (report.pickles == outer.pickles)
        add("container-without-pickle", severity::low,
            std::string("no pickle was found in this ") + std::string(kind) +
                ": nothing in it is unpickled by the loaders pickleguard stands in for (or nothing could be read)",
            member, std::nullopt, false);
    unread = std::move(outer.unread);
    inert = std::move(outer.inert);
}

// The one place where a file's readings are judged: every reader that could
// accept the bytes gets them (detect_readings), and two readings make the
// file a polyglot, which is a finding of its own. The zip end record is
// looked for behind every other reading, as CPython's zipfile does.
void scan_any(scan_context& ctx, bytes_view bytes, const std::string& member, int depth) {
    if (depth > ctx.options.containers.max_depth) {
        ctx.add("container-limit", severity::high,
                "containers nested deeper than " + std::to_string(ctx.options.containers.max_depth) +
                    " (container_limits::max_depth); this member was not opened",
                member);
        return;
    }
    const std::vector<std::string> readings = ctx.readings_once(bytes);
    const std::string format = readings.empty() ? std::string() : readings.front();
    if (readings.size() > 1) {
        std::string names;
        for (const std::string& r : readings) names += (names.empty() ? "" : " and ") + r;
        ctx.add("polyglot", severity::high,
                "the bytes are a " + names + " at once: pickle.load, numpy.load, joblib.load and pandas.read_pickle "
                "read the pickle from offset 0, torch.load does too when Python's tarfile refuses the archive, and "
                "archive readers read the container. Every reading was judged",
                member, 0);
    }
    for (const std::string& r : readings)
        scan_reading(ctx, bytes, r, readings.size() > 1 && r != format ? join_member(member, r + " reading") : member,
                     depth);
    if (readings.empty()) {
        if (depth == 0) {
            ctx.add("unknown-format", severity::high,
                    "not a pickle or a container pickleguard knows (pickle, PyTorch, numpy, joblib, zip, tar, 7z, "
                    "gzip, bz2, xz, lzma, zstd, lz4); nothing was checked",
                    member);
            ctx.report.verdict = verdict::error;
        } else {
            ctx.add("member-not-scanned", severity::info,
                    "not a pickle or a known container, so nothing in it is loaded as a pickle; not scanned", member,
                    std::nullopt, false);
            ctx.inert.push_back(member);
        }
    }
    // A zip's end record after something else: CPython's zipfile finds it
    // (is_zipfile looks at the end), while the other loader reads the front.
    // Both readings are scanned.
    if (format != "pytorch-zip" && format != "torchscript" && format != "npz" && format != "zip" &&
        has_zip_end(bytes)) {
        auto z = parse_zip(bytes, ctx.options.containers.max_entries);
        if (z && !z.value().entries.empty()) {
            // The file's own readings list it too (the polyglot finding is
            // zip-data-before-archive's).
            if (depth == 0) ctx.report.readings.push_back("zip");
            scan_zip(ctx, bytes, join_member(member, "zip reading"), depth);
        }
    }
}

}  // namespace pickleguard::read

namespace pickleguard {

file_report scan_file(std::span<const std::byte> bytes, const policy& p, const scan_options& options,
                      const std::string& path, const knowledge_base& kb) {
    file_report r;
    r.path = path;
    r.bytes = bytes.size();
    read::scan_context ctx{p, kb, options, r};
    r.readings = ctx.readings_once(bytes);
    r.format = r.readings.empty() ? std::string() : r.readings.front();
    read::scan_any(ctx, bytes, "", 0);
    if (r.format == "pickle" && ctx.joblib_seen) r.format = "joblib";
    r.settle();
    return r;
}

}  // namespace pickleguard
