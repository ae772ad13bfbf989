// `pickleguard scan`: files and directories in, verdicts out.
#include "commands.hpp"
#include "progress.hpp"
#include "pickleguard/sandbox.hpp"

#include "pickleguard/container.hpp"
#include "pickleguard/input.hpp"
#include "pickleguard/report.hpp"
#include "pickleguard/scan.hpp"
#include "pickleguard/walk.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace pickleguard::cli {
namespace {

bool colour_on(FILE* f) { return ::isatty(::fileno(f)) && !std::getenv("NO_COLOR"); }

// SARIF's %SRCROOT%: where the scan runs (a CI job's checkout); empty if
// it cannot be told, and paths are then left as given.
std::string working_directory() {
    char buf[4096];
    return ::getcwd(buf, sizeof buf) ? std::string(buf) : std::string();
}

// The lines of --format jsonl, each flushed as it is written so that a
// reader of the pipe (or a `tail -f` of the file) sees a file's verdict
// while later files are read. A write that fails is said once, at close.
class line_writer {
public:
    line_writer() = default;
    line_writer(const line_writer&) = delete;
    line_writer& operator=(const line_writer&) = delete;
    ~line_writer() { close(); }

    bool open(const std::string& path) {
        path_ = path;
        out_ = path.empty() ? stdout : std::fopen(path.c_str(), "wb");
        if (!out_) std::fprintf(stderr, "pickleguard: cannot write %s\n", path.c_str());
        return out_ != nullptr;
    }
    bool on() const { return out_ != nullptr; }
    void write(std::string_view line) {
        if (std::fwrite(line.data(), 1, line.size(), out_) != line.size() || std::fflush(out_) != 0) ok_ = false;
    }
    bool close() {
        if (!out_) return ok_;
        if (out_ != stdout && std::fclose(out_) != 0) ok_ = false;
        out_ = nullptr;
        if (!ok_) std::fprintf(stderr, "pickleguard: cannot write %s\n", path_.empty() ? "standard output" : path_.c_str());
        return ok_;
    }

private:
    FILE* out_ = nullptr;
    std::string path_;
    bool ok_ = true;
};

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

    // The hint a pre-commit user needs (issue 17): under the default policy,
    // a file that fails is judged again, in its worker, under each other
    // shipped policy, and the report names those under which it is safe. A
    // real re-judging, not a guess from the globals' names, so a file with a
    // gadget no shipped policy allows (os.system) gets no hint.
    std::vector<std::pair<std::string, policy>> alternatives;
    bool default_policy = args.policies.empty() || (args.policies.size() == 1 && args.policies[0] == "default");
    if (args.format == "text" && default_policy)
        for (const std::string& name : shipped_policy_names())
            if (name != "default")
                if (auto alt = load_shipped_policy(name)) alternatives.emplace_back(name, std::move(alt).value());

    walk_options walk;
    walk.follow_symlinks = args.follow_symlinks;
    walk.include = args.include;
    walk.exclude = args.exclude;
    walk_result found = walk_paths(args.paths, walk);
    for (const std::string& w : found.warnings) std::fprintf(stderr, "pickleguard: warning: %s\n", w.c_str());
    std::vector<file_report> reports = std::move(found.errors);
    std::vector<skipped_file> skipped = std::move(found.skipped);
    // --format jsonl writes each file's line as soon as it is done, to
    // standard output or to the --output file, opened now; the other
    // formats write the whole report at the end.
    line_writer lines;
    if (args.format == "jsonl") {
        if (!lines.open(args.output)) return kExitError;
        for (const file_report& r : reports) lines.write(report_jsonl_file(r));
        for (const skipped_file& s : skipped) lines.write(report_jsonl_skipped(s));
    }
    // Everything that reads a file's content is in this function: it runs in
    // sandboxed worker processes (pickleguard/sandbox.hpp), or here with --no-sandbox.
    auto scan_one = [&](std::span<const std::byte> bytes, const scan_job& t) -> scan_outcome {
        // In a directory walk files are taken by content (detect_format); a
        // file named on the command line is always scanned, and unknown
        // content there is verdict error.
        if ((!t.named || args.skip_unknown) && detect_format(bytes).empty()) return {{}, "not a pickle container"};
        scan_outcome o{scan_file(bytes, p, options, t.path), {}};
        if (o.report.verdict != verdict::unsafe || alternatives.empty()) return o;
        // Only a file whose violations are all globals outside the policy,
        // none critical, is judged again, and only under a policy that has an
        // entry for each of them: a scan that fails on an attack or a
        // malformed stream, or a multi-gigabyte checkpoint no shipped policy
        // covers, is not decoded seven more times for nothing.
        for (const finding& f : o.report.findings)
            if (f.violation && (f.module.empty() || f.severity == severity::critical)) return o;
        // Not a structured binding: clang 14 cannot capture one in a lambda.
        for (const auto& alternative : alternatives) {
            const auto& name = alternative.first;
            const auto& alt = alternative.second;
            bool covers = std::all_of(o.report.globals.begin(), o.report.globals.end(), [&](const global_report& g) {
                return g.allowed || alt.find(g.module, g.name);
            });
            if (covers && scan_file(bytes, alt, options, t.path).verdict == verdict::safe)
                o.text += (o.text.empty() ? "" : " ") + name;
        }
        return o;
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
    outcome_function each;
    if (lines.on())
        each = [&](std::size_t i, const scan_outcome& o) {
            std::string path = jobs[i].path == "-" ? args.stdin_name : o.report.path;
            if (o.skip_reason) {
                lines.write(report_jsonl_skipped({path, *o.skip_reason}));
            } else if (path != o.report.path) {
                file_report named = o.report;
                named.path = path;
                lines.write(report_jsonl_file(named));
            } else {
                lines.write(report_jsonl_file(o.report));
            }
        };
    auto scanned = scan_jobs(jobs, scan_one, pool, show, each);
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
    std::string hints;
    for (const scan_outcome& o : outcomes) {
        if (o.text.empty() || o.skip_reason) continue;
        std::string under, first = o.text.substr(0, o.text.find(' '));
        for (std::size_t at = 0; at < o.text.size();) {
            std::size_t end = std::min(o.text.find(' ', at), o.text.size());
            under += (under.empty() ? "--policy " : ", or --policy ") + o.text.substr(at, end - at);
            at = end + 1;
        }
        hints += "hint: " + printable(o.report.path) + " passes under " + under + " (see `pickleguard policy show " +
                 first + "`; a pre-commit hook takes it as args: [--policy, " + first + "])\n";
    }
    for (scan_outcome& o : outcomes) {
        if (o.skip_reason) skipped.push_back({o.report.path, std::move(*o.skip_reason)});
        else reports.push_back(std::move(o.report));
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    if (lines.on()) {
        lines.write(report_jsonl_summary(summarize(reports, skipped), policy_name));
        if (!lines.close()) return kExitError;
    } else {
        std::string text;
        bool colour = args.output.empty() && colour_on(stdout);
        if (args.format == "json") text = report_json(reports, skipped, policy_name);
        else if (args.format == "sarif") text = report_sarif(reports, policy_name, {working_directory()});
        else text = report_text(reports, skipped, {colour, args.quiet, args.verbose, seconds}) + hints;
        if (!write_output(args.output, text)) return kExitError;
    }

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
