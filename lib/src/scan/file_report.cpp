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

finding make_finding(std::string rule, pickleguard::severity sev, std::string message, location member,
                     std::optional<std::uint64_t> offset, bool violation) {
    finding f;
    f.rule = std::move(rule);
    f.severity = sev;
    f.message = std::move(message);
    f.member = std::move(member);
    f.offset = offset;
    f.violation = violation;
    return f;
}

file_report file_report::error(const std::string& path, std::string rule, std::string message) {
    file_report r;
    r.path = path;
    r.verdict = verdict::error;
    r.findings.push_back(make_finding(std::move(rule), severity::high, std::move(message)));
    return r;
}

}  // namespace pickleguard
