// Reports as text, for a person at a terminal: one line per file, its
// findings below it, a summary line; `pickleguard scan` prints it by
// default. Programs read the JSON or SARIF reports instead.
#include "pickleguard/report.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

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

std::string printable(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    auto escape = [&](const char* form, unsigned v) {
        char buf[8];
        std::snprintf(buf, sizeof buf, form, v);
        out += buf;
    };
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x20 || b == 0x7f) {
            escape("\\x%02x", b);
            ++i;
            continue;
        }
        if (b < 0x80) {
            out += static_cast<char>(b);
            ++i;
            continue;
        }
        // A whole UTF-8 sequence is kept; anything else is escaped byte by
        // byte (a lone 0x9b is CSI to a terminal in 8-bit mode).
        const std::size_t len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
        bool whole = len != 0 && i + len <= s.size();
        for (std::size_t k = 1; whole && k < len; ++k)
            whole = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
        if (!whole) {
            escape("\\x%02x", b);
            ++i;
            continue;
        }
        if (len == 2 && b == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {  // C1 controls
            escape("\\u%04x", static_cast<unsigned char>(s[i + 1]));
            i += 2;
            continue;
        }
        out.append(s.substr(i, len));
        i += len;
    }
    return out;
}

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
        out += (colour ? colour_of(f.verdict) : "") + std::string(head) + reset + " " + printable(f.path) + "\n";
        // By position, as a reader follows the file: member, then offset
        // (a finding without one, about the whole member, first), the
        // judge's order otherwise.
        std::vector<const finding*> order;
        for (const finding& x : f.findings) order.push_back(&x);
        std::stable_sort(order.begin(), order.end(), [](const finding* a, const finding* b) {
            if (a->member != b->member) return a->member < b->member;
            return a->offset < b->offset;
        });
        for (const finding* xp : order) {
            const finding& x = *xp;
            if (quiet && !x.violation) continue;
            if (!verbose && !x.violation && x.severity == severity::info) continue;
            std::string where;
            if (std::string member = to_string(x.member); !member.empty()) where += printable(member) + ": ";
            if (x.offset) where += "offset " + std::to_string(*x.offset);
            if (!x.opcode.empty()) where += " (" + x.opcode + ")";
            char sev[16];
            std::snprintf(sev, sizeof sev, "%-8s", to_string(x.severity));
            out += "  " + std::string(sev) + " " + x.rule + (where.empty() ? "" : "  " + where) + "\n      " + printable(x.message) +
                   "\n";
        }
    }
    for (const skipped_file& s : skipped)
        if (verbose) out += "skipped " + printable(s.path) + ": " + printable(s.reason) + "\n";
    report_summary sum = summarize(files, skipped);
    char line[256];
    std::snprintf(line, sizeof line, "%zu %s: %zu safe, %zu unsafe, %zu error, %zu skipped (%.1f MB in %.2f s)\n",
                  sum.files, sum.files == 1 ? "file" : "files", sum.safe, sum.unsafe, sum.error, sum.skipped,
                  static_cast<double>(sum.bytes) / 1e6, seconds);
    out += line;
    return out;
}

}  // namespace pickleguard
