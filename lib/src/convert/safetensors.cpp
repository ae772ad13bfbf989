// The safetensors file a scanned checkpoint's tensors become.
//
// A file is scanned first and converted only when the scan calls it safe;
// the read stage then finds its tensors (read_tensor_records), and this
// writes them: shared storages once, in safetensors' order, to a temporary
// file renamed into place when whole.
#include "../common/fd_io.hpp"

#include "pickleguard/container.hpp"
#include "pickleguard/convert.hpp"
#include "pickleguard/json.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <tuple>

namespace pickleguard {
namespace {

error fail(std::string why, error_kind k = error_kind::unsupported) {
    return error{k, error::no_offset, error::no_opcode, std::move(why)};
}

// Storages several names view, as safetensors' _find_shared_tensors and
// _remove_duplicate_names see them: views of one storage whose byte ranges
// overlap are one tensor; the name kept is the first (sorted) of those that
// cover the whole storage, the others are recorded as its aliases. Views
// that do not overlap are tensors of their own.
result<std::vector<const tensor_view*>> drop_shared(const std::vector<tensor_view>& all,
                                                    std::map<std::string, std::string>& shared) {
    std::map<std::string, std::vector<const tensor_view*>> by_storage;
    std::vector<const tensor_view*> keep;
    for (const tensor_view& t : all) {
        if (t.bytes.empty()) keep.push_back(&t);  // storage_size 0: never shared
        else by_storage[t.storage].push_back(&t);
    }
    for (auto& [key, views] : by_storage) {
        auto start = [](const tensor_view* t) { return t->offset * element_size(t->dtype); };
        std::sort(views.begin(), views.end(), [&](const tensor_view* a, const tensor_view* b) {
            std::uint64_t sa = start(a), sb = start(b);
            return sa != sb ? sa < sb : a->name < b->name;
        });
        std::vector<std::vector<const tensor_view*>> groups;
        std::uint64_t stop = 0;
        for (const tensor_view* t : views) {
            std::uint64_t s = start(t), e = s + t->nbytes();
            if (groups.empty() || s >= stop || t->nbytes() == 0) groups.push_back({t});
            else groups.back().push_back(t);
            stop = std::max(stop, e);
        }
        for (auto& g : groups) {
            if (g.size() == 1) {
                keep.push_back(g.front());
                continue;
            }
            const tensor_view* kept = nullptr;
            for (const tensor_view* t : g)
                if (t->complete() && (!kept || t->name < kept->name)) kept = t;
            if (!kept) {
                std::string names;
                for (const tensor_view* t : g) names += (names.empty() ? "" : ", ") + t->name;
                return fail("the tensors " + names + " share storage '" + key +
                            "' and none covers all of it: the conversion script refuses to save them too");
            }
            keep.push_back(kept);
            for (const tensor_view* t : g)
                if (t != kept) shared[t->name] = kept->name;
        }
    }
    // safetensors' own order: larger dtypes first (alignment), then by name.
    std::sort(keep.begin(), keep.end(), [](const tensor_view* a, const tensor_view* b) {
        if (a->dtype != b->dtype) return a->dtype > b->dtype;
        return a->name < b->name;
    });
    return keep;
}

bool write_all(int fd, const std::byte* p, std::size_t n) {
    return fd_io::write_all(fd, p, n, fd_io::target::file);
}

// Row-major without gaps (dimensions of size 1 have any stride).
bool contiguous(const tensor_view& t) {
    std::uint64_t want = 1;
    for (std::size_t i = t.shape.size(); i-- > 0;) {
        if (t.shape[i] == 1) continue;
        if (t.stride[i] != want) return false;
        want *= t.shape[i];
    }
    return true;
}

// The tensor's bytes from the input's descriptor to the output's, in the
// kernel. False when the kernel cannot (another file system, an old
// kernel): `done` then says how many bytes it did copy, and the caller
// writes the rest.
bool kernel_copy(int in, std::uint64_t at, int out, std::uint64_t n, std::uint64_t& done, bool& io_error) {
    done = 0;
    io_error = false;
    loff_t off = static_cast<loff_t>(at);
    while (done < n) {
        ssize_t k = ::copy_file_range(in, &off, out, nullptr, static_cast<std::size_t>(std::min<std::uint64_t>(n - done, 1u << 30)), 0);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF))
            return false;
        if (k <= 0) {  // an error, or the file ends early (it shrank since it was scanned)
            io_error = true;
            return false;
        }
        done += static_cast<std::uint64_t>(k);
    }
    return true;
}

}  // namespace

