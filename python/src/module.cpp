// _pickleguard: the compiled half of the `pickleguard` Python package.
//
// A thin layer over the public C++ API: policies, and scans whose result is
// the same JSON document `pickleguard scan --format json` prints (the Python
// layer parses it into a Report). Inputs are taken through the buffer
// protocol without copying, and the GIL is released while C++ decodes, so a
// service can scan on several threads at once.
//
// The *_sandboxed functions run the same scan in forked, seccomp-jailed
// worker processes (pickleguard/sandbox.hpp), as `pickleguard scan` does by
// default: the parsing of untrusted bytes never happens in the Python
// process itself. A buffer is handed to its worker through a memfd copy.
#include "pickleguard/container.hpp"
#include "pickleguard/input.hpp"
#include "pickleguard/policy.hpp"
#include "pickleguard/report.hpp"
#include "pickleguard/report_schema.hpp"
#include "pickleguard/sandbox.hpp"
#include "pickleguard/scan.hpp"
#include "pickleguard/version.hpp"
#include "pickleguard/walk.hpp"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace py = pybind11;
namespace pg = pickleguard;

namespace {

// Python objects share one parsed policy (never changed after parsing; the
// holder is non-const only because pybind11 requires it).
using policy_ptr = std::shared_ptr<pg::policy>;

policy_ptr take(pg::result<pg::policy> r) {
    if (!r) throw py::value_error(pg::describe(r.error()));
    return std::make_shared<pg::policy>(std::move(r).value());
}

py::list uses_list(std::uint8_t bits) {
    py::list out;
    for (const pg::use_word& u : pg::use_words)
        if (u.bit != pg::uses::reference && (bits & u.bit)) out.append(std::string(u.word));
    return out;
}

py::dict entry_dict(const pg::allow_entry& e) {
    py::dict d;
    d["module"] = e.module;
    d["name"] = e.name;
    d["module_is_pattern"] = e.module_is_pattern;
    d["name_is_pattern"] = e.name_is_pattern;
    d["uses"] = uses_list(e.uses);
    d["note"] = e.note;
    d["origin"] = e.origin;
    return d;
}

// The report's tables (pickleguard/report_schema.hpp), which the Python
// layer builds its Report from: {"tables": {struct: [(field, kind, item,
// size)]}, "enumerations": {enum: [values in order]}}. `item` is what a list
// holds ("text", or a struct's table name), `size` the bytes of a number,
// flag or enumeration (as the wire writes it); both are None otherwise.
template <class T>
py::list schema_rows() {
    py::list rows;
    pg::schema::for_each_field<T>([&](const auto& row) {
        using Row = std::decay_t<decltype(row)>;
        py::object item = py::none();
        if constexpr (Row::kind_value == pg::schema::kind::list) {
            using Item = typename Row::member_type::value_type;
            if constexpr (std::is_same_v<Item, std::string>) item = py::str("text");
            else item = py::str(std::string(pg::schema::table<Item>::name));
        }
        py::object size = py::none();
        if constexpr (std::is_integral_v<typename Row::member_type> || std::is_enum_v<typename Row::member_type>)
            size = py::int_(sizeof(typename Row::member_type));
        rows.append(
            py::make_tuple(std::string(row.name), std::string(pg::schema::to_string(Row::kind_value)), item, size));
    });
    return rows;
}

template <class E>
py::list enumeration_values() {
    py::list values;
    for (unsigned v = 0; v <= static_cast<unsigned>(pg::schema::last_value(E{})); ++v)
        values.append(pg::to_string(static_cast<E>(v)));
    return values;
}

py::dict report_schema() {
    py::dict tables;
    tables[py::str(std::string(pg::schema::table<pg::file_report>::name))] = schema_rows<pg::file_report>();
    tables[py::str(std::string(pg::schema::table<pg::finding>::name))] = schema_rows<pg::finding>();
    tables[py::str(std::string(pg::schema::table<pg::global_report>::name))] = schema_rows<pg::global_report>();
    py::dict enums;
    enums["verdict"] = enumeration_values<pg::verdict>();
    enums["severity"] = enumeration_values<pg::severity>();
    py::dict uses;  // the bits behind a report's `uses` words (pickleguard::use_words)
    for (const pg::use_word& u : pg::use_words) uses[py::str(std::string(u.word))] = u.bit;
    py::dict out;
    out["tables"] = tables;
    out["enumerations"] = enums;
    out["uses"] = uses;
    return out;
}

// The JSON report of one file, as `pickleguard scan --format json` writes it.
std::string report_of(const pg::file_report& r, const pg::policy& p) {
    return pg::report_json({r}, {}, p.name());
}

pg::file_report scan_span(std::span<const std::byte> bytes, const pg::policy& p, const std::string& path,
                          bool containers) {
    if (containers) return pg::scan_file(bytes, p, {}, path);
    return pg::scan_bytes(bytes, p, {}, path);
}

// Address space this process has mapped now. A worker is a fork of it and
// starts with the same mappings (an interpreter with torch or numpy loaded
// maps gigabytes), so the per-worker budget is counted on top of them.
std::uint64_t mapped_bytes() {
    unsigned long long pages = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%llu", &pages) != 1) pages = 0;
        std::fclose(f);
    }
    return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

pg::pool_options sandbox_options(unsigned jobs, double timeout_seconds, std::uint64_t max_memory_mb) {
    pg::pool_options o;
    o.sandbox = true;
    o.jobs = jobs;
    o.timeout_seconds = timeout_seconds;
    o.memory_bytes = max_memory_mb ? (max_memory_mb << 20) + mapped_bytes() : 0;
    return o;
}

// Scans `jobs` in sandboxed workers, naming each report `names[i]`; throws
// OSError when the sandbox cannot be set up (nothing is then scanned: no
// silent fallback to an unsandboxed scan). Called without the GIL.
std::vector<pg::file_report> scan_sandboxed(const std::vector<pg::scan_job>& jobs, const std::vector<std::string>& names,
                                            const pg::policy& p, bool containers, const pg::pool_options& options,
                                            std::string& failure) {
    // The worker is a fork: it has this map, and scans under the caller's name
    // (a buffer's job path is its memfd's /proc/self/fd/N).
    std::unordered_map<std::string, std::string> name_of;
    for (std::size_t i = 0; i < jobs.size(); ++i) name_of.emplace(jobs[i].path, names[i]);
    pg::scan_function scan = [&](std::span<const std::byte> bytes, const pg::scan_job& job) {
        auto it = name_of.find(job.path);
        return pg::scan_outcome{scan_span(bytes, p, it == name_of.end() ? job.path : it->second, containers), {}};
    };
    auto done = pg::scan_in_workers(jobs, scan, options, {});
    std::vector<pg::file_report> out;
    if (!done) {
        failure = done.error().reason;
        return out;
    }
    for (std::size_t i = 0; i < done.value().size(); ++i) {
        out.push_back(std::move(done.value()[i].report));
        out.back().path = names[i];
    }
    return out;
}


// ---- the cluster scan's parts (python/pickleguard/cluster.py) ----------------
//
// A bulk scan on Dask walks as `scan` walks, scans each task's files in
// sandboxed workers as `scan` scans them, and carries every file's outcome
// back to the client as the workers' own binary record (serialize_outcome),
// from which the client writes one report with the C++ writers: JSON, JSONL
// and SARIF are then `scan`'s, byte for byte, whatever machine scanned.

py::bytes record_of(const pg::scan_outcome& o) { return py::bytes(pg::serialize_outcome(o)); }

pg::scan_outcome outcome_of(const py::bytes& record) {
    auto o = pg::deserialize_outcome(std::string_view(record));
    if (!o) throw py::value_error(pg::describe(o.error()));
    return std::move(o).value();
}

// The outcomes split as `scan` reports them: reports in order, and the
// skipped (`extra_skipped` first: the walk's, as `scan` lists them).
void split_outcomes(const std::vector<pg::scan_outcome>& outcomes,
                    const std::vector<std::pair<std::string, std::string>>& extra_skipped,
                    std::vector<pg::file_report>& reports, std::vector<pg::skipped_file>& skipped) {
    for (const auto& [path, reason] : extra_skipped) skipped.push_back({path, reason});
    for (const pg::scan_outcome& o : outcomes) {
        if (o.skip_reason) skipped.push_back({o.report.path, *o.skip_reason});
        else reports.push_back(o.report);
    }
}

[[noreturn]] void raise_os_error(const std::string& message) {
    PyErr_SetString(PyExc_OSError, message.c_str());
    throw py::error_already_set();
}

// A read-only, C-contiguous view of any buffer exporter (PyBUF_SIMPLE):
// bytes are read in place, and the exporter stays locked (a bytearray cannot
// be resized) until the view is released.
class contiguous_view {
public:
    explicit contiguous_view(const py::object& obj) {
        if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    }
    ~contiguous_view() { PyBuffer_Release(&view_); }
    contiguous_view(const contiguous_view&) = delete;
    contiguous_view& operator=(const contiguous_view&) = delete;
    std::span<const std::byte> bytes() const {
        return {static_cast<const std::byte*>(view_.buf), static_cast<std::size_t>(view_.len)};
    }

private:
    Py_buffer view_{};
};

}  // namespace

