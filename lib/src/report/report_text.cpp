// Reports as text, for a person at a terminal: one line per file, its
// findings below it, a summary line; `pickleguard scan` prints it by
// default. Programs read the JSON or SARIF reports instead.
#include "pickleguard/report.hpp"

#include <cstdio>

namespace pickleguard {
namespace {

const char* colour_of(verdict v) {
    switch (v) {
        case verdict::safe: return "\033[32m";
        case verdict::unsafe: return "\033[1;31m";
        default: return "\033[33m";
    }
}

}  // namespace

std::string report_text(const std::vector<file_report>& files, const std::vector<skipped_file>& skipped,
                        const text_options& options) {
    const bool colour = options.colour, quiet = options.quiet, verbose = options.verbose;
    const double seconds = options.seconds;
    std::string out;
    const char* reset = colour ? "\033[0m" : "";
    for (const file_report& f : files) {
        if (quiet && f.verdict == verdict::safe) continue;
        char head[32];
        std::snprintf(head, sizeof head, "%-7s", to_string(f.verdict));
        out += (colour ? colour_of(f.verdict) : "") + std::string(head) + reset + " " + f.path + "\n";
        for (const finding& x : f.findings) {
            if (quiet && !x.violation) continue;
            if (!verbose && !x.violation && x.severity == severity::info) continue;
            std::string where;
            if (std::string member = to_string(x.member); !member.empty()) where += member + ": ";
            if (x.offset) where += "offset " + std::to_string(*x.offset);
            if (!x.opcode.empty()) where += " (" + x.opcode + ")";
            char sev[16];
            std::snprintf(sev, sizeof sev, "%-8s", to_string(x.severity));
            out += "  " + std::string(sev) + " " + x.rule + (where.empty() ? "" : "  " + where) + "\n      " + x.message +
                   "\n";
        }
    }
    for (const skipped_file& s : skipped)
        if (verbose) out += "skipped " + s.path + ": " + s.reason + "\n";
    report_summary sum = summarize(files, skipped);
    char line[256];
    std::snprintf(line, sizeof line, "%zu files: %zu safe, %zu unsafe, %zu error, %zu skipped (%.1f MB in %.2f s)\n",
                  sum.files, sum.safe, sum.unsafe, sum.error, sum.skipped, static_cast<double>(sum.bytes) / 1e6, seconds);
    out += line;
    return out;
}

}  // namespace pickleguard