std::string safetensors_header(const std::vector<const tensor_view*>& tensors,
                               const std::map<std::string, std::string>& metadata) {
    std::string h = "{\"__metadata__\":{\"format\":\"pt\"";
    for (const auto& [k, v] : metadata)
        if (k != "format") h += "," + json_string_literal(k) + ":" + json_string_literal(v);
    h += "}";
    std::uint64_t at = 0;
    for (const tensor_view* t : tensors) {
        h += "," + json_string_literal(t->name) + ":{\"dtype\":\"" + std::string(safetensors_name(t->dtype)) +
             "\",\"shape\":[";
        for (std::size_t i = 0; i < t->shape.size(); ++i) h += (i ? "," : "") + std::to_string(t->shape[i]);
        std::uint64_t end = at + t->nbytes();
        h += "],\"data_offsets\":[" + std::to_string(at) + "," + std::to_string(end) + "]}";
        at = end;
    }
    h += "}";
    h.append((8 - h.size() % 8) % 8, ' ');
    return h;
}

checkpoint_tensors read_checkpoint_tensors(std::span<const std::byte> input, const convert_options& o) {
    checkpoint_tensors c;
    c.report = scan_file(input, *o.scan_policy, o.scan, o.input_name);
    c.format = c.report.format;
    if (c.report.verdict != verdict::safe) {
        std::size_t n = std::count_if(c.report.findings.begin(), c.report.findings.end(),
                                      [](const finding& f) { return f.violation; });
        c.failure = fail(std::string("refused: the scan found the file ") + to_string(c.report.verdict) + " (" +
                             std::to_string(n) + " finding" + (n == 1 ? "" : "s") + "); nothing was converted",
                         error_kind::malformed);
        return c;
    }
    result<extracted_tensors> r = fail("the file has " + std::to_string(c.report.readings.size()) +
                                       " readings; a converter reads files of one", error_kind::usage);
    if (c.report.readings.size() == 1) r = read_tensor_records(input, c.format, o, c.owned);
    if (!r) c.failure = r.error();
    else c.tensors = std::move(r.value());
    return c;
}

