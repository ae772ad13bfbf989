// `pickleguard scan --stdin-paths`: the worker loop of a platform that scans
// uploads. Paths arrive on standard input, one per line; each gets one line
// of JSON on standard output, the same object as an entry of the "files"
// array of `scan --format json` (docs/report-format.md), flushed at once so
// the caller can read it before sending the next path. Every file is judged
// on its own, in a sandboxed worker process as `scan` does (a fresh one per
// path, so nothing carries over from one file to the next), or in this
// process with --no-sandbox.
#include "commands.hpp"

#include "pickleguard/json.hpp"
#include "pickleguard/report.hpp"
#include "pickleguard/sandbox.hpp"

#include <cstdio>
#include <cstdlib>

namespace pickleguard::cli {
namespace {

// JSON text without the whitespace between tokens.
std::string compact(std::string_view pretty) {
    std::string out;
    out.reserve(pretty.size());
    bool in_string = false, escaped = false;
    for (char c : pretty) {
        if (in_string) {
            out.push_back(c);
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
            out.push_back(c);
        } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            out.push_back(c);
        }
    }
    return out;
}

// The object of one file, cut out of the library's report document so the
// fields are exactly those of `scan --format json`.
std::string file_object(const file_report& r, const std::string& policy_name) {
    std::string doc = compact(report_json({r}, {}, policy_name));
    std::size_t start = doc.find("\"files\":[{");
    if (start == std::string::npos) return "{}";
    start += 9;
    int depth = 0;
    bool in_string = false, escaped = false;
    for (std::size_t i = start; i < doc.size(); ++i) {
        char c = doc[i];
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') ++depth;
        else if ((c == '}' || c == ']') && --depth == 0) return doc.substr(start, i + 1 - start);
    }
    return "{}";
}

}  // namespace

int run_scan_stdin_paths(const scan_args& args, const policy& p, const std::string& policy_name,
                         const scan_options& options) {
    bool any_unsafe = false, any_error = false;
    std::size_t paths = 0;
    // The same scan function as `scan`: the only code that reads the file.
    scan_function scan_one = [&](std::span<const std::byte> bytes, const scan_job& job) -> scan_outcome {
        if (args.skip_unknown && !is_known_container(bytes)) return {{}, "not a pickle container"};
        return {scan_target(bytes, p, options, job.path), {}};
    };
    const pool_options pool = args.pool(1);
    auto quiet = [](std::size_t, std::size_t) {};
    char* buf = nullptr;
    std::size_t cap = 0;
    ssize_t n;
    while ((n = ::getline(&buf, &cap, stdin)) != -1) {
        std::string path(buf, static_cast<std::size_t>(n));
        while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
        if (path.empty()) continue;
        ++paths;
        std::vector<scan_job> job{{path, true}};
        auto scanned = scan_jobs(job, scan_one, pool, quiet);
        if (!scanned) {
            std::fprintf(stderr, "pickleguard: %s\n", scanned.error().reason.c_str());
            std::free(buf);
            return kExitError;
        }
        std::vector<scan_outcome> outcome = std::move(scanned).value();
        std::string line;
        if (outcome.empty()) {
            any_error = true;
            line = file_object(unreadable_report(path, "no report"), policy_name);
        } else if (outcome[0].skip_reason) {
            line = "{\"path\":" + json_string_literal(path) + ",\"skipped\":" +
                   json_string_literal(*outcome[0].skip_reason) + "}";
        } else {
            const file_report& r = outcome[0].report;
            if (r.verdict == verdict::error) any_error = true;
            else if (r.verdict == verdict::unsafe) any_unsafe = true;
            else if (args.fail_on)
                for (const finding& f : r.findings)
                    if (f.severity >= *args.fail_on) any_unsafe = true;
            line = file_object(r, policy_name);
        }
        line.push_back('\n');
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fflush(stdout);
    }
    std::free(buf);
    if (paths == 0) {
        std::fprintf(stderr, "pickleguard: no path came on standard input, so no file was scanned\n");
        if (args.fail_on_empty) return kExitError;
    }
    if (any_error) return kExitError;
    return any_unsafe ? kExitFound : kExitOk;
}

}  // namespace pickleguard::cli
