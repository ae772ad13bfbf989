#include "scan/open_member.hpp"

#include "pickleguard/rules.hpp"

namespace pickleguard::scan {

bool open_member(read::read_context& ctx, read::bytes_view bytes, const location& name, int depth,
                 const std::function<void(read::bytes_view, const location&)>& pickle_reading) {
    const scan_options& options = ctx.options;
    if (depth > options.containers.max_depth) {
        ctx.add(rule::container_limit, severity::high,
                "containers nested deeper than " + std::to_string(options.containers.max_depth) +
                    " (container_limits::max_depth); this member was not opened",
                name);
        return false;
    }
    const std::vector<format> readings = ctx.readings_once(bytes);
    if (readings.size() > 1) {
        std::string names;
        for (format r : readings) names += (names.empty() ? "" : " and ") + std::string(to_string(r));
        ctx.add(rule::polyglot, severity::high,
                "the bytes are a " + names + " at once: pickle.load, numpy.load, joblib.load and pandas.read_pickle "
                "read the pickle from offset 0, torch.load does too when Python's tarfile refuses the archive, and "
                "archive readers read the container. Every reading was judged",
                name, 0);
    }
    for (format r : readings) {
        location reading_name =
            readings.size() > 1 && r != readings.front() ? name.member(std::string(to_string(r)) + " reading") : name;
        if (r == format::pickle) pickle_reading(bytes, reading_name);
        else read::read_as(ctx, bytes, r, reading_name, depth);
    }
    if (readings.empty()) {
        if (depth == 0) {
            ctx.add(rule::unknown_format, severity::high,
                    "not a pickle or a container pickleguard knows (pickle, PyTorch, numpy, joblib, zip, tar, 7z, "
                    "gzip, bz2, xz, lzma, zstd, lz4); nothing was checked",
                    name);
        } else {
            ctx.add(rule::member_not_scanned, severity::info,
                    "not a pickle or a known container, so nothing in it is loaded as a pickle; not scanned", name,
                    std::nullopt, false);
            ctx.not_scanned(name);
        }
    }
    // A zip's end record after something else: CPython's zipfile finds it
    // (is_zipfile looks at the end), while the other loader reads the
    // front. Both readings are judged; the file's own readings list it
    // too (the polyglot finding is zip-data-before-archive's).
    const bool zip_first = !readings.empty() && (readings.front() == format::pytorch_zip ||
                                                 readings.front() == format::torchscript ||
                                                 readings.front() == format::npz || readings.front() == format::zip);
    return !zip_first && read::read_zip_behind(ctx, bytes, name.member("zip reading"), depth);
}

}  // namespace pickleguard::scan