conversion convert_file(std::span<const std::byte> input, const std::string& output, const convert_options& o) {
    conversion out;
    struct stat st {};
    if (!o.force && ::lstat(output.c_str(), &st) == 0) {
        out.failure = fail(output + " exists (--force replaces it)", error_kind::usage);
        return out;
    }
    checkpoint_tensors c = read_checkpoint_tensors(input, o);
    out.report = std::move(c.report);
    out.format = c.format;
    if (c.failure) {
        out.failure = std::move(c.failure);
        return out;
    }
    extracted_tensors& x = c.tensors;
    if (!x.non_tensors.empty() && !o.skip_non_tensors) {
        std::string list;
        for (const std::string& s : x.non_tensors) list += (list.empty() ? "" : ", ") + s;
        out.failure = fail(std::to_string(x.non_tensors.size()) + " value" + (x.non_tensors.size() == 1 ? " is" : "s are") +
                               " not tensors: " + list + " (--skip-non-tensors drops them)",
                           error_kind::usage);
        return out;
    }
    out.dropped = x.non_tensors;
    for (const std::string& k : x.unwrapped) out.dropped.push_back(k + " (outside state_dict)");
    std::set<std::string> names;
    for (tensor_view& t : x.tensors) {
        t.name = o.key_prefix + t.name;
        // The header's own key: a tensor of that name would make its JSON mean two things.
        if (t.name == "__metadata__") {
            out.failure = fail("a tensor is named __metadata__, the safetensors header's own key", error_kind::malformed);
            return out;
        }
        if (!names.insert(t.name).second) {
            out.failure = fail("two tensors are named '" + t.name + "'", error_kind::malformed);
            return out;
        }
    }
    auto kept = drop_shared(x.tensors, out.shared);
    if (!kept) {
        out.failure = kept.error();
        return out;
    }
    const std::string header = safetensors_header(kept.value(), out.shared);

    // A temporary file beside the output, renamed over it only when whole.
    std::string dir = ".", base = output;
    if (auto slash = output.rfind('/'); slash != std::string::npos) {
        dir = slash == 0 ? "/" : output.substr(0, slash);
        base = output.substr(slash + 1);
    }
    std::string tmp = dir + "/." + base + ".tmp-XXXXXX";
    int fd = ::mkstemp(tmp.data());
    if (fd < 0) {
        out.failure = fail("cannot create a temporary file in " + dir + ": " + std::strerror(errno), error_kind::io);
        return out;
    }
    auto abandon = [&](std::string why) {
        ::close(fd);
        ::unlink(tmp.c_str());
        out.failure = fail(std::move(why), error_kind::io);
        out.written.clear();
        return out;
    };
    std::byte len[8];
    for (int k = 0; k < 8; ++k) len[k] = static_cast<std::byte>((header.size() >> (8 * k)) & 0xff);
    if (!write_all(fd, len, 8) || !write_all(fd, reinterpret_cast<const std::byte*>(header.data()), header.size()))
        return abandon("cannot write " + tmp + ": " + std::strerror(errno));
    const byte_sink sink = [fd](std::span<const std::byte> b) { return write_all(fd, b.data(), b.size()); };
    bool kernel = o.input_fd >= 0;
    for (const tensor_view* t : kept.value()) {
        const std::byte* first = t->bytes.data() + t->offset * element_size(t->dtype);
        if (kernel && t->nbytes() > 0 && contiguous(*t) && (!t->big_endian || element_size(t->dtype) == 1) &&
            first >= input.data() && first + t->nbytes() <= input.data() + input.size()) {
            std::uint64_t done = 0;
            bool io_error = false;
            if (!kernel_copy(o.input_fd, static_cast<std::uint64_t>(first - input.data()), fd, t->nbytes(), done, io_error)) {
                if (io_error) return abandon("cannot copy into " + tmp + ": " + std::strerror(errno));
                kernel = false;  // write this one's rest, and the others, from the mapping
                if (!write_all(fd, first + done, static_cast<std::size_t>(t->nbytes() - done)))
                    return abandon("cannot write " + tmp + ": " + std::strerror(errno));
            }
        } else if (!copy_tensor(*t, sink)) {
            return abandon("cannot write " + tmp + ": " + std::strerror(errno));
        }
        out.written.push_back(t->name);
        out.tensor_bytes += t->nbytes();
    }
    out.file_bytes = 8 + header.size() + out.tensor_bytes;
    // Readable as a file `cp` makes (mkstemp's are 0600), within the umask.
    mode_t mask = ::umask(0);
    ::umask(mask);
    // fsync before the rename: otherwise a crash soon after can leave the
    // output's name on a file whose blocks were never written (ext4's
    // delayed allocation), a truncated safetensors file that looks whole.
    if (::fchmod(fd, 0666 & ~mask) != 0 || ::fsync(fd) != 0 || ::close(fd) != 0) {
        ::unlink(tmp.c_str());
        out.failure = fail("cannot write " + tmp + ": " + std::strerror(errno), error_kind::io);
        return out;
    }
    // Without --force, link() refuses an output that appeared meanwhile.
    int rc = o.force ? ::rename(tmp.c_str(), output.c_str()) : ::link(tmp.c_str(), output.c_str());
    int saved = errno;
    if (!o.force) ::unlink(tmp.c_str());
    if (rc != 0) {
        if (o.force) ::unlink(tmp.c_str());
        out.failure = fail("cannot create " + output + ": " + std::strerror(saved), error_kind::io);
        out.written.clear();
        return out;
    }
    // The new name is durable once its directory is synced; best effort:
    // the file is whole and in place either way, so this cannot fail it.
    if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
    return out;
}

}  // namespace pickleguard