PYBIND11_MODULE(_pickleguard, m) {
    m.doc() = "pickleguard's C++ core: policies and scans (use the pickleguard package, not this module)";
    m.attr("__version__") = pg::version();
    m.attr("report_schema") = report_schema();

    py::class_<pg::policy, policy_ptr>(m, "Policy")
        .def_static("shipped", [](const std::string& name) { return take(pg::load_shipped_policy(name)); })
        .def_static("load", [](const std::string& name_or_path) { return take(pg::load_policy(name_or_path)); })
        .def_static("load_many",
                    [](const std::vector<std::string>& names_or_paths) {
                        return take(pg::load_policies(names_or_paths));
                    })
        .def_static(
            "parse",
            [](const std::string& text, const std::string& origin, const std::string& search_dir) {
                return take(pg::parse_policy(text, origin, search_dir));
            },
            py::arg("text"), py::arg("origin") = "<string>", py::arg("search_dir") = "")
        .def_property_readonly("name", &pg::policy::name)
        .def_property_readonly("description", &pg::policy::description)
        .def_property_readonly("includes", &pg::policy::includes)
        .def_property_readonly("entries",
                               [](const pg::policy& p) {
                                   py::list out;
                                   for (const pg::allow_entry& e : p.entries()) out.append(entry_dict(e));
                                   return out;
                               })
        .def_property_readonly("persistent_ids",
                               [](const pg::policy& p) {
                                   py::list out;
                                   for (const pg::persistent_id_rule& r : p.persistent_ids()) {
                                       py::dict d;
                                       d["shape"] = r.shape;
                                       d["storage_types"] = r.storage_types;
                                       out.append(d);
                                   }
                                   return out;
                               })
        // The entry allowing (module, name) as find_class resolves it, or None.
        .def("find",
             [](const pg::policy& p, std::string_view module, std::string_view name) -> py::object {
                 const pg::allow_entry* e = p.find(module, name);
                 return e ? py::object(entry_dict(*e)) : py::object(py::none());
             })
        .def("allows_storage_type", &pg::policy::allows_storage_type);

    m.def("shipped_policy_names", &pg::shipped_policy_names);

    // Scans any object with the buffer protocol (bytes, bytearray,
    // memoryview, mmap, numpy arrays) in place. The view keeps the exporter
    // locked while the GIL is released.
    m.def(
        "scan_buffer",
        [](const py::object& data, const policy_ptr& p, const std::string& path, bool containers) {
            contiguous_view view(data);
            std::string json;
            {
                py::gil_scoped_release unlocked;
                json = report_of(scan_span(view.bytes(), *p, path, containers), *p);
            }
            return json;
        },
        py::arg("data"), py::arg("policy"), py::arg("path") = "<bytes>", py::arg("containers") = true);

    // scan_buffer in a sandboxed worker: the bytes are copied into a memfd
    // whose descriptor the worker reads.
    m.def(
        "scan_buffer_sandboxed",
        [](const py::object& data, const policy_ptr& p, const std::string& path, bool containers,
           double timeout_seconds, std::uint64_t max_memory_mb) {
            contiguous_view view(data);
            std::string json, failure;
            {
                py::gil_scoped_release unlocked;
                int fd = ::memfd_create("pickleguard-scan", MFD_CLOEXEC);
                if (fd < 0) {
                    failure = std::string("memfd_create: ") + std::strerror(errno);
                } else {
                    auto bytes = view.bytes();
                    const char* at = reinterpret_cast<const char*>(bytes.data());
                    std::size_t left = bytes.size();
                    while (left && failure.empty()) {
                        ssize_t n = ::write(fd, at, left);
                        if (n < 0 && errno == EINTR) continue;
                        if (n <= 0) failure = std::string("writing the memfd: ") + std::strerror(errno);
                        else at += n, left -= static_cast<std::size_t>(n);
                    }
                    if (failure.empty()) {
                        std::vector<pg::scan_job> jobs{{"/proc/self/fd/" + std::to_string(fd), true}};
                        auto reports = scan_sandboxed(jobs, {path}, *p, containers,
                                                      sandbox_options(1, timeout_seconds, max_memory_mb), failure);
                        if (failure.empty()) json = report_of(reports.at(0), *p);
                    }
                    ::close(fd);
                }
            }
            if (!failure.empty()) raise_os_error(failure);
            return json;
        },
        py::arg("data"), py::arg("policy"), py::arg("path") = "<bytes>", py::arg("containers") = true,
        py::arg("timeout") = 60.0, py::arg("max_memory_mb") = 8192);

    // Files scanned in sandboxed workers, `jobs` at once (0: one per core);
    // one JSON report per path, in order. A file that cannot be opened is an
    // `error` report, as in `pickleguard scan`.
    m.def(
        "scan_paths_sandboxed",
        [](const std::vector<std::string>& paths, const policy_ptr& p, bool containers, unsigned jobs,
           double timeout_seconds, std::uint64_t max_memory_mb) {
            std::vector<std::string> out;
            std::string failure;
            {
                py::gil_scoped_release unlocked;
                std::vector<pg::scan_job> todo;
                for (const std::string& path : paths) todo.push_back({path, true});
                auto reports = scan_sandboxed(todo, paths, *p, containers,
                                              sandbox_options(jobs, timeout_seconds, max_memory_mb), failure);
                for (const pg::file_report& r : reports) out.push_back(report_of(r, *p));
            }
            if (!failure.empty()) raise_os_error(failure);
            return out;
        },
        py::arg("paths"), py::arg("policy"), py::arg("containers") = true, py::arg("jobs") = 0,
        py::arg("timeout") = 60.0, py::arg("max_memory_mb") = 8192);

    // Scans a file, memory-mapped (read into memory when it is a pipe).
    m.def(
        "scan_path",
        [](const std::string& path, const policy_ptr& p, bool containers) {
            std::string json;
            std::string failure;
            {
                py::gil_scoped_release unlocked;
                pg::result<pg::mapped_file> file = pg::map_file(path);
                if (file) json = report_of(scan_span(file.value().bytes(), *p, path, containers), *p);
                else failure = pg::describe(file.error());
            }
            // map_file's reason names the path already; say it once.
            if (!failure.empty()) raise_os_error(failure.starts_with(path) ? failure : path + ": " + failure);
            return json;
        },
        py::arg("path"), py::arg("policy"), py::arg("containers") = true);

    // ---- the cluster scan (python/pickleguard/cluster.py) ----

    m.def("glob_error", &pg::glob_error, py::arg("glob"), py::arg("include"));

    // `scan`'s walk of PATH...: (files as (path, named), error records,
    // skipped as (path, reason), warnings).
    m.def(
        "walk_paths",
        [](const std::vector<std::string>& paths, const std::vector<std::string>& include,
           const std::vector<std::string>& exclude, bool follow_symlinks) {
            pg::walk_result found;
            {
                py::gil_scoped_release unlocked;
                pg::walk_options options;
                options.follow_symlinks = follow_symlinks;
                options.include = include;
                options.exclude = exclude;
                found = pg::walk_paths(paths, options);
            }
            py::list files, errors, skipped;
            for (const pg::scan_job& j : found.files) files.append(py::make_tuple(j.path, j.named, j.no_follow));
            for (const pg::file_report& r : found.errors) errors.append(record_of({r, {}}));
            for (const pg::skipped_file& f : found.skipped) skipped.append(py::make_tuple(f.path, f.reason));
            return py::make_tuple(files, errors, skipped, found.warnings);
        },
        py::arg("paths"), py::arg("include"), py::arg("exclude"), py::arg("follow_symlinks") = false);

    // Scans (path, named, name, no_follow) jobs as `scan` does, in `jobs`
    // sandboxed workers (0: one per core), each reported under its `name`
    // (the path as the user gave it; `path` is what this machine opens;
    // no_follow as walk_paths gave it: a walked file swapped for a link
    // after the walk is an error report, never read): a file found by
    // walking (or any, with skip_unknown) whose content is no container is
    // skipped, a named one is always judged. One outcome record per job, in
    // order. OSError when the sandbox cannot be set up (nothing is scanned).
    m.def(
        "scan_outcomes",
        [](const std::vector<std::tuple<std::string, bool, std::string, bool>>& paths, const policy_ptr& p,
           bool skip_unknown, unsigned jobs, double timeout_seconds, std::uint64_t max_memory_mb, bool sandbox) {
            std::vector<std::string> records;
            std::string failure;
            {
                py::gil_scoped_release unlocked;
                std::vector<pg::scan_job> todo;
                std::unordered_map<std::string, std::string> name_of;
                for (const auto& [path, named, name, no_follow] : paths) {
                    pg::scan_job job{path, named};
                    job.no_follow = no_follow;
                    todo.push_back(job);
                    name_of.emplace(path, name);
                }
                // Runs in the forked worker, which has this map.
                pg::scan_function scan = [&](std::span<const std::byte> bytes, const pg::scan_job& t) {
                    if ((!t.named || skip_unknown) && pg::detect_format(bytes).empty())
                        return pg::scan_outcome{{}, "not a pickle container"};
                    auto it = name_of.find(t.path);
                    return pg::scan_outcome{pg::scan_file(bytes, *p, {}, it == name_of.end() ? t.path : it->second), {}};
                };
                pg::pool_options options = sandbox_options(jobs, timeout_seconds, max_memory_mb);
                options.sandbox = sandbox;
                auto done = pg::scan_jobs(todo, scan, options, {});
                if (!done) {
                    failure = done.error().reason;
                } else {
                    for (std::size_t i = 0; i < done.value().size(); ++i) {
                        pg::scan_outcome& o = done.value()[i];
                        o.report.path = std::get<2>(paths[i]);
                        records.push_back(pg::serialize_outcome(o));
                    }
                }
            }
            if (!failure.empty()) raise_os_error(failure);
            py::list out;
            for (const std::string& r : records) out.append(py::bytes(r));
            return out;
        },
        py::arg("paths"), py::arg("policy"), py::arg("skip_unknown") = false, py::arg("jobs") = 1,
        py::arg("timeout") = 60.0, py::arg("max_memory_mb") = 8192, py::arg("sandbox") = true);

    // An `error` outcome (verdict error, one high finding under `rule`).
    m.def(
        "error_outcome",
        [](const std::string& path, const std::string& rule, const std::string& message) {
            return record_of({pg::file_report::error(path, rule, message), {}});
        },
        py::arg("path"), py::arg("rule"), py::arg("message"));

    // A file the walk skipped, as an outcome.
    m.def(
        "skipped_outcome",
        [](const std::string& path, const std::string& reason) {
            pg::scan_outcome o{{}, reason};
            o.report.path = path;
            return record_of(o);
        },
        py::arg("path"), py::arg("reason"));

    // The path an outcome record reports (ValueError when it is malformed):
    // what the client checks a task's records against, in order, so that a
    // record lost, repeated or misplaced is never a file missing or counted
    // twice.
    m.def("outcome_path", [](const py::bytes& record) { return outcome_of(record).report.path; });
    // Whether an outcome record is of a skipped file (ValueError when malformed).
    m.def("outcome_skipped", [](const py::bytes& record) { return outcome_of(record).skip_reason.has_value(); });

    // One outcome as its `scan --format jsonl` line (a file's or a skipped one's).
    m.def("outcome_jsonl", [](const py::bytes& record) {
        pg::scan_outcome o = outcome_of(record);
        return o.skip_reason ? pg::report_jsonl_skipped({o.report.path, *o.skip_reason}) : pg::report_jsonl_file(o.report);
    });

    // The whole report of these outcomes as `scan --format FORMAT` writes it:
    // "json", "sarif" (paths relative to `root`, as `scan` makes them
    // relative to its working directory) or "summary" (the jsonl summary
    // line; the other lines are outcome_jsonl's, written as files finish).
    m.def(
        "render_outcomes",
        [](const std::vector<py::bytes>& records, const std::vector<std::pair<std::string, std::string>>& skipped_walk,
           const std::string& policy_name, const std::string& format, const std::string& root) {
            if (format != "json" && format != "sarif" && format != "summary")
                throw py::value_error("format must be json, sarif or summary, not " + format);
            std::vector<pg::scan_outcome> outcomes;
            for (const py::bytes& r : records) outcomes.push_back(outcome_of(r));
            py::gil_scoped_release unlocked;
            std::vector<pg::file_report> reports;
            std::vector<pg::skipped_file> skipped;
            split_outcomes(outcomes, skipped_walk, reports, skipped);
            if (format == "json") return pg::report_json(reports, skipped, policy_name);
            if (format == "sarif") return pg::report_sarif(reports, policy_name, {root});
            return pg::report_jsonl_summary(pg::summarize(reports, skipped), policy_name);
        },
        py::arg("records"), py::arg("skipped"), py::arg("policy_name"), py::arg("format"), py::arg("root") = "");
}
