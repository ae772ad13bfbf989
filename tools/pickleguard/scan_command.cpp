// `pickleguard scan`: files and directories in, verdicts out.
#include "commands.hpp"
#include "progress.hpp"
#include "pickleguard/sandbox.hpp"

#include "pickleguard/container.hpp"
#include "pickleguard/input.hpp"
#include "pickleguard/report.hpp"
#include "pickleguard/scan.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fnmatch.h>
#include <fstream>
#include <system_error>
#include <unistd.h>

namespace pickleguard::cli {
namespace {

namespace fs = std::filesystem;

struct target {
    std::string path;
    bool named = false;  // given on the command line, not found by walking
};

// --include/--exclude globs (fnmatch), for files found by walking: a glob
// with a '/' matches the path below the walked directory, one without
// matches the file name. Files named on the command line are always scanned.
bool glob_matches(const std::string& glob, const std::string& relative) {
    if (glob.find('/') != std::string::npos) return ::fnmatch(glob.c_str(), relative.c_str(), 0) == 0;
    std::string name = fs::path(relative).filename().string();
    return ::fnmatch(glob.c_str(), name.c_str(), 0) == 0;
}

bool selected(const scan_args& args, const std::string& relative) {
    for (const std::string& g : args.exclude)
        if (glob_matches(g, relative)) return false;
    if (args.include.empty()) return true;
    for (const std::string& g : args.include)
        if (glob_matches(g, relative)) return true;
    return false;
}

std::vector<target> collect(const scan_args& args, std::vector<std::string>& unreadable) {
    std::vector<target> out;
    for (const std::string& p : args.paths) {
        std::error_code ec;
        fs::file_status st = fs::status(p, ec);
        if (ec || !fs::exists(st)) {
            unreadable.push_back(p);
            continue;
        }
        if (!fs::is_directory(st)) {
            out.push_back({p, true});
            continue;
        }
        auto opts = fs::directory_options::skip_permission_denied;
        if (args.follow_symlinks) opts |= fs::directory_options::follow_directory_symlink;
        std::vector<target> found;
        for (fs::recursive_directory_iterator it(p, opts, ec), end; !ec && it != end; it.increment(ec)) {
            const fs::directory_entry& e = *it;
            std::error_code ec2;
            if (e.is_symlink(ec2) && !args.follow_symlinks) continue;
            // Lexical: the iterator's paths all start with `p`, and fs::relative
            // would resolve every component of every path (seven readlink
            // calls per file in a deep tree).
            if (e.is_regular_file(ec2) && selected(args, e.path().lexically_relative(p).string()))
                found.push_back({e.path().string(), false});
        }
        if (ec) unreadable.push_back(p + ": " + ec.message());
        std::sort(found.begin(), found.end(), [](const target& a, const target& b) { return a.path < b.path; });
        out.insert(out.end(), found.begin(), found.end());
    }
    return out;
}

bool colour_on(FILE* f) { return ::isatty(::fileno(f)) && !std::getenv("NO_COLOR"); }

}  // namespace

int run_scan(const scan_args& args) {
    auto t0 = std::chrono::steady_clock::now();
    // Several --policy options are merged, as if one policy included them all.
    std::string policy_name;
    result<policy> pol = [&]() -> result<policy> {
        if (args.policies.empty()) {
            policy_name = "default";
            return load_shipped_policy("default");
        }
        if (args.policies.size() == 1) {
            policy_name = args.policies[0];
            return load_policy(args.policies[0]);
        }
        std::string text = "name = \"command-line\"\ninclude = [";
        std::string dir;
        for (const std::string& p : args.policies) {
            std::string stem = p;
            if (p.find('/') != std::string::npos || p.ends_with(".toml")) {
                fs::path fp(p);
                dir = fp.parent_path().string();
                stem = fp.stem().string();
            }
            text += (policy_name.empty() ? "\"" : ", \"") + stem + "\"";
            policy_name += (policy_name.empty() ? "" : "+") + stem;
        }
        text += "]\n";
        return parse_policy(text, "--policy", dir.empty() ? "." : dir);
    }();
    if (!pol) {
        std::fprintf(stderr, "pickleguard: %s\n", pol.error().reason.c_str());
        return kExitError;
    }
    const policy& p = pol.value();
    scan_options options;
    options.decode = args.decode;
    if (args.stdin_paths) return run_scan_stdin_paths(args, p, policy_name, options);

    std::vector<std::string> missing;
    std::vector<target> targets = collect(args, missing);
    std::vector<file_report> reports;
    std::vector<skipped_file> skipped;
    for (const std::string& m : missing) {
        file_report r;
        r.path = m;
        r.verdict = verdict::error;
        finding f;
        f.rule = "unreadable-file";
        f.severity = severity::high;
        f.message = "no such file or directory, or it cannot be listed";
        r.findings.push_back(f);
        reports.push_back(std::move(r));
    }
    // Everything that reads a file's content is in this function: it runs in
    // sandboxed worker processes (pickleguard/sandbox.hpp), or here with --no-sandbox.
    auto scan_one = [&](std::span<const std::byte> bytes, const scan_job& t) -> scan_outcome {
        // In a directory walk files are taken by content (detect_format); a
        // file named on the command line is always scanned, and unknown
        // content there is verdict error.
        if ((!t.named || args.skip_unknown) && detect_format(bytes).empty()) return {{}, "not a pickle container"};
        return {scan_file(bytes, p, options, t.path), {}};
    };
    std::vector<scan_job> jobs;
    jobs.reserve(targets.size());
    for (const target& t : targets) jobs.push_back({t.path, t.named});
    progress_line progress(jobs.size());
    auto show = [&](std::size_t done, std::size_t unsafe) { progress.update(done, unsafe); };
    // The knowledge base is not parsed here: a worker parses it the first
    // time a file names a global, so scans of plain data never pay for it.
    auto scanned = scan_jobs(jobs, scan_one, args.pool(args.jobs), show);
    progress.finish();
    if (!scanned) {
        std::fprintf(stderr, "pickleguard: %s\n", scanned.error().reason.c_str());
        return kExitError;
    }
    std::vector<scan_outcome> outcomes = std::move(scanned).value();
    for (scan_outcome& o : outcomes) {
        if (o.skip_reason) skipped.push_back({o.report.path, std::move(*o.skip_reason)});
        else reports.push_back(std::move(o.report));
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::string text;
    FILE* out = stdout;
    if (!args.output.empty()) {
        out = std::fopen(args.output.c_str(), "wb");
        if (!out) {
            std::fprintf(stderr, "pickleguard: cannot write %s\n", args.output.c_str());
            return kExitError;
        }
    }
    if (args.format == "json") text = report_json(reports, skipped, policy_name);
    else if (args.format == "sarif") text = report_sarif(reports, policy_name);
    else text = report_text(reports, skipped, {out == stdout && colour_on(stdout), args.quiet, args.verbose, seconds});
    std::fwrite(text.data(), 1, text.size(), out);
    if (out != stdout) std::fclose(out);

    report_summary sum = summarize(reports, skipped);
    if (sum.error) return kExitError;
    if (sum.unsafe) return kExitFound;
    if (args.fail_on) {
        for (const file_report& r : reports)
            for (const finding& f : r.findings)
                if (f.severity >= *args.fail_on) return kExitFound;
    }
    return kExitOk;
}

int run_policy_list() {
    for (const std::string& name : shipped_policy_names()) {
        auto p = load_shipped_policy(name);
        if (!p) {
            std::fprintf(stderr, "pickleguard: %s\n", p.error().reason.c_str());
            return kExitError;
        }
        std::printf("%-10s %4zu entries  %s\n", name.c_str(), p.value().entries().size(), p.value().description().c_str());
    }
    return kExitOk;
}

int run_policy_show(const std::string& name) {
    auto text = shipped_policy_text(name);
    if (!text) {
        std::fprintf(stderr, "pickleguard: %s\n", text.error().reason.c_str());
        return kExitError;
    }
    std::fwrite(text.value().data(), 1, text.value().size(), stdout);
    return kExitOk;
}

}  // namespace pickleguard::cli
