// The report of one file: its verdict follows from its findings.
#include "pickleguard/scan.hpp"

#include <algorithm>

namespace pickleguard {

const char* to_string(verdict v) noexcept {
    switch (v) {
        case verdict::safe: return "safe";
        case verdict::unsafe: return "unsafe";
        case verdict::error: return "error";
    }
    return "?";
}

void file_report::settle() {
    if (verdict == verdict::error) return;
    verdict = std::any_of(findings.begin(), findings.end(), [](const finding& f) { return f.violation; })
                  ? verdict::unsafe
                  : verdict::safe;
}

file_report file_report::error(const std::string& path, std::string rule, std::string message) {
    file_report r;
    r.path = path;
    r.verdict = verdict::error;
    finding f;
    f.rule = std::move(rule);
    f.severity = severity::high;
    f.message = std::move(message);
    r.findings.push_back(std::move(f));
    return r;
}

}  // namespace pickleguard
