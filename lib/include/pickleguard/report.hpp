// pickleguard/report.hpp — scan results as JSON, SARIF and text.
//
// Both formats are stable: fields are only ever added. The JSON document is
// described in docs/report-format.md; SARIF is 2.1.0 as GitHub code scanning
// accepts it (rules with help text, results with file locations).
//
//     std::string json = pickleguard::report_json(reports, "default");
#pragma once

#include "pickleguard/scan.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace pickleguard {

struct skipped_file {
    std::string path;
    std::string reason;  // "not a pickle container"
};

struct report_summary {
    std::size_t files = 0, safe = 0, unsafe = 0, error = 0, skipped = 0;
    std::uint64_t bytes = 0;
};

report_summary summarize(const std::vector<file_report>& files, const std::vector<skipped_file>& skipped);

std::string report_json(const std::vector<file_report>& files, const std::vector<skipped_file>& skipped,
                        std::string_view policy_name);

// SARIF 2.1.0 as GitHub code scanning ranks and tracks it
// (docs/report-format.md, SARIF): rules with security-severity and a
// default level, results with partialFingerprints, files that could not be
// read as tool execution notifications, paths relative to %SRCROOT%.
struct sarif_options {
    // The scan root, an absolute directory (the CLI's working directory):
    // paths inside it are written relative to %SRCROOT%, which
    // originalUriBaseIds defines as it; paths outside, absolute file: URIs.
    // Empty: relative paths relative to %SRCROOT%, left undefined.
    std::string root;
};
std::string report_sarif(const std::vector<file_report>& files, std::string_view policy_name,
                         const sarif_options& options = {});

// `scan --format jsonl`: one line of compact JSON per file, written as soon
// as the file is done, then one summary line (docs/report-format.md). A
// file's line is its object of report_json's "files" with "type": "file"
// first; a skipped file's is {"type": "skipped", "path", "reason"}; the
// summary's is {"type": "summary", "schema", "tool", "version", "policy",
// then report_json's "summary" fields}. Each ends in '\n'.
std::string report_jsonl_file(const file_report& file);
std::string report_jsonl_skipped(const skipped_file& skipped);
std::string report_jsonl_summary(const report_summary& summary, std::string_view policy_name);

// The text report `pickleguard scan` prints by default, for people
// (programs read JSON or SARIF).
struct text_options {
    bool colour = false;   // ANSI colours on the verdicts
    bool quiet = false;    // only unsafe files, only violations
    bool verbose = false;  // also informational findings and skipped files
    double seconds = 0;    // elapsed time, for the summary line
};
std::string report_text(const std::vector<file_report>& files, const std::vector<skipped_file>& skipped,
                        const text_options& options);

// `s` as a terminal may show it: control characters (C0, DEL, C1) and bytes
// that are not UTF-8 become \xNN or \u00NN. Paths, member names and
// messages carry what the pickle chose (a global's name, an archive entry's
// name); printed raw, an escape sequence in them could erase or rewrite the
// report's lines (make an "unsafe" line read "safe").
std::string printable(std::string_view s);

}  // namespace pickleguard
