// `pickleguard scan`: files and directories in, verdicts out.
#include "commands.hpp"
#include "progress.hpp"
#include "scan_walk.hpp"
#include "pickleguard/sandbox.hpp"

#include "pickleguard/container.hpp"
#include "pickleguard/input.hpp"
#include "pickleguard/report.hpp"
#include "pickleguard/scan.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace pickleguard::cli {
namespace {

bool colour_on(FILE* f) { return ::isatty(::fileno(f)) && !std::getenv("NO_COLOR"); }

}  // namespace

int run_scan(const scan_args& args) {
    auto t0 = std::chrono::steady_clock::now();
    if (std::count(args.paths.begin(), args.paths.end(), "-") > 1) {
        std::fprintf(stderr, "pickleguard scan: '-' (standard input) can be given once\n");
        return kExitError;
    }
    for (const auto* globs : {&args.include, &args.exclude})
        for (const std::string& g : *globs)
            if (std::string why = glob_error(g, globs == &args.include); !why.empty()) {
                std::fprintf(stderr, "pickleguard scan: %s '%s': %s\n", globs == &args.include ? "--include" : "--exclude",
                             g.c_str(), why.c_str());
                return kExitError;
            }
    std::string policy_name;
    result<policy> pol = load_policy_options(args.policies, policy_name);
    if (!pol) {
        std::fprintf(stderr, "pickleguard: %s\n", pol.error().reason.c_str());
        return kExitError;
    }
    const policy& p = pol.value();
    scan_options options;
    options.decode = args.decode;
    if (args.stdin_paths) return run_scan_stdin_paths(args, p, policy_name, options);

    walk_options walk;
    walk.follow_symlinks = args.follow_symlinks;
    walk.include = args.include;
    walk.exclude = args.exclude;
    walk_result found = walk_paths(args.paths, walk);
    for (const std::string& w : found.warnings) std::fprintf(stderr, "pickleguard: warning: %s\n", w.c_str());
    std::vector<file_report> reports = std::move(found.errors);
    std::vector<skipped_file> skipped = std::move(found.skipped);
    // Everything that reads a file's content is in this function: it runs in
    // sandboxed worker processes (pickleguard/sandbox.hpp), or here with --no-sandbox.
    auto scan_one = [&](std::span<const std::byte> bytes, const scan_job& t) -> scan_outcome {
        // In a directory walk files are taken by content (detect_format); a
        // file named on the command line is always scanned, and unknown
        // content there is verdict error.
        if ((!t.named || args.skip_unknown) && detect_format(bytes).empty()) return {{}, "not a pickle container"};
        return {scan_file(bytes, p, options, t.path), {}};
    };
    const std::vector<scan_job>& jobs = found.files;
    progress_line progress(jobs.size());
    auto show = [&](std::size_t done, std::size_t unsafe) { progress.update(done, unsafe); };
    // Standard input cannot be mapped: it is read into the worker's memory,
    // bounded as decoding bounds a regular file (the tighter of the command
    // line's and the policy's max_input_bytes), and a longer one is an error.
    pool_options pool = args.pool(args.jobs);
    pool.max_stream_bytes = tighter(args.decode.limit, p.limits()).max_input_bytes;
    // The knowledge base is not parsed here: a worker parses it the first
    // time a file names a global, so scans of plain data never pay for it.
    auto scanned = scan_jobs(jobs, scan_one, pool, show);
    progress.finish();
    if (!scanned) {
        std::fprintf(stderr, "pickleguard: %s\n", scanned.error().reason.c_str());
        return kExitError;
    }
    std::vector<scan_outcome> outcomes = std::move(scanned).value();
    // Outcomes come in job order; the one read from standard input is named
    // as --stdin-name says (the pool names it "-", the path it opened).
    for (std::size_t i = 0; i < outcomes.size() && i < jobs.size(); ++i)
        if (jobs[i].path == "-") outcomes[i].report.path = args.stdin_name;
    for (scan_outcome& o : outcomes) {
        if (o.skip_reason) skipped.push_back({o.report.path, std::move(*o.skip_reason)});
        else reports.push_back(std::move(o.report));
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::string text;
    bool colour = args.output.empty() && colour_on(stdout);
    if (args.format == "json") text = report_json(reports, skipped, policy_name);
    else if (args.format == "sarif") text = report_sarif(reports, policy_name);
    else text = report_text(reports, skipped, {colour, args.quiet, args.verbose, seconds});
    if (!write_output(args.output, text)) return kExitError;

    report_summary sum = summarize(reports, skipped);
    if (sum.files == 0) {
        // Said on standard error whatever the format: a CI job whose globs or
        // paths match nothing must not pass as "0 unsafe" unnoticed.
        std::fprintf(stderr, "pickleguard: no file was scanned (%zu skipped%s)%s\n", sum.skipped,
                     sum.skipped && !args.verbose ? "; --verbose lists them" : "",
                     args.fail_on_empty ? "" : "; --fail-on-empty makes this an error");
        if (args.fail_on_empty) return kExitError;
    }
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
